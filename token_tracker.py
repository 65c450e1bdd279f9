"""Token counting (offline tiktoken), usage and cost per call, and running totals.

Counting follows OpenAI's cookbook ("How to count tokens with tiktoken"): 3 tokens per message,
1 per name, 3 to prime the reply, and the cookbook's formula for tool definitions. For
non-OpenAI models the count is an estimate with o200k_base.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

import model_catalog
from attachments import data_url_size, fitted_size
from offline_encodings import seed_cache

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


@dataclass(frozen=True)
class Usage:
    """Tokens of one call; ``estimated`` when counted here rather than reported by the API."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.estimated or other.estimated,
        )


@dataclass(frozen=True)
class Cost:
    usd: float = 0.0
    cny: float = 0.0
    priced: bool = True
    local: bool = False

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.usd + other.usd,
            self.cny + other.cny,
            self.priced and other.priced,
            self.local and other.local,
        )


@functools.lru_cache(maxsize=4)
def encoding_for(model: str) -> tiktoken.Encoding:
    seed_cache()
    return tiktoken.get_encoding(model_catalog.lookup(model).encoding)


COUNT_CACHE_SIZE = 32_768  # texts; a key is at most SHORT_TEXT characters or a 16-byte digest
SHORT_TEXT = 64
_counts: OrderedDict[tuple[str | bytes, str], int] = OrderedDict()
_counts_lock = threading.Lock()


def count_text(text: str, model: str) -> int:
    """Tokens of ``text`` in the model's encoding. Every script run counts the whole chat again for the next
    request's size, so counts are kept per text and encoding (process-wide, the least recently used dropped
    first); a long text is keyed by its digest, so the cache holds no copy of it."""
    encoding = encoding_for(model)
    if len(text) <= SHORT_TEXT:
        key: tuple[str | bytes, str] = (text, encoding.name)
    else:  # surrogatepass: any str has bytes to hash (tiktoken itself takes a lone surrogate too)
        key = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), encoding.name)
    with _counts_lock:
        count = _counts.get(key)
        if count is not None:
            _counts.move_to_end(key)
            return count
    count = len(encoding.encode(text, disallowed_special=()))
    with _counts_lock:
        _counts[key] = count
        while len(_counts) > COUNT_CACHE_SIZE:
            _counts.popitem(last=False)
    return count


def token_pieces(text: str, model: str) -> list[tuple[str, int]]:
    """Each token of ``text`` in the model's encoding as (its text, its id), for the tokenizer view: the bytes of a
    token that ends inside a character (a Chinese one may span two tokens) as \\x escapes."""
    encoding = encoding_for(model)
    return [
        (encoding.decode_single_token_bytes(token).decode("utf-8", "backslashreplace"), token)
        for token in encoding.encode(text, disallowed_special=())
    ]


IMAGE_LOW_DETAIL = 85
IMAGE_TILE = 170
IMAGE_DEFAULT_SIZE = (1024, 1024)  # assumed when the size cannot be read (an http URL, say)


def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """OpenAI's published rule: low detail is 85; otherwise fit in 2048x2048, shortest side to 768,
    then 170 per 512-pixel tile plus 85."""
    if detail == "low":
        return IMAGE_LOW_DETAIL
    scaled_width, scaled_height = fitted_size(width, height)
    tiles = math.ceil(scaled_width / 512) * math.ceil(scaled_height / 512)
    return IMAGE_LOW_DETAIL + IMAGE_TILE * tiles


def _content_tokens(content: Any, model: str) -> int:
    if isinstance(content, str):
        return count_text(content, model)
    total = 0
    for part in content or []:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "image_url":
            image = part.get("image_url") or {}
            size = data_url_size(str(image.get("url", ""))) or IMAGE_DEFAULT_SIZE  # read from the image itself
            total += image_tokens(*size, detail=str(image.get("detail", "auto")))
        else:
            total += count_text(str(part.get("text", "")), model)
    return total


