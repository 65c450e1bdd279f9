"""End to end: `streamlit run app.py` against the scripted server, driven in headless Chromium."""

import json
import re

import pytest
from playwright.sync_api import expect

from conftest import TEST_KEY
from scripted_server import Reply

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e


def chat_input(page):
    return page.get_by_test_id("stChatInputTextArea")


def test_chat_in_the_browser_streams_a_reply_and_updates_the_sidebar(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(
        Reply(tool_calls=[("calculate", '{"expression": "123*456"}')], usage=(90, 12)),
        Reply(text="The product is **56088**, computed with the calculator.", usage=(140, 11), chunk_delay=0.02),
    )
    page.goto(app.url)
    chat_input(page).fill("What is 123*456?")
    chat_input(page).press("Enter")
    reply = page.get_by_test_id("stChatMessage").last
    expect(reply).to_contain_text("The product is 56088, computed with the calculator.", timeout=30_000)
    expect(reply.locator("strong")).to_have_text("56088")
    expect(page.get_by_text("Tool call calculate")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Last reply")
    expect(sidebar).to_contain_text("Prompt 230 · Completion 23 · Total 253")  # 90 + 140 in, 12 + 11 out
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-chat.png"), full_page=True)

    sidebar.get_by_text("Export and import").click()
    with page.expect_download() as download_info:
        sidebar.get_by_text("Download JSON").click()
    exported = json.loads(open(download_info.value.path(), encoding="utf-8").read())
    messages = exported["conversations"][0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[2]["content"] == '{"expression": "123*456", "result": 56088}'
    assert TEST_KEY not in json.dumps(exported)
    assert TEST_KEY not in page.content()


def test_a_retry_is_shown_while_it_waits_then_gives_way_to_the_answer(server, launch_app, page):
    """AppTest sees only a run's final state; the notice lives only while the retry waits, so it is seen here."""
    app = launch_app(**provider_env(server, MAX_RETRIES="1"))
    server.expect(Reply.fail(503, "Service unavailable", **{"retry-after": "5"}), Reply(text="Worth the wait."))
    page.goto(app.url)
    chat_input(page).fill("hello")
    chat_input(page).press("Enter")
    reply = page.get_by_test_id("stChatMessage").last
    notice = reply.get_by_text(re.compile(r"error; retry 1 in 5\.0 s"))
    expect(notice).to_be_visible(timeout=30_000)
    assert len(server.chat_requests()) == 1  # seen while waiting, before the retry went out
    expect(reply).to_contain_text("Worth the wait.", timeout=30_000)
    expect(notice).to_have_count(0)
    assert len(server.chat_requests()) == 2


def test_a_provider_without_its_key_shows_the_setup_message(launch_app, page):
    app = launch_app(UI_LANGUAGE="zh", APP_ENV_FILE="/nonexistent.env", OPENAI_BASE_URL="https://api.openai.com/v1")
    page.goto(app.url)
    expect(page.get_by_text("还没有配置模型服务")).to_be_visible(timeout=30_000)
    expect(chat_input(page)).to_be_disabled()


@pytest.mark.local_model
def test_with_no_openai_variables_the_local_model_answers_in_the_browser(launch_app, page):
    app = launch_app(UI_LANGUAGE="en", APP_ENV_FILE="/nonexistent.env", MAX_TOKENS="32")
    page.goto(app.url)
    expect(page.get_by_text("Local demo model SmolLM2-135M-Instruct")).to_be_visible(timeout=120_000)
    chat_input(page).fill("What is the capital of France?")
    chat_input(page).press("Enter")
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply).to_be_visible(timeout=120_000)
    expect(reply.get_by_text("tokens (estimated)")).to_be_visible(timeout=120_000)
    assert reply.inner_text().strip()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("local model, free")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-local.png"), full_page=True)
