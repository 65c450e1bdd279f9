"""Images on a message: the real type sniffed, bombs and broken files refused, scaled as OpenAI scales them,
counted by the published rule, sent as standard ``image_url`` parts, stored, exported and imported whole."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import struct
import zlib
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies
from markdown_it import MarkdownIt
from PIL import Image, PngImagePlugin

import model_catalog
from attachments import (
    HEADER_CHARS,
    Attachment,
    ImageRefused,
    abridged,
    attach,
    attach_all,
    data_url_size,
    fitted_size,
    refusal,
    user_content,
    verify,
)
from config import load_settings
from conversation_manager import Conversation, Message, RequestSpec, TurnRecorder, build_request
from errors import Problem, from_provider
from events import Finished, TextDelta
from exporters import ImportFailed, from_json, to_json, to_markdown
from function_tools import default_registry
from records import AttachmentRecord
from retry_policy import RETRYABLE_KINDS
from scripted_server import Reply
from store import Store
from test_errors import openai_error, vllm_error
from test_errors import refusal as refused_by
from test_exporters import canonical
from token_tracker import PriceBook, count_messages, image_tokens
from turn import TurnChoices, prepare, request_spec

MB = 2**20
MODEL = "gpt-4o"
QUESTION = "What is in this image?"


def encoded(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 90).save(out, fmt, **options)
    return out.getvalue()


def noise(fmt: str, size: tuple[int, int] = (60, 40)) -> bytes:
    """An image of noise: it does not compress, so its body is long."""
    out = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(out, fmt)
    return out.getvalue()


def opened(image: Attachment) -> Image.Image:
    return Image.open(io.BytesIO(image.raw()))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header promises ``width`` x ``height`` pixels, with almost nothing behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


# --- what is taken, and what is refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("photo.jpg", "PNG", "image/png"),  # the name lies: the content decides
        ("scan.png", "JPEG", "image/jpeg"),
        ("sticker.gif", "WEBP", "image/webp"),
        ("still.gif", "GIF", "image/png"),  # a GIF is sent as a PNG of its first frame
    ],
)
def test_the_type_is_read_from_the_content_never_the_name(name, fmt, mime):
    image = attach(name, encoded((40, 30), fmt), "auto", MB)
    assert (image.name, image.mime, image.width, image.height) == (name, mime, 40, 30)
    assert opened(image).format == {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}[mime]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"just some text, named cat.png", "not_image"),
        (encoded((40, 30), "BMP"), "not_image"),  # a real image, but not a type the API takes
        (encoded((40, 30), "TIFF"), "not_image"),
        (noise("PNG", (400, 300))[:5_000], "damaged"),  # its header reads, its body breaks off
        (png_claiming(8_000, 8_000), "too_many_pixels"),  # 64 megapixels promised: refused before decoding
        (png_claiming(20_000, 20_000), "too_many_pixels"),  # past Pillow's own bomb limit too
    ],
    ids=["text", "bmp", "tiff", "truncated", "bomb", "huge-bomb"],
)
def test_what_is_not_a_usable_image_is_refused_with_the_reason(raw, reason):
    with pytest.raises(ImageRefused) as refused:
        attach("cat.png", raw, "auto", 10 * MB)
    assert refused.value.reason == reason


def test_a_file_over_the_size_limit_is_refused_before_it_is_read():
    raw = encoded((64, 64))
    with pytest.raises(ImageRefused) as refused:
        attach("big.png", raw, "auto", len(raw) - 1)
    assert (refused.value.reason, refused.value.values) == ("too_large", {"mb": (len(raw) - 1) / MB})


def test_a_message_takes_at_most_its_count_and_says_which_were_left():
    uploads = [(f"{n}.png", encoded((10, 10))) for n in range(4)] + [("notes.png", b"text")]
    taken, refused = attach_all(uploads, "low", MB, max_count=3)
    assert [image.name for image in taken] == ["0.png", "1.png", "2.png"]
    assert [(name, why.reason) for name, why in refused] == [("3.png", "too_many"), ("notes.png", "too_many")]
    assert all(image.detail == "low" for image in taken)


# --- scaled and encoded again -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "scaled"),
    [
        ((1024, 1024), (768, 768)),  # OpenAI's examples: the shortest side to 768
        ((2048, 4096), (768, 1536)),  # within 2048 x 2048 first, then the shortest side
        ((4096, 2048), (1536, 768)),
        ((5000, 1000), (2048, 410)),  # within 2048 is enough: its shortest side is already under 768
        ((1000, 500), (1000, 500)),  # small enough: never enlarged
        ((300, 20), (300, 20)),
    ],
)
def test_images_are_scaled_as_openai_scales_them_for_high_detail(size, scaled):
    assert fitted_size(*size) == scaled
    image = attach("photo.jpg", encoded(size, "JPEG"), "high", 20 * MB)
    assert (image.width, image.height) == opened(image).size == scaled


def test_a_photo_is_turned_upright_and_loses_its_metadata():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to view
    exif[0x010F] = "PhoneMaker"
    text = PngImagePlugin.PngInfo()
    text.add_text("Location", "51.5N 0.1W")
    photo = attach("phone.jpg", encoded((200, 100), "JPEG", exif=exif), "auto", MB)
    assert (photo.width, photo.height) == (100, 200)
    assert not opened(photo).getexif()
    screenshot = attach("shot.png", encoded((50, 40), "PNG", pnginfo=text), "auto", MB)
    assert "Location" not in opened(screenshot).info


def test_an_animated_gif_becomes_its_first_frame():
    frames = [Image.new("RGB", (30, 20), color) for color in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = attach("wave.gif", out.getvalue(), "auto", MB)
    still = opened(image)
    assert (image.mime, still.format, getattr(still, "n_frames", 1)) == ("image/png", "PNG", 1)
    assert still.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


# --- counted by the published rule, sent with the API's fields only ----------------------------------------------


@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [
        ((1024, 1024), "high", 765),  # OpenAI's published examples
        ((2048, 4096), "high", 1105),
        ((4096, 8192), "low", 85),
        ((512, 512), "auto", 255),
    ],
)
def test_an_image_part_counts_as_the_published_rule_says(size, detail, tokens):
    image = attach("example.jpg", encoded(size, "JPEG", mode="L"), detail, 50 * MB)
    assert image_tokens(*size, detail) == tokens
    with_image = [{"role": "user", "content": user_content(QUESTION, [image])}]
    assert count_messages(with_image, MODEL) == count_messages([{"role": "user", "content": QUESTION}], MODEL) + tokens


def test_the_part_holds_only_the_apis_fields_and_the_count_reads_the_size_from_the_image():
    image = attach("tall.png", encoded((600, 1800)), "high", MB)
    part = image.part()
    assert part == {"type": "image_url", "image_url": {"url": image.data_url, "detail": "high"}}
    assert data_url_size(image.data_url) == (600, 1800)
    assert count_messages([{"role": "user", "content": [part]}], MODEL) - count_messages(
        [{"role": "user", "content": []}], MODEL
    ) == image_tokens(600, 1800, "high")
    assert data_url_size("https://example.com/cat.png") is None
    assert data_url_size("data:image/png;base64,bm90IGFuIGltYWdl") is None


def test_a_header_longer_than_the_first_read_is_still_sized():
    notes = PngImagePlugin.PngInfo()
    notes.add_text("Comment", "x" * 100_000)  # a text chunk before the pixels, longer than HEADER_CHARS covers
    url = "data:image/png;base64," + base64.b64encode(encoded((70, 50), pnginfo=notes)).decode()
    assert data_url_size(url[: len("data:image/png;base64,") + HEADER_CHARS]) is None
    assert data_url_size(url) == (70, 50)


def test_text_alone_stays_a_string_and_an_image_alone_has_no_empty_text_part():
    image = attach("a.png", encoded((8, 8)), "auto", MB)
    assert user_content("hi", []) == "hi"
    assert user_content("", [image]) == [image.part()]


# --- where images may go --------------------------------------------------------------------------------------------


def test_a_model_known_to_read_no_images_and_the_local_model_are_refused_an_unknown_one_is_tried(tmp_path, monkeypatch):
    assert refusal("gpt-4o-mini", is_local=False) is None
    assert refusal("deepseek-chat", is_local=False) == "model"
    assert refusal("gpt-3.5-turbo", is_local=False) == "model"
    assert refusal("gpt-3.5-turbo-0125", is_local=False) is None  # a snapshot may differ from its family: tried
    assert refusal("llava:13b", is_local=False) is None
    assert refusal("gpt-4o", is_local=True) == "local"
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"my-gateway-model": {"vision": False}, "deepseek-chat": {"vision": True}}))
    monkeypatch.setenv("MODELS_FILE", str(models))
    assert refusal("my-gateway-model", is_local=False) == "model"
    assert refusal("deepseek-chat", is_local=False) is None
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"odd-model": {"vision": "false"}}))  # a string would read as true: refused
    monkeypatch.setenv("MODELS_FILE", str(odd))
    with pytest.raises(model_catalog.CatalogError, match="vision must be true, false or null"):
        model_catalog.lookup("odd-model")


def test_a_model_that_reads_no_images_gets_the_history_as_text():
    conversation = Conversation()
    image = attach("a.png", encoded((8, 8)), "auto", MB)
    conversation.add_user("look", images=[image])
    TurnRecorder(conversation, MODEL, "default", PriceBook(7.0)).apply(Finished("stop"))
    conversation.add_user("and now?")
    spec = RequestSpec("default", "en", [], "deepseek-chat", 1000)
    assert [m["content"] for m in build_request(conversation, replace(spec, images=False)).messages[1:]] == [
        "look",
        "and now?",
    ]
    assert build_request(conversation, spec).messages[1]["content"] == [{"type": "text", "text": "look"}, image.part()]


# --- a turn over real HTTP --------------------------------------------------------------------------------------------


def test_the_request_carries_the_image_parts_and_its_count_includes_them(app_env, tmp_path):
    settings = load_settings().with_overrides(model=MODEL)
    image = attach("cat.png", encoded((1024, 1024)), "high", MB)
    store = Store(tmp_path / "chats.db")
    conversation = Conversation()
    choices = TurnChoices("en", "default", (), images=(image,))
    app_env.expect(Reply(text="A red square."), Reply(text="Still red."))

    def turn(text: str, with_images: TurnChoices) -> Message:
        prepared = prepare(
            conversation,
            settings,
            with_images,
            text,
            registry=default_registry(settings.weather_api_url, settings.geocoding_api_url),
            book=PriceBook(7.0),
            save=lambda messages: store.save(conversation, messages) is None,
        )
        list(prepared.run())
        return prepared.reply[-1]

    reply = turn(QUESTION, choices)
    sent = app_env.chat_requests()[0]["messages"]
    assert sent[-1] == {"role": "user", "content": [{"type": "text", "text": QUESTION}, image.part()]}
    assert set(sent[-1]["content"][1]["image_url"]) == {"url", "detail"}
    as_text = [*sent[:-1], {"role": "user", "content": QUESTION}]
    assert reply.estimated_prompt_tokens == count_messages(as_text, MODEL) + 765
    turn("Is it still red?", replace(choices, images=()))
    history = app_env.chat_requests()[1]["messages"]
    assert history[-3]["content"][1] == image.part() and history[-1] == {"role": "user", "content": "Is it still red?"}
    loaded = store.load(conversation.id)
    assert loaded is not None and loaded.messages[0].attachments == [image]


def test_request_spec_sends_images_only_where_they_may_go(app_env):
    settings = load_settings()
    choices = TurnChoices("en", "default", ())
    assert request_spec(settings.with_overrides(model="gpt-4o-mini"), choices, []).images
    assert not request_spec(settings.with_overrides(model="deepseek-chat"), choices, []).images
    assert not request_spec(settings.with_overrides(provider="local"), choices, []).images


# --- a refusal from a model that reads no images, in each provider's words ----------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(  # https://github.com/browser-use/web-ui/issues/274
            400,
            openai_error(
                "Invalid content type. image_url is only supported by certain models.", "messages.[1].content.[1].type"
            ),
            id="openai",
        ),
        pytest.param(  # https://github.com/esengine/DeepSeek-Reasonix/issues/7859
            400,
            openai_error(
                "Failed to deserialize the JSON body into the target type: messages[466]: unknown variant `image_url`, "
                "expected `text` at line 1 column 690848",
                code="invalid_request_error",
            ),
            id="deepseek-variant",
        ),
        pytest.param(  # https://github.com/chatboxai/chatbox/issues/1740
            422,
            b"Failed to deserialize the JSON body into the target type: messages[2]: invalid type: sequence, "
            b"expected a string at line 1 column 2901",
            id="deepseek-sequence",
        ),
        pytest.param(  # https://github.com/deepseek-ai/DeepSeek-V3/issues/337
            422,
            b"Failed to deserialize the JSON body into the target type: messages[0]: data did not match any variant "
            b"of untagged enum ChatCompletionRequestContent at line 1 column 286017",
            id="deepseek-untagged",
        ),
        pytest.param(  # https://github.com/ggml-org/llama.cpp/issues/15377
            500,
            json.dumps(
                {
                    "error": {
                        "code": 500,
                        "message": "image input is not supported - hint: if this is unexpected, you may need to "
                        "provide the mmproj",
                        "type": "server_error",
                    }
                }
            ).encode(),
            id="llama-cpp",
        ),
        pytest.param(  # https://github.com/studio-dots-ai/dots.ocr/issues/61
            400, vllm_error("facebook/opt-125m is not a multimodal model None"), id="vllm"
        ),
    ],
)
def test_each_providers_refusal_of_an_image_is_explained_as_such_and_not_retried(server, status, body):
    error = refused_by(server, status, body)
    assert (error.kind, error.status) == ("image_refused", status)
    assert error.kind not in RETRYABLE_KINDS


def test_an_image_refusal_inside_a_reply_is_explained_too_and_other_errors_are_not():
    assert from_provider(Problem("image input is not supported by this server")).kind == "image_refused"
    assert from_provider(Problem("Internal error", status=500)).kind == "server"
    assert from_provider(Problem("the image is nice", status=400)).kind == "bad_request"


# --- stored, exported, imported -----------------------------------------------------------------------------------


def conversation_with_images() -> tuple[Conversation, list[Attachment]]:
    images = [
        attach("cat [1].png", encoded((900, 600)), "high", MB),
        attach("dog.jpg", encoded((300, 300), "JPEG"), "low", MB),
    ]
    conversation = Conversation()
    conversation.add_user("two pets", images=images)
    recorder = TurnRecorder(conversation, MODEL, "default", PriceBook(7.0))
    recorder.apply(TextDelta("A cat and a dog."))
    recorder.apply(Finished("stop"))
    conversation.add_user("", images=images[1:])  # an image alone
    return conversation, images


def test_the_store_keeps_image_bytes_beside_the_message_and_drops_them_with_the_chat(tmp_path):
    store = Store(tmp_path / "chats.db")
    assert "m006_attachments" in store.migrations()
    conversation, images = conversation_with_images()
    store.save(conversation)
    store.save(conversation, conversation.messages[:1])  # an image is written once
    loaded = store.load(conversation.id)
    assert loaded is not None and loaded.to_dict() == conversation.to_dict()
    with sqlite3.connect(tmp_path / "chats.db") as db:
        rows = db.execute("SELECT message_id, position, data FROM attachments ORDER BY message_id, position").fetchall()
        stored = json.loads(db.execute("SELECT data FROM messages WHERE role = 'user' LIMIT 1").fetchone()[0])
    first, last = conversation.messages[0], conversation.messages[-1]
    assert sorted(rows) == sorted(
        [(first.id, 0, images[0].raw()), (first.id, 1, images[1].raw()), (last.id, 0, images[1].raw())]
    )
    assert all("data" not in image for image in stored["attachments"])  # the JSON names them; the table holds them
    store.delete(conversation.id)
    with sqlite3.connect(tmp_path / "chats.db") as db:
        assert db.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 0


def test_a_damaged_image_in_the_store_is_left_out_and_its_message_kept(tmp_path):
    store = Store(tmp_path / "chats.db")
    conversation, images = conversation_with_images()
    store.save(conversation)
    with sqlite3.connect(tmp_path / "chats.db") as db:
        db.execute("UPDATE attachments SET data = ? WHERE position = 0", (b"not an image",))
    loaded = store.load(conversation.id)
    assert loaded is not None
    assert [(m.content, m.attachments) for m in loaded.messages if m.role == "user"] == [
        ("two pets", [images[1]]),
        ("", []),
    ]


def test_json_export_holds_the_images_and_imports_them_back_whole(tmp_path):
    conversation, images = conversation_with_images()
    document = json.loads(to_json([conversation]))
    exported = document["conversations"][0]["messages"][0]["attachments"]
    assert [base64.b64decode(image["data"]) for image in exported] == [image.raw() for image in images]
    (restored,) = from_json(to_json([conversation]).encode())
    assert canonical(restored) == canonical(conversation)
    assert restored.messages[0].attachments == images
    store = Store(tmp_path / "chats.db")
    store.add([restored])
    store.add(from_json(to_json([conversation]).encode()))  # the same file twice: fresh ids, no collision
    loaded = store.load(restored.id)
    assert loaded is not None and loaded.to_dict() == restored.to_dict()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"mime": "image/jpeg"}, "not the image/jpeg of 900x600"),
        ({"width": 901}, "not the image/png of 901x600"),
        ({"data": "not base64!"}, "not base64"),
        ({"data": base64.b64encode(encoded((900, 600), "GIF")).decode()}, "not a PNG, JPEG or WebP"),
        ({"mime": "image/gif"}, "mime"),
    ],
)
def test_an_import_whose_image_is_not_what_it_says_is_refused(change, words):
    conversation, _ = conversation_with_images()
    document = json.loads(to_json([conversation]))
    image = document["conversations"][0]["messages"][0]["attachments"][0]
    image.update(change)
    with pytest.raises(ImportFailed, match=r"attachments\.0") as refused:
        from_json(json.dumps(document).encode())
    assert words in str(refused.value)


def test_markdown_shows_each_image_inline_as_a_data_url_named_by_its_file():
    conversation, images = conversation_with_images()
    text = to_markdown([conversation], "en")
    shown = [
        (child.attrGet("src"), "".join(part.content for part in child.children or []))  # the alt text as read
        for token in MarkdownIt("commonmark", {"html": False}).parse(text)
        if token.children
        for child in token.children
        if child.type == "image"
    ]
    assert shown == [(image.data_url, image.name) for image in [*images, images[1]]]


def test_the_records_name_every_field_of_an_attachment():
    assert set(AttachmentRecord.model_fields) == {f.name for f in fields(Attachment)}


def test_a_long_file_name_is_cut_to_what_the_records_take():
    image = attach("x" * 300 + ".png", encoded((8, 8)), "auto", MB)
    conversation = Conversation()
    conversation.add_user("", images=[image])
    (restored,) = from_json(to_json([conversation]).encode())
    assert restored.messages[0].attachments == [image] and len(image.name) == 200


def test_verify_accepts_what_attach_made():
    image = attach("a.webp", encoded((64, 32), "WEBP"), "auto", MB)
    verify(image.mime, image.width, image.height, image.data)
    with pytest.raises(ValueError, match="not the image/webp of 64x33"):
        verify(image.mime, 64, 33, image.data)


def test_a_database_from_before_images_gains_their_table_and_keeps_its_chats(tmp_path: Path):
    path = tmp_path / "chats.db"
    older = Store(path)
    text_only = Conversation()
    text_only.add_user("no pictures then")
    older.save(text_only)
    with sqlite3.connect(path) as db:  # as a file written before m006 was there
        db.execute("DROP TABLE attachments")
        db.execute("DELETE FROM _migrations WHERE name = 'm006_attachments'")
    store = Store(path)
    assert store.migrations()["m006_attachments"] is not None
    loaded = store.load(text_only.id)
    assert loaded is not None and loaded.to_dict() == text_only.to_dict()
    conversation, images = conversation_with_images()
    store.save(conversation)
    reloaded = store.load(conversation.id)
    assert reloaded is not None and reloaded.messages[0].attachments == images


def test_a_request_shown_on_a_page_has_its_images_cut_short_and_nothing_else():
    image = attach("a.png", encoded((300, 300)), "high", MB)
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": user_content("data:image/png;base64,x", [image])}],
    }
    shown = abridged(request)
    url = shown["messages"][0]["content"][1]["image_url"]["url"]
    assert url == f"{image.data_url[:70]}…({len(image.data)} base64 characters)"
    assert shown["messages"][0]["content"][0] == {"type": "text", "text": "data:image/png;base64,x"}
    assert shown["model"] == MODEL and request["messages"][0]["content"][1] == image.part()  # the request unchanged


SOURCES = [noise(fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF")]


@settings(max_examples=300, deadline=None)
@given(
    strategies.sampled_from(SOURCES),
    strategies.lists(strategies.tuples(strategies.integers(0, 20_000), strategies.binary(max_size=8)), max_size=6),
    strategies.integers(0, 20_000),
)
def test_any_damaged_upload_is_taken_or_refused_with_a_reason_never_raised(source, changes, cut):
    raw = bytearray(source)
    for place, data in changes:
        raw[place % len(raw) : place % len(raw) + len(data)] = data
    try:
        image = attach("x.png", bytes(raw[: max(cut, 1)]), "auto", MB)
    except ImageRefused as refused:
        assert refused.reason in ("not_image", "damaged", "too_many_pixels")
    else:
        verify(image.mime, image.width, image.height, image.data)