def count_messages(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """Prompt tokens of a message list, as the cookbook counts them (plus assistant tool calls)."""
    total = REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                total += _content_tokens(value, model)
            elif key == "name":
                total += count_text(str(value), model) + TOKENS_PER_NAME
            elif key == "role":
                total += count_text(str(value), model)
            elif key == "tool_calls":
                for call in value or []:
                    function = call.get("function", {})
                    total += count_text(function.get("name", ""), model)
                    total += count_text(function.get("arguments", ""), model)
    return total


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def count_tools(tools: Sequence[Mapping[str, Any]], model: str) -> int:
    """Tokens that tool definitions add to the prompt (the cookbook's gpt-4o constants)."""
    if not tools:
        return 0
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = 7, 3, 3, -3, 3, 12
    if model_catalog.lookup(model).encoding == "cl100k_base":
        func_init = 10
    total = 0
    for tool in tools:
        function = tool["function"]
        total += func_init
        total += count_text(f"{function['name']}:{_strip_period(function.get('description', ''))}", model)
        properties = function.get("parameters", {}).get("properties", {})
        if properties:
            total += prop_init
            for key, spec in properties.items():
                total += prop_key
                if "enum" in spec:
                    total += enum_init
                    for item in spec["enum"]:
                        total += enum_item + count_text(str(item), model)
                line = f"{key}:{spec.get('type', '')}:{_strip_period(spec.get('description', ''))}"
                total += count_text(line, model)
    return total + func_end


def estimate_usage(
    messages: Sequence[Mapping[str, Any]],
    completion: str,
    model: str,
    tools: Sequence[Mapping[str, Any]] = (),
) -> Usage:
    prompt = count_messages(messages, model) + count_tools(tools, model)
    return Usage(prompt, count_text(completion, model), estimated=True)


def usage_from_api(raw: Any) -> Usage:
    """Read an SDK ``CompletionUsage`` (or None) into our Usage."""
    if raw is None:
        return Usage(estimated=True)
    prompt_details = getattr(raw, "prompt_tokens_details", None)
    completion_details = getattr(raw, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=raw.prompt_tokens or 0,
        completion_tokens=raw.completion_tokens or 0,
        cached_tokens=(getattr(prompt_details, "cached_tokens", None) or 0),
        reasoning_tokens=(getattr(completion_details, "reasoning_tokens", None) or 0),
    )


@dataclass(frozen=True)
class PriceBook:
    """Turns usage into money; the exchange rate is a setting, shown beside every CNY figure."""

    usd_cny_rate: float
    local_models: frozenset[str] = frozenset()
    on_this_machine: bool = False  # its replies come from a model server found running here: free, whatever the name

    def cost(self, model: str, usage: Usage) -> Cost:
        if self.on_this_machine or model in self.local_models:
            return Cost(priced=True, local=True)
        info = model_catalog.lookup(model)
        if not info.priced:
            return Cost(priced=False)
        uncached = max(usage.prompt_tokens - usage.cached_tokens, 0)
        amount = (
            uncached * info.input_price
            + usage.cached_tokens * info.cached_input_price
            + usage.completion_tokens * info.output_price
        ) / 1_000_000
        if info.currency == "CNY":
            return Cost(usd=amount / self.usd_cny_rate, cny=amount)
        return Cost(usd=amount, cny=amount * self.usd_cny_rate)


@dataclass(frozen=True)
class Totals:
    usage: Usage
    cost: Cost
    calls: int

    @classmethod
    def of(cls, entries: Iterable[tuple[Usage, Cost]]) -> Totals:
        pairs = list(entries)
        if not pairs:
            return cls(Usage(), Cost(), 0)
        usage, cost = pairs[0]
        for entry_usage, entry_cost in pairs[1:]:
            usage, cost = usage + entry_usage, cost + entry_cost
        return cls(usage, cost, len(pairs))
