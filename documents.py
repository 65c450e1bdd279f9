"""Documents for the knowledge base: the bytes of a .txt, .md, .pdf or .docx file read into text, then split
into passages that overlap.

The real type is sniffed from the bytes, not taken from the name: PDF through pypdf (a damaged or encrypted
one is refused), DOCX through python-docx (headings become Markdown headings), anything else must be text
(UTF-8, UTF-16 with its BOM, or GB18030). Markdown is cut into sections at its headings; each section into
passages of at most PASSAGE_CHARS characters, the next starting PASSAGE_OVERLAP characters back, cut where a
paragraph, a sentence or a word ends. A refusal is a ``Refused`` whose kind picks the words (i18n
``kb_refused_<kind>``) and whose values fill them.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from knowledge_base import split_sections

KINDS = ("txt", "md", "pdf", "docx")  # what may be uploaded, by name
PASSAGE_CHARS = 1000
PASSAGE_OVERLAP = 150
MAX_NAME_CHARS = 120
DOCX_UNPACKED_RATIO = 30  # a .docx may unpack to this many times the file size limit, no more (zip bombs)
MAX_PDF_PAGES = 2000  # a small hostile PDF may list a great many pages, each parsed on its own
PDF_SECONDS = 60.0  # reading a PDF's text stops here: pypdf bounds each stream, not a whole file's pages

RefusalKind = Literal[
    "empty",
    "too_large",
    "type",
    "binary",
    "pdf_damaged",
    "pdf_encrypted",
    "pdf_too_big",
    "docx_damaged",
    "no_text",
    "too_many_passages",
    "duplicate",
]
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),  # a paragraph ends
    re.compile(r"(?:[.!?;](?=\s)|[。！？；…])[\"'”’」』)）]*\s*|\n\s*"),  # a sentence or a line ends
    re.compile(r"\s+|[，、,：:]"),  # a word or a clause ends
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HEADING_STYLE = re.compile(r"^(?:Heading|标题)\s*(\d)$")


class Refused(ValueError):
    """A document that is not taken, and why: ``kind`` picks the message, ``values`` fill it."""

    def __init__(self, kind: RefusalKind, **values: object) -> None:
        super().__init__(f"{kind}: {values}")
        self.kind = kind
        self.values = values


@dataclass(frozen=True)
class Limits:
    """How much one document may be (KNOWLEDGE_MAX_FILE_MB, KNOWLEDGE_MAX_PASSAGES)."""

    max_bytes: int
    max_passages: int

    @classmethod
    def of(cls, max_file_mb: int, max_passages: int) -> Limits:
        return cls(max_file_mb * 1024 * 1024, max_passages)


@dataclass(frozen=True)
class Passage:
    number: int  # counted from 1 in its document: what a citation names
    title: str  # the document's name, or its section's heading
    text: str


@dataclass(frozen=True)
class Document:
    name: str
    kind: str  # one of KINDS: what the bytes turned out to be
    size: int  # bytes as uploaded
    sha256: str  # of those bytes: the same file twice in one collection is refused
    passages: tuple[Passage, ...] = field(repr=False)


def read_document(name: str, data: bytes, limits: Limits) -> Document:
    """The document a file makes, or Refused saying why not (nothing is half-read: all or nothing)."""
    name = clean_name(name)
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in KINDS:
        raise Refused("type", kinds=", ".join(f".{kind}" for kind in KINDS))
    if len(data) > limits.max_bytes:
        raise Refused("too_large", size=megabytes(len(data)), limit=megabytes(limits.max_bytes))
    if not data.strip():
        raise Refused("empty")
    kind = sniff(data, suffix)
    if kind == "pdf":
        text = pdf_text(data, limits.max_passages)
    elif kind == "docx":
        text = docx_text(data, limits.max_bytes * DOCX_UNPACKED_RATIO)
    else:
        text = decode_text(data)
    return _document(name, kind, data, text, limits)


def pasted_document(title: str, text: str, limits: Limits) -> Document:
    """Pasted text as a document (Markdown headings, if any, make sections)."""
    data = text.encode("utf-8")
    if not text.strip():
        raise Refused("empty")
    if len(data) > limits.max_bytes:
        raise Refused("too_large", size=megabytes(len(data)), limit=megabytes(limits.max_bytes))
    name = clean_name(title) or "pasted.md"
    return _document(name, "md", data, text, limits)


def _document(name: str, kind: str, data: bytes, text: str, limits: Limits) -> Document:
    text = normalize(text)
    if not text:
        raise Refused("no_text")
    passages = split_document(text, name, markdown=kind in ("md", "docx"))
    if len(passages) > limits.max_passages:
        raise Refused("too_many_passages", limit=limits.max_passages)
    return Document(name, kind, len(data), hashlib.sha256(data).hexdigest(), passages)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"


def clean_name(name: str) -> str:
    """A file name as shown and stored: no folders, no control characters, not too long."""
    base = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if len(base) <= MAX_NAME_CHARS:
        return base
    stem, dot, suffix = base.rpartition(".")
    return (stem[: MAX_NAME_CHARS - len(suffix) - 2] + "…" + dot + suffix) if dot else base[:MAX_NAME_CHARS]


def sniff(data: bytes, suffix: str) -> str:
    """What the bytes are: "pdf", "docx", or the text kind the name asks for; Refused for anything else."""
    if data.lstrip().startswith(b"%PDF-") or (suffix == "pdf" and b"%PDF-" in data[:1024]):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE file: an old .doc, .xls or .ppt under another name
        raise Refused("type", kinds=", ".join(f".{kind}" for kind in KINDS))
    if suffix == "pdf":
        raise Refused("pdf_damaged")
    if suffix == "docx":
        raise Refused("docx_damaged")
    return suffix


def decode_text(data: bytes) -> str:
    """Text in UTF-8 (with or without BOM), UTF-16 with a BOM, or GB18030; Refused("binary") for anything else."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise Refused("binary") from exc
    if b"\x00" in data:
        raise Refused("binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Refused("binary")


def pdf_text(data: bytes, max_passages: int, clock: Callable[[], float] = time.monotonic) -> str:
    """Every page's text; a PDF pypdf cannot read, or can only read with a password, is refused, and so is one
    with twice the text ``max_passages`` can hold (reading stops there: a small file may hold a great deal), with
    more than MAX_PDF_PAGES pages, or whose pages take more than PDF_SECONDS to read (``clock`` tells)."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # an owner password alone still lets anyone read
            raise Refused("pdf_encrypted")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise Refused("pdf_too_big", pages=MAX_PDF_PAGES, seconds=int(PDF_SECONDS))
        pages: list[str] = []
        read, deadline = 0, clock() + PDF_SECONDS
        for page in reader.pages:
            if clock() > deadline:
                raise Refused("pdf_too_big", pages=MAX_PDF_PAGES, seconds=int(PDF_SECONDS))
            pages.append(page.extract_text() or "")
            read += len(pages[-1])
            if read > 2 * max_passages * PASSAGE_CHARS:
                raise Refused("too_many_passages", limit=max_passages)
    except (DependencyError, FileNotDecryptedError) as exc:
        raise Refused("pdf_encrypted") from exc
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file may fail anywhere inside pypdf; it is only refused
        raise Refused("pdf_damaged") from exc
    return "\n\n".join(pages)


def docx_text(data: bytes, max_unpacked: int) -> str:
    """The paragraphs and tables of a Word document in order; headings as Markdown headings, a table's rows
    as lines of cells. Refused when it is no readable .docx or would unpack to more than ``max_unpacked``."""
    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > max_unpacked:
            raise Refused("too_large", size=megabytes(unpacked), limit=megabytes(max_unpacked))
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
            else:
                lines.append(_heading_mark(block.style.name if block.style is not None else "") + block.text)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file may fail anywhere inside zipfile or python-docx
        raise Refused("docx_damaged") from exc
    return "\n".join(lines)


def _heading_mark(style: str) -> str:
    """The Markdown heading mark for a paragraph style ("Title" → "# ", "Heading 1" → "## "), empty for body text."""
    if style == "Title":
        return "# "
    level = _HEADING_STYLE.match(style)
    return "#" * (int(level[1]) + 1) + " " if level else ""


def normalize(text: str) -> str:
    """Line ends as \\n, no control characters, no trailing spaces, at most one empty line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n"))
    text = _CONTROL.sub("", text.replace("\t", "    "))
    text = re.sub(r"[ \u00a0]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_document(text: str, name: str, markdown: bool) -> tuple[Passage, ...]:
    """The passages of a document, numbered from 1: Markdown by its sections first, each cut to size."""
    sections = split_sections(text, name) if markdown else []
    parts = [(s.title, s.text) for s in sections] or [(name, text)]
    pieces = [(title, piece) for title, body in parts for piece in split_text(body)]
    return tuple(Passage(number, title, piece) for number, (title, piece) in enumerate(pieces, 1))


def split_text(text: str, size: int = PASSAGE_CHARS, overlap: int = PASSAGE_OVERLAP) -> list[str]:
    """Pieces of at most ``size`` characters; each after the first repeats about ``overlap`` characters of the
    one before, starting where a sentence or word does."""
    text = text.strip()
    pieces: list[str] = []
    start = 0
    while len(text) - start > size:
        end = _cut(text, start + size // 2, start + size)
        pieces.append(text[start:end].strip())
        start = _resume(text, max(end - overlap, start + 1), end)
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def _cut(text: str, low: int, high: int) -> int:
    """Where to end a piece between ``low`` and ``high``: the last paragraph end, else sentence end, else word end;
    ``high`` when there is none (a long run of Chinese without punctuation)."""
    for boundary in _BOUNDARIES:
        ends = [match.end() for match in boundary.finditer(text, low, high)]
        if ends:
            return ends[-1]
    return high


def _resume(text: str, low: int, high: int) -> int:
    """Where the next piece starts, at ``low`` or after it: just after the first sentence end, else word end."""
    for boundary in _BOUNDARIES[1:]:
        match = boundary.search(text, low, high)
        if match and match.end() < high:
            return match.end()
    return low
