"""End to end: a message sent reruns only the chat (app.chat_area), so the sidebar's controls are not sent to the
browser again; anything else clicked in the chat still draws the whole page. Read from what the app sends the
browser: Streamlit's messages on the page's websocket, decoded with Streamlit's own protobuf classes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from scripted_server import Reply

from .conftest import provider_env, send

pytestmark = pytest.mark.e2e

FRAGMENT_DONE = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
PAGE_DONE = ForwardMsg.FINISHED_SUCCESSFULLY


class Received:
    """Every message the app sends this page, from when it is made."""

    def __init__(self, page) -> None:
        self.messages: list[ForwardMsg] = []
        page.on("websocket", lambda socket: socket.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            message = ForwardMsg()
            message.ParseFromString(payload)
            self.messages.append(message)

    def since(self, start: int) -> list[ForwardMsg]:
        return self.messages[start:]


def widget_keys(messages: list[ForwardMsg]) -> set[str]:
    """The keys of the widgets these messages draw (a widget's id ends with the key it was given)."""
    keys = set()
    for message in messages:
        if message.WhichOneof("type") == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            kind = element.WhichOneof("type")
            widget_id = getattr(getattr(element, kind), "id", "") if kind else ""
            if widget_id:
                keys.add(widget_id.rsplit("-", 1)[-1])
    return keys


def texts(messages: list[ForwardMsg]) -> str:
    return " ".join(str(message.delta.new_element) for message in messages if message.WhichOneof("type") == "delta")


def finished(messages: list[ForwardMsg]) -> list[int]:
    return [m.script_finished for m in messages if m.WhichOneof("type") == "script_finished"]


def idle(page) -> None:
    expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=30_000)


def runs_after(page, received: Received, start: int) -> list[ForwardMsg]:
    """The messages since ``start`` once a run has finished among them (not one cut short for another) and the page
    is idle again."""
    for _ in range(300):
        if {PAGE_DONE, FRAGMENT_DONE} & set(finished(received.since(start))):
            break
        page.wait_for_timeout(100)
    idle(page)
    return received.since(start)


def test_a_message_sent_redraws_the_chat_and_not_the_sidebar_controls(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(
        Reply(text="First answer, streamed.", usage=(20, 4), chunk_delay=0.01),
        Reply(text="Second answer, streamed too.", usage=(40, 5), chunk_delay=0.01),
    )
    received = Received(page)
    page.goto(app.url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    idle(page)
    assert {"template", "temperature", "chat_input", "new_chat"} <= widget_keys(received.messages)  # the first page

    start = len(received.messages)
    send(page, "first question")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("First answer, streamed.", timeout=30_000)
    sent = runs_after(page, received, start)
    assert "First answer, streamed." in texts(sent)
    assert finished(sent) == [FRAGMENT_DONE]  # the chat alone ran: no page run before or after it
    keys = widget_keys(sent)
    assert "chat_input" in keys  # the message box is the chat's, and so are the new chat's entry and controls
    assert any(key.startswith("open_") for key in keys) and any(key.startswith("title_") for key in keys)
    assert not keys & {"template", "temperature", "provider", "ui_language", "new_chat", "chat_search"}
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_test_id("stButton").filter(has_text="first question")).to_have_count(1)  # listed
    expect(sidebar).to_contain_text("Prompt 20")  # the usage panel counted the reply

    start = len(received.messages)
    send(page, "second question")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("Second answer, streamed too.", timeout=30_000)
    assert finished(runs_after(page, received, start)) == [FRAGMENT_DONE]
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(4)  # the first turn, drawn by the run before, is still there
    expect(messages.nth(1)).to_contain_text("First answer, streamed.")
    expect(sidebar.get_by_test_id("stButton").filter(has_text="first question")).to_have_count(1)
    expect(sidebar).to_contain_text("Prompt 60")
    sidebar.get_by_text("Export and import").click()  # drawn by the chat too: the request to copy is there now
    expect(sidebar.get_by_text("Download Python script (last request)")).to_be_visible()


def test_anything_else_clicked_in_the_chat_draws_the_whole_page(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(
        Reply(text="An answer to keep.", usage=(20, 4)), Reply(text="The answer in the new chat.", usage=(30, 5))
    )
    received = Received(page)
    page.goto(app.url)
    send(page, "a question")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("An answer to keep.", timeout=30_000)
    idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    entry = sidebar.get_by_test_id("stButton").filter(has_text="a question")
    expect(entry).to_have_count(1)  # drawn by the chat fragment, on top of the list

    start = len(received.messages)
    entry.click()
    clicked = runs_after(page, received, start)
    assert finished(clicked)[-1] == PAGE_DONE  # the fragment's own run gave way to the page's
    assert {"template", "temperature", "new_chat"} <= widget_keys(clicked)
    expect(entry).to_have_count(1)  # now in its group of the list, and only there
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("An answer to keep.")

    sidebar.get_by_role("button", name="New chat").click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0, timeout=30_000)
    send(page, "another question")
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("The answer in the new chat.", timeout=30_000)
    expect(entry).to_have_count(1)
    expect(sidebar.get_by_test_id("stButton").filter(has_text="another question")).to_have_count(1)


def test_after_stop_the_next_message_is_answered_below_the_partial_reply(server, launch_app, page):
    """Stop ends the chat fragment's run; the page needs no reload to go on."""
    app = launch_app(**provider_env(server))
    server.expect(Reply(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.05))
    page.goto(app.url)
    send(page, "count for me")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages.nth(1)).to_contain_text("w20", timeout=30_000)
    page.get_by_test_id("stChatInputStopButton").click()
    idle(page)
    assert "w199" not in messages.nth(1).inner_text()

    server.expect(Reply(text="Going on after the stop."))
    send(page, "next one")
    expect(messages.last).to_contain_text("Going on after the stop.", timeout=30_000)
    expect(messages).to_have_count(4)
    expect(messages.nth(1)).to_contain_text("w20")
    expect(page.get_by_text("Stopped; what arrived is kept")).to_be_visible()


def test_a_templates_file_saved_broken_while_chatting_is_said_and_the_message_kept(server, launch_app, page, tmp_path):
    templates = tmp_path / "templates.json"
    templates.write_text('{"terse": {"name": "Terse", "system": "Answer in one line."}}')
    app = launch_app(**provider_env(server, TEMPLATES_FILE=str(templates)))
    page.goto(app.url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    idle(page)

    templates.write_text('{"terse": {"name": "Terse", "system": ')  # an editor's half-written save
    send(page, "a message worth keeping")
    expect(page.get_by_text("The message was not sent; its text is below to copy")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stCode").filter(has_text="a message worth keeping")).to_be_visible()
    assert not [r for r in server.requests if r["method"] == "POST"]
