"""End to end: an image attached with the chat input's file button, in headless Chromium against the scripted server."""

import base64
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from scripted_server import Reply

from .conftest import ARTIFACTS, provider_env

pytestmark = pytest.mark.e2e


def test_an_image_attached_with_the_file_button_shows_as_a_thumbnail_and_goes_as_a_part(
    server, launch_app, page, tmp_path
):
    picture = tmp_path / "sky.png"
    Image.new("RGB", (2048, 1024), (10, 120, 200)).save(picture)
    app = launch_app(**provider_env(server, OPENAI_MODEL="gpt-4o"))
    server.expect(Reply(text="A blue sky.", usage=(900, 4)))
    page.goto(app.url)
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_visible(timeout=30_000)
    page.get_by_test_id("stChatInput").locator("input[type=file]").set_input_files(str(picture))
    expect(page.get_by_test_id("stChatInput")).to_contain_text("sky.png", timeout=30_000)
    box.fill("What colour is this?")
    send = page.get_by_test_id("stChatInputSubmitButton")
    expect(send).to_be_enabled(timeout=30_000)  # the chip shows the name at once; sending waits for the upload
    send.click()
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("A blue sky.", timeout=30_000)
    question = page.get_by_test_id("stChatMessage").first
    thumbnail = question.get_by_role("img", name="sky.png")
    expect(thumbnail).to_be_visible()
    assert thumbnail.bounding_box()["width"] <= 160
    expect(question).to_contain_text("1 image(s) · about 1105 tokens")  # 2048x1024 -> 1536x768: 6 tiles
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-images.png"), full_page=True)

    (sent,) = server.chat_requests()
    text, image = sent["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What colour is this?"}
    assert image["type"] == "image_url" and set(image["image_url"]) == {"url", "detail"}
    header, data = image["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (1536, 768)  # scaled as OpenAI scales it
