"""End to end: chats survive a refresh, a crash mid-reply, and a stop click."""

import pytest
from playwright.sync_api import expect

from scripted_server import Reply

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e

WORDS = " ".join(f"w{i}" for i in range(200))


def send(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def test_a_chat_is_still_there_after_a_refresh(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(Reply(text="Kept across refreshes."))
    page.goto(app.url)
    send(page, "Please remember")
    kept = page.get_by_test_id("stMainBlockContainer").get_by_text("Kept across refreshes.")
    expect(kept).to_be_visible(timeout=30_000)
    page.reload()
    expect(kept).to_be_visible(timeout=30_000)
    page.goto(app.url)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Please remember").click()
    expect(kept).to_be_visible(timeout=30_000)


def stream_slowly(server, launch_app, page, question: str, until: str):
    """Start the app, ask, and wait until the 20-words-a-second reply has reached ``until``."""
    app = launch_app(**provider_env(server))
    server.expect(Reply(text=WORDS, chunk_delay=0.05))
    page.goto(app.url)
    send(page, question)
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply).to_contain_text(until, timeout=30_000)
    return app, reply


def test_a_crash_mid_reply_loses_at_most_the_last_second(server, launch_app, page):
    app, _ = stream_slowly(server, launch_app, page, "Count slowly", "w60")
    chat_url = page.url
    assert "chat=" in chat_url
    app.process.kill()
    app.process.wait(10)
    restarted = launch_app(**provider_env(server))
    page.goto(chat_url.replace(app.url, restarted.url))
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply).to_contain_text("w30", timeout=30_000)  # 60 words seen, 20 words per second streamed
    # Saved moments ago, the reply may look as if another server still writes it: the page reads it again every
    # few seconds and, its writer quiet for turn.STILL_WRITING_SECONDS, settles it without a reload.
    expect(page.get_by_text("Stopped; what arrived is kept")).to_be_visible(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-after-crash.png"), full_page=True)


def test_stop_keeps_the_partial_reply_marked_stopped(server, launch_app, page):
    _, reply = stream_slowly(server, launch_app, page, "Count until I stop you", "w20")
    page.get_by_test_id("stChatInputStopButton").click()
    page.wait_for_timeout(1500)
    assert server.hung_up == 1  # stopping closed the HTTP stream, long before its 10 s of words
    seen = reply.inner_text()
    assert "w199" not in seen
    page.reload()
    expect(page.get_by_text("Stopped; what arrived is kept")).to_be_visible(timeout=30_000)
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply).to_contain_text("w20")
    expect(reply).not_to_contain_text("w199")
    expect(reply.get_by_text("(estimated)")).to_be_visible()


def test_importing_a_chatgpt_export_in_the_browser(server, launch_app, page, tmp_path):
    import json

    from test_exporters import CHATGPT

    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(CHATGPT))
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    app = launch_app(**provider_env(server))
    page.goto(app.url)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Export and import").click()
    sidebar.locator("input[type=file]").set_input_files(str(bad))
    expect(sidebar.get_by_text("Import failed: the file is not valid JSON")).to_be_visible(timeout=30_000)
    sidebar.locator("input[type=file]").set_input_files(str(export))
    expect(sidebar.get_by_text("Imported 1 chats")).to_be_visible(timeout=30_000)
    sidebar.get_by_role("button", name="Paris trip").click()
    expect(page.get_by_test_id("stMainBlockContainer").get_by_text("Eiffel Tower at dawn.")).to_be_visible()


def test_two_browser_sessions_streaming_into_different_chats_lose_nothing(server, launch_app, browser, tmp_path):
    import os

    from store import Store

    app = launch_app(**provider_env(server))
    pages = [browser.new_context().new_page() for _ in range(2)]
    texts = [" ".join(f"{side}{i}" for i in range(40)) for side in ("left", "right")]
    server.expect(*(Reply(text=f"Reply to {text}", chunk_delay=0.03, answers=text) for text in texts))
    for page in pages:
        page.goto(app.url)
    for page, text in zip(pages, texts, strict=True):
        send(page, text)
    for page, text in zip(pages, texts, strict=True):
        main = page.get_by_test_id("stMainBlockContainer")
        expect(main.get_by_text(f"Reply to {text}")).to_be_visible(timeout=60_000)
    store = Store(os.path.join(os.environ["DATA_DIR"], "chats.db"))
    stored = {s.title: store.load(s.id) for s in store.recent()}
    assert len(stored) == 2
    for text in texts:
        (conversation,) = [c for title, c in stored.items() if text.startswith(title.rstrip("…"))]
        assert [m.content for m in conversation.messages] == [text, f"Reply to {text}"]
    for page in pages:
        page.context.close()
