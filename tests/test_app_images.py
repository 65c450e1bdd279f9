"""Images through the page (AppTest): attached in the chat input, shown as thumbnails, sent as parts; refused
files and models that read no images keep the message unsent until "Send again"."""

from __future__ import annotations

import io

from PIL import Image
from streamlit.testing.v1 import AppTest

from app_driver import page_text, rendered, start
from scripted_server import Reply
from test_errors import openai_error

QUESTION = "What colour is this?"


def png(size: tuple[int, int] = (1024, 1024)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def attach_and_send(at: AppTest, text: str, *files: tuple[str, bytes]) -> AppTest:
    box = at.chat_input[0]
    for name, content in files:
        box.upload(name, content, "image/png")
    box.set_value(text).run()
    assert not at.exception, at.exception
    return at


def image_parts(request: dict) -> list[dict]:
    content = request["messages"][-1]["content"]
    return [part for part in content if part["type"] == "image_url"] if isinstance(content, list) else []


def test_an_attached_image_is_sent_as_a_part_and_shown_as_a_thumbnail(app_env):
    app_env.expect(Reply(text="Blue.", usage=(800, 2)))
    at = attach_and_send(start(), QUESTION, ("sky.png", png()))
    (sent,) = app_env.chat_requests()
    assert sent["messages"][-1]["content"][0] == {"type": "text", "text": QUESTION}
    (part,) = image_parts(sent)
    assert part["image_url"]["detail"] == "auto" and part["image_url"]["url"].startswith("data:image/png;base64,")
    user = at.chat_message[0]
    assert [[rendered(caption) for caption in image.captions] for image in user.image] == [["sky.png"]]
    assert "1 image(s) · about 765 tokens" in [caption.value for caption in user.caption]  # 1024² scaled to 768²


def test_the_detail_picked_goes_with_the_image(app_env):
    app_env.expect(Reply(text="Blue."))
    at = start()
    at.radio(key="image_detail").set_value("low").run()
    attach_and_send(at, QUESTION, ("sky.png", png((300, 200))))
    (part,) = image_parts(app_env.chat_requests()[0])
    assert part["image_url"]["detail"] == "low"
    assert "1 image(s) · about 85 tokens" in [caption.value for caption in at.chat_message[0].caption]


def test_a_refused_file_keeps_the_message_unsent_until_sent_again(app_env):
    hostile = "![x](http://tracker.example/p.png)<b>.png"
    at = attach_and_send(start(), QUESTION, ("sky.png", png((64, 64))), (hostile, b"not an image at all"))
    assert app_env.chat_requests() == []
    (why,) = [warning.value for warning in at.warning]
    assert rendered(why) == f"{hostile}: not a PNG, JPEG, WebP or GIF image"  # the name shown as it is
    assert [[rendered(caption) for caption in image.captions] for image in at.main.image] == [["sky.png"]]
    assert [block.value for block in at.code] == [QUESTION]
    app_env.expect(Reply(text="Blue."))
    at.button(key="unsent_send").click().run()
    (sent,) = app_env.chat_requests()
    assert len(image_parts(sent)) == 1 and sent["messages"][-1]["content"][0]["text"] == QUESTION
    assert "not a PNG" not in page_text(at)


def test_a_model_known_to_read_no_images_gets_nothing_until_a_vision_model_is_picked(app_env, monkeypatch):
    monkeypatch.setenv("OPENAI_MODEL", "deepseek-chat")
    at = attach_and_send(start(), QUESTION, ("sky.png", png()))
    assert app_env.chat_requests() == []
    assert "deepseek-chat reads no images" in page_text(at)
    assert [block.value for block in at.code] == [QUESTION]  # nothing lost: the text and its image wait
    assert [[rendered(caption) for caption in image.captions] for image in at.main.image] == [["sky.png"]]
    at.button(key="unsent_send").click().run()  # the same model again: still refused, still kept
    assert app_env.chat_requests() == [] and "deepseek-chat reads no images" in page_text(at)
    at.sidebar.selectbox(key="model_custom").select("gpt-4o-mini").run()
    app_env.expect(Reply(text="Blue."))
    at.button(key="unsent_send").click().run()
    (sent,) = app_env.chat_requests()
    assert sent["model"] == "gpt-4o-mini" and len(image_parts(sent)) == 1
    assert "reads no images" not in page_text(at)


def test_an_unknown_model_is_tried_and_its_refusal_explained(app_env, monkeypatch):
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini-2024-07-18")  # a snapshot: whether it reads images is unknown
    app_env.expect(
        Reply(
            status=400,
            raw=openai_error("Invalid content type. image_url is only supported by certain models.", "messages"),
            content_type="application/json",
        )
    )
    at = attach_and_send(start(), QUESTION, ("sky.png", png()))
    assert len(image_parts(app_env.chat_requests()[0])) == 1
    assert "The model refused the image: it most likely reads no images (400)" in page_text(at)
    assert [[rendered(c) for c in image.captions] for image in at.chat_message[0].image] == [["sky.png"]]  # kept


def test_the_local_demo_model_says_images_need_a_vision_model():
    def page() -> None:
        import io

        from PIL import Image

        from attachments import attach
        from config import load_settings
        from turn import Action
        from ui_images import may_send, unsent_panel

        settings = load_settings()  # nothing configured: the embedded local model
        assert settings.is_local
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, "PNG")
        image = attach("a.png", out.getvalue(), "auto", 2**20)
        if not may_send(Action("prompt", "what is it?", images=(image,)), settings, ["smollm2"], "en"):
            unsent_panel("en")

    at = AppTest.from_function(page).run()
    assert not at.exception, at.exception
    assert "The local demo model reads text only: images need a vision model." in at.warning[0].value
    assert [block.value for block in at.code] == ["what is it?"]
