"""The one table of model facts: tokenizer, context window, prices.

Prices are per million tokens in the currency the provider bills in. A model that is not
listed is still usable: it is counted with o200k_base and costs nothing, flagged "no price".
"""

from __future__ import annotations

from dataclasses import dataclass


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
    local: bool = False


_O200K = "o200k_base"
_CL100K = "cl100k_base"

# name: (encoding, context window, max output, input, cached input, output, currency)
MODEL_TABLE: dict[str, tuple[str, int, int, float, float, float, str]] = {
    "gpt-4o": (_O200K, 128_000, 16_384, 2.50, 1.25, 10.00, "USD"),
    "gpt-4o-mini": (_O200K, 128_000, 16_384, 0.15, 0.075, 0.60, "USD"),
    "gpt-4.1": (_O200K, 1_047_576, 32_768, 2.00, 0.50, 8.00, "USD"),
    "gpt-4.1-mini": (_O200K, 1_047_576, 32_768, 0.40, 0.10, 1.60, "USD"),
    "gpt-4.1-nano": (_O200K, 1_047_576, 32_768, 0.10, 0.025, 0.40, "USD"),
    "o3": (_O200K, 200_000, 100_000, 2.00, 0.50, 8.00, "USD"),
    "o4-mini": (_O200K, 200_000, 100_000, 1.10, 0.275, 4.40, "USD"),
    "gpt-4-turbo": (_CL100K, 128_000, 4_096, 10.00, 10.00, 30.00, "USD"),
    "gpt-4": (_CL100K, 8_192, 8_192, 30.00, 30.00, 60.00, "USD"),
    "gpt-3.5-turbo": (_CL100K, 16_385, 4_096, 0.50, 0.50, 1.50, "USD"),
    "deepseek-chat": (_O200K, 128_000, 8_192, 2.00, 0.20, 3.00, "CNY"),
    "deepseek-reasoner": (_O200K, 128_000, 65_536, 2.00, 0.20, 3.00, "CNY"),
    "moonshot-v1-8k": (_O200K, 8_192, 8_192, 2.00, 2.00, 10.00, "CNY"),
    "moonshot-v1-32k": (_O200K, 32_768, 32_768, 5.00, 5.00, 20.00, "CNY"),
    "moonshot-v1-128k": (_O200K, 131_072, 131_072, 10.00, 10.00, 30.00, "CNY"),
    "qwen-turbo": (_O200K, 1_000_000, 16_384, 0.30, 0.30, 0.60, "CNY"),
    "qwen-plus": (_O200K, 131_072, 16_384, 0.80, 0.80, 2.00, "CNY"),
    "qwen-max": (_O200K, 32_768, 8_192, 2.40, 2.40, 9.60, "CNY"),
    "glm-4": (_O200K, 128_000, 4_096, 100.00, 100.00, 100.00, "CNY"),
}

UNKNOWN_CONTEXT_WINDOW = 8_192


def _from_row(name: str, row: tuple[str, int, int, float, float, float, str]) -> ModelInfo:
    encoding, window, max_out, price_in, price_cached, price_out, currency = row
    return ModelInfo(name, encoding, window, max_out, price_in, price_cached, price_out, currency)


def lookup(model: str) -> ModelInfo:
    """Find a model's facts; dated snapshots ("gpt-4o-2024-08-06") fall back to their family."""
    key = model.strip().lower().split("/")[-1]
    if key in MODEL_TABLE:
        return _from_row(key, MODEL_TABLE[key])
    family = max((name for name in MODEL_TABLE if key.startswith(name + "-")), key=len, default=None)
    if family is not None:
        return _from_row(family, MODEL_TABLE[family])
    return ModelInfo(model, _O200K, UNKNOWN_CONTEXT_WINDOW, 4_096, 0.0, 0.0, 0.0, "USD", priced=False)
