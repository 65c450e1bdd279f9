"""The one table of model facts: tokenizer, context window, prices, whether it reads images.

Prices are per million tokens in the currency the provider bills in. A model that is not
listed is still usable: it is counted with o200k_base and costs nothing, flagged "no price".
A JSON file (the MODELS_FILE setting, default models.json beside the app) adds or overrides models.

Vision is known (True or False) only for a model listed under its exact name: a snapshot or variant may
differ from its family (gpt-4-turbo-preview reads no images, moonshot-v1-8k-vision-preview does), so a
model found through its family, like any unknown model, is tried with images and its refusal explained.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from config import file_version, read_json_object, table_file


@dataclass(frozen=True)
class ModelInfo:
    name: str
    encoding: str
    context_window: int
    max_output: int
    input_price: float
    cached_input_price: float
    output_price: float
    currency: str  # "USD" or "CNY"
    priced: bool = True
    vision: bool | None = None  # takes images: known yes, known no, or None (unknown: tried, its refusal explained)

    def output_room(self, requested: int) -> int:
        """max_tokens to send: a known model's own limit caps it (asking for more is a 400)."""
        return min(requested, self.max_output) if self.priced else requested


_O200K = "o200k_base"
_CL100K = "cl100k_base"

# (encoding, context window, max output, input, cached input, output, currency, vision)
Row = tuple[str, int, int, float, float, float, str, bool | None]

MODEL_TABLE: dict[str, Row] = {
    "gpt-4o": (_O200K, 128_000, 16_384, 2.50, 1.25, 10.00, "USD", True),
    "gpt-4o-mini": (_O200K, 128_000, 16_384, 0.15, 0.075, 0.60, "USD", True),
    # speech to text (ui_voice): input is the recording's audio tokens, priced as such; not the gpt-4o family's rows
    "gpt-4o-transcribe": (_O200K, 16_000, 2_000, 6.00, 6.00, 10.00, "USD", False),
    "gpt-4o-mini-transcribe": (_O200K, 16_000, 2_000, 3.00, 3.00, 5.00, "USD", False),
    "gpt-4.1": (_O200K, 1_047_576, 32_768, 2.00, 0.50, 8.00, "USD", True),
    "gpt-4.1-mini": (_O200K, 1_047_576, 32_768, 0.40, 0.10, 1.60, "USD", True),
    "gpt-4.1-nano": (_O200K, 1_047_576, 32_768, 0.10, 0.025, 0.40, "USD", True),
    "o3": (_O200K, 200_000, 100_000, 2.00, 0.50, 8.00, "USD", True),
    "o4-mini": (_O200K, 200_000, 100_000, 1.10, 0.275, 4.40, "USD", True),
    "gpt-4-turbo": (_CL100K, 128_000, 4_096, 10.00, 10.00, 30.00, "USD", True),
    "gpt-4": (_CL100K, 8_192, 8_192, 30.00, 30.00, 60.00, "USD", False),
    "gpt-3.5-turbo": (_CL100K, 16_385, 4_096, 0.50, 0.50, 1.50, "USD", False),
    "deepseek-chat": (_O200K, 128_000, 8_192, 2.00, 0.20, 3.00, "CNY", False),
    "deepseek-reasoner": (_O200K, 128_000, 65_536, 2.00, 0.20, 3.00, "CNY", False),
    "moonshot-v1-8k": (_O200K, 8_192, 8_192, 2.00, 2.00, 10.00, "CNY", False),
    "moonshot-v1-32k": (_O200K, 32_768, 32_768, 5.00, 5.00, 20.00, "CNY", False),
    "moonshot-v1-128k": (_O200K, 131_072, 131_072, 10.00, 10.00, 30.00, "CNY", False),
    "qwen-turbo": (_O200K, 1_000_000, 16_384, 0.30, 0.30, 0.60, "CNY", False),
    "qwen-plus": (_O200K, 131_072, 16_384, 0.80, 0.80, 2.00, "CNY", False),
    "qwen-max": (_O200K, 32_768, 8_192, 2.40, 2.40, 9.60, "CNY", False),
    "glm-4": (_O200K, 128_000, 4_096, 100.00, 100.00, 100.00, "CNY", False),
}

UNKNOWN_CONTEXT_WINDOW = 8_192


class CatalogError(ValueError):
    """The override file cannot be read; the message names the file and the entry."""


def _vision(value: object) -> bool | None:
    """A file's "vision": true or false, or null for unknown (a string "false" would read as true: refused)."""
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"vision must be true, false or null, not {value!r}")


def _overrides_of(path: Path) -> dict[str, Row]:
    """The override file's rows, read once per version of the file (every price, window and token count looks)."""
    version = file_version(path)
    if version is None:
        return {}  # no file: no overrides (read_json_object's rule)
    return _overrides(str(path), version)


@functools.lru_cache(maxsize=4)
def _overrides(path: str, version: tuple[int, int]) -> dict[str, Row]:
    """MODELS_FILE (JSON): {"model": {"encoding", "context_window", "max_output", "input",
    "cached_input", "output", "currency", "vision"}}; missing fields keep the built-in (or default) value."""
    entries = read_json_object(path, CatalogError)
    rows = {}
    for name, entry in entries.items():
        base = MODEL_TABLE.get(name.lower(), (_O200K, UNKNOWN_CONTEXT_WINDOW, 4_096, 0.0, 0.0, 0.0, "USD", None))
        try:
            rows[name.lower()] = (
                str(entry.get("encoding", base[0])),
                int(entry.get("context_window", base[1])),
                int(entry.get("max_output", base[2])),
                float(entry.get("input", base[3])),
                float(entry.get("cached_input", entry.get("input", base[4]))),
                float(entry.get("output", base[5])),
                str(entry.get("currency", base[6])).upper(),
                _vision(entry.get("vision", base[7])),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise CatalogError(f"{path}: entry {name!r}: {exc}") from exc
    return rows


def table(path: Path | None = None) -> dict[str, Row]:
    """The built-in table with the override file laid over it: ``path`` (``settings.models_file``), else the
    MODELS_FILE setting as config reads it from `.env` or the environment."""
    return {**MODEL_TABLE, **_overrides_of(path or table_file("MODELS_FILE"))}


def _from_row(name: str, row: Row, exact: bool) -> ModelInfo:
    encoding, window, max_out, price_in, price_cached, price_out, currency, vision = row
    known = vision if exact else None
    return ModelInfo(name, encoding, window, max_out, price_in, price_cached, price_out, currency, vision=known)


def lookup(model: str) -> ModelInfo:
    """Find a model's facts; dated snapshots ("gpt-4o-2024-08-06") fall back to their family (vision unknown)."""
    rows = table()
    key = model.strip().lower().split("/")[-1]
    if key in rows:
        return _from_row(key, rows[key], exact=True)
    family = max((name for name in rows if key.startswith(name + "-")), key=len, default=None)
    if family is not None:
        return _from_row(family, rows[family], exact=False)
    return ModelInfo(model, _O200K, UNKNOWN_CONTEXT_WINDOW, 4_096, 0.0, 0.0, 0.0, "USD", priced=False)
