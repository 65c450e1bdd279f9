"""Images attached to a user message: checked, scaled as OpenAI scales them, sent as ``image_url`` parts.

An upload is never trusted by its name or its stated type: Pillow reads its header, and only PNG, JPEG, WebP
and GIF are taken. A header that promises more than MAX_PIXELS is refused before anything is decoded (a
decompression bomb). The picture is then scaled as OpenAI scales it for high detail (to fit within 2048 x 2048,
then its shortest side at most 768; never enlarged) and encoded again, which turns it upright and drops its
metadata (EXIF, GPS). PNG stays PNG; JPEG and WebP stay JPEG and WebP (quality 85); a GIF becomes a PNG of its
first frame (OpenAI takes only still GIFs). The bytes are kept as base64, as every request and export carries
them. A request's part holds only what the API defines (``url`` and ``detail``): token_tracker reads an image's
size from the header inside its data URL, so nothing of ours goes on the wire.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from PIL import Image, ImageOps, UnidentifiedImageError

import model_catalog

Detail = Literal["auto", "low", "high"]
DETAILS: tuple[Detail, ...] = get_args(Detail)
Mime = Literal["image/png", "image/jpeg", "image/webp"]  # what is stored and sent
# Pillow's name of each format taken -> the format it is sent in
SENT_AS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP", "GIF": "PNG"}
MIME_TYPES: dict[str, Mime] = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_NAME_CHARS = 200  # of a file's name, as kept
FILE_TYPES = ("png", "jpg", "jpeg", "webp", "gif")  # what the file picker offers; the content decides
MAX_PIXELS = 50_000_000  # a 48-megapixel phone photo fits; a larger header is refused before decoding
FIT_SIDE, SHORT_SIDE = 2048, 768
QUALITY = 85
HEADER_CHARS = 64 * 1024  # of a data URL's base64, read for its size (a Pillow-written header is far shorter)
_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,")

Reason = Literal["not_image", "too_large", "too_many_pixels", "damaged", "too_many"]


class ImageRefused(ValueError):
    """An upload that is not taken: ``reason`` says why (the UI words it), ``values`` fill in the numbers."""

    def __init__(self, reason: Reason, **values: float) -> None:
        super().__init__(reason)
        self.reason: Reason = reason
        self.values = values


@dataclass(frozen=True)
class Attachment:
    """An image on a user message, as sent: ``data`` is the base64 of the encoded image, ``mime`` its format."""

    name: str
    mime: Mime
    width: int
    height: int
    data: str
    detail: Detail = "auto"

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.data}"

    def raw(self) -> bytes:
        return base64.b64decode(self.data)

    def part(self) -> dict[str, Any]:
        """The ``image_url`` content part: only the fields the Chat Completions API defines."""
        return {"type": "image_url", "image_url": {"url": self.data_url, "detail": self.detail}}


def fitted_size(width: int, height: int) -> tuple[int, int]:
    """The size OpenAI scales an image to for high detail: within 2048 x 2048, then the shortest side at most
    768 (never enlarged)."""
    scale = min(1.0, FIT_SIDE / max(width, height))
    scale *= min(1.0, SHORT_SIDE / (min(width, height) * scale))
    return max(1, round(width * scale)), max(1, round(height * scale))


def attach(name: str, raw: bytes, detail: Detail, max_bytes: int) -> Attachment:
    """An upload checked, scaled and encoded again; ImageRefused says why it is not taken."""
    if len(raw) > max_bytes:
        raise ImageRefused("too_large", mb=max_bytes / 2**20)
    with _opened(raw) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ImageRefused("too_many_pixels", megapixels=image.width * image.height / 1e6, limit=MAX_PIXELS / 1e6)
        target = SENT_AS[str(image.format)]
        try:
            picture = _scaled(image, target)
            data = _encoded(picture, target)
        except (OSError, ValueError, EOFError, SyntaxError) as error:  # a body that breaks off or lies (Pillow's words)
            raise ImageRefused("damaged") from error
    return Attachment(name[:MAX_NAME_CHARS], MIME_TYPES[target], picture.width, picture.height, data, detail)


def attach_all(
    uploads: Sequence[tuple[str, bytes]], detail: Detail, max_bytes: int, max_count: int
) -> tuple[list[Attachment], list[tuple[str, ImageRefused]]]:
    """Every upload of one message: those taken, and (name, why) for each refused, the ones past ``max_count`` too."""
    taken: list[Attachment] = []
    refused: list[tuple[str, ImageRefused]] = []
    for index, (name, raw) in enumerate(uploads):
        try:
            if index >= max_count:
                raise ImageRefused("too_many", count=max_count)
            taken.append(attach(name, raw, detail, max_bytes))
        except ImageRefused as why:
            refused.append((name, why))
    return taken, refused


def _opened(raw: bytes) -> Image.Image:
    """The image's header, read by Pillow for the accepted formats only (nothing decoded yet)."""
    try:
        return Image.open(io.BytesIO(raw), formats=list(SENT_AS))
    except Image.DecompressionBombError as error:
        raise ImageRefused("too_many_pixels", megapixels=0.0, limit=MAX_PIXELS / 1e6) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageRefused("not_image") from error


