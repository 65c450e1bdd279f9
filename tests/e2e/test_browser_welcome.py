"""End to end: a new user's first click. The welcome's example in Chromium sends its prompt, the reply streams in,
and the sidebar's last request opens on its own."""

import pytest
from playwright.sync_api import expect

from scripted_server import Reply
from welcome import MODEL_EXAMPLES

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e

INSPECTOR = MODEL_EXAMPLES[3]


def test_clicking_an_example_sends_it_and_the_reply_appears(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(Reply(text="A token is a **piece of text** the model reads and writes.", chunk_delay=0.02))
    page.goto(app.url)
    expect(page.get_by_text("Connected: Custom: one-api / new-api / any OpenAI-compatible")).to_be_visible(
        timeout=30_000
    )
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("The JSON body sent over HTTP")).to_have_count(0)
    page.get_by_role("button", name=INSPECTOR.label("en")).click()
    reply = page.get_by_test_id("stChatMessage").last
    expect(reply).to_contain_text("A token is a piece of text the model reads and writes.", timeout=30_000)
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text(INSPECTOR.text("en"))
    expect(page.get_by_role("button", name=INSPECTOR.label("en"))).to_have_count(0)  # the welcome is gone
    expect(sidebar.get_by_text("The JSON body sent over HTTP")).to_be_visible()  # the last request opened by itself
    assert server.chat_requests()[0]["messages"][-1] == {"role": "user", "content": INSPECTOR.text("en")}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-welcome.png"), full_page=True)
