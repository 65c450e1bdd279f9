"""End to end: a 3-way compare from the ⚖️ popover beside the chat input, streamed side by side, one answer kept."""

import pytest
from playwright.sync_api import expect

from prompt_templates import TEMPLATES
from scripted_server import Reply

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e

VARIANTS = {"standard": "Plain", "chain_of_thought": "Stepwise", "few_shot": "Example-led"}  # the defaults


def under(template: str):
    return lambda body: body["messages"][0]["content"].startswith(TEMPLATES[template].system["en"])


def answer(name: str) -> str:
    return f"{name} answer: " + " ".join(f"{name.lower()}{i}" for i in range(30))


def test_a_three_way_compare_streams_side_by_side_and_keeps_the_second_answer(server, launch_app, page):
    app = launch_app(**provider_env(server))
    server.expect(
        *(Reply(answer(name), chunk_delay=0.05, usage=(60, 31), when=under(key)) for key, name in VARIANTS.items())
    )
    page.goto(app.url)
    page.get_by_role("button", name="⚖️ Compare").click()  # one click from the chat input
    page.get_by_test_id("stPopoverBody").get_by_text("Compare mode", exact=True).click()
    expect(page.get_by_text("Compare mode is on: 3 variants")).to_be_visible(timeout=30_000)
    page.keyboard.press("Escape")
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Why is the sky blue?")
    box.press("Enter")

    streaming = page.get_by_test_id("stChatMessage").nth(1)
    columns = streaming.get_by_test_id("stColumn")
    for index, name in enumerate(VARIANTS.values()):
        expect(columns.nth(index)).to_contain_text(f"{name} answer:", timeout=30_000)
    boxes = [columns.nth(index).bounding_box() for index in range(3)]
    assert all(b is not None for b in boxes)
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and len({round(b["y"]) for b in boxes}) == 1  # side by side

    panel = page.locator(".st-key-compare_panel")  # shown once all have ended, until one answer is kept
    keep = panel.get_by_role("button", name="Keep this answer")
    expect(keep).to_have_count(3, timeout=30_000)
    for index, name in enumerate(VARIANTS.values()):
        column = panel.get_by_test_id("stColumn").nth(index)
        expect(column).to_contain_text(answer(name))
        expect(column).to_contain_text("↑60 ↓31 = 91 tokens · $0.000028")
        expect(column).to_contain_text("first token")
        expect(column).to_contain_text("finish stop")
    posts = [r for r in server.requests if r["method"] == "POST"]
    assert len(posts) == 3 and max(r["received"] for r in posts) < min(r["finished"] for r in posts)  # at once
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-compare.png"), full_page=True)

    keep.nth(1).click()
    expect(keep).to_have_count(0, timeout=30_000)
    reply = page.get_by_test_id("stChatMessage").last
    expect(reply).to_contain_text(answer("Stepwise"))
    expect(reply).not_to_contain_text("Plain answer")
    expect(reply.get_by_text("2 / 3")).to_be_visible()

    page.reload()
    reply = page.get_by_test_id("stChatMessage").last
    expect(reply).to_contain_text(answer("Stepwise"), timeout=30_000)
    expect(reply.get_by_text("2 / 3")).to_be_visible()