def _scaled(image: Image.Image, target: str) -> Image.Image:
    """The first frame, upright, in a mode ``target`` encodes, at OpenAI's high-detail size."""
    image.seek(0)
    size = fitted_size(image.width, image.height)
    if image.format == "JPEG":
        image.draft("RGB", size)  # decode at 1/2, 1/4 or 1/8 where that still covers the size: less memory
    upright = ImageOps.exif_transpose(image)
    if target == "JPEG":
        upright = upright if upright.mode in ("RGB", "L") else upright.convert("RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA"):
        clear = upright.mode in ("PA", "RGBa", "La") or "transparency" in upright.info
        upright = upright.convert("RGBA" if clear else "RGB")
    size = fitted_size(upright.width, upright.height)
    return upright if upright.size == size else upright.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encoded(picture: Image.Image, target: str) -> str:
    out = io.BytesIO()
    options = {"quality": QUALITY} if target in ("JPEG", "WEBP") else {}
    picture.save(out, target, **options)
    return base64.b64encode(out.getvalue()).decode("ascii")


def data_url_size(url: str) -> tuple[int, int] | None:
    """Width and height of the image a base64 data URL holds, read from its header (the first HEADER_CHARS, or
    all of it where the header runs longer); None for another URL or one that holds no image we read."""
    found = _DATA_URL.match(url)
    if found is None:
        return None
    payload = url[found.end() :]
    for chars in dict.fromkeys((payload[:HEADER_CHARS], payload)):
        try:
            with Image.open(io.BytesIO(base64.b64decode(chars)), formats=list(SENT_AS)) as image:
                return image.size
        except (binascii.Error, OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError):
            continue
    return None


SHOWN_CHARS = 48  # of an image's base64, where a request is shown on a page


def abridged(value: Any) -> Any:
    """A request (any JSON value) as a page shows it: each image's base64 cut to its start and its length, since a
    page sends what it shows to the browser on every run. Everything else as it is."""
    if isinstance(value, dict):
        return {key: abridged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [abridged(item) for item in value]
    if isinstance(value, str) and (found := _DATA_URL.match(value)) and len(value) - found.end() > SHOWN_CHARS:
        return f"{value[: found.end() + SHOWN_CHARS]}…({len(value) - found.end()} base64 characters)"
    return value


def verify(mime: str, width: int, height: int, data: str) -> None:
    """A stored or imported image is what its record says: base64 of a PNG, JPEG or WebP of that size, within
    MAX_PIXELS. Raises ValueError (without the data) when it is not."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("the image data is not base64") from None
    try:
        with Image.open(io.BytesIO(raw), formats=list(MIME_TYPES)) as image:
            found, size = MIME_TYPES[str(image.format)], image.size
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError):
        raise ValueError("the image data is not a PNG, JPEG or WebP image") from None
    if (found, size) != (mime, (width, height)):
        raise ValueError(f"the image is a {found} of {size[0]}x{size[1]}, not the {mime} of {width}x{height} named")
    if width * height > MAX_PIXELS:
        raise ValueError(f"the image has more than {MAX_PIXELS} pixels")


def user_content(text: str, images: Sequence[Attachment]) -> str | list[dict[str, Any]]:
    """A user message's content: its text alone, or (with images) a text part, when there is text, then one
    ``image_url`` part per image."""
    if not images:
        return text
    parts = [{"type": "text", "text": text}] if text else []
    return parts + [image.part() for image in images]


Refusal = Literal["local", "model"]


def refusal(model: str, is_local: bool) -> Refusal | None:
    """Why images cannot go to this model, known before anything is sent: the local demo backend reads text
    only; the catalog knows the model takes no images. None: send them (an unknown model is tried)."""
    if is_local:
        return "local"
    return "model" if model_catalog.lookup(model).vision is False else None
