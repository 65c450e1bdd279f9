"""The parameters of one Chat Completions request, and which of them go on the wire.

Temperature and the output cap are always chosen (the app's defaults); every other parameter is sent
only when the user set it (``Extras``: None, empty or False means "not sent"), so a learner sees in the
request exactly what they changed, and a provider that does not know a parameter never sees it unasked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_type_hints

from pydantic import TypeAdapter, ValidationError

ResponseFormat = Literal["text", "json_object", "json_schema"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("text", "json_object", "json_schema")
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = ("minimal", "low", "medium", "high")
TOOL_CHOICES = ("auto", "none", "required")  # or the name of one enabled tool

# o-series reasoning models take max_completion_tokens and no temperature.
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4")

# The ranges the controls offer and a restored chat is held to (OpenAI's documented ranges; n and
# top_logprobs kept small enough to read).
BOUNDS: dict[str, tuple[float, float]] = {
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "seed": (0, 2**53 - 1),  # the largest integer a browser's number field holds exactly
    "n": (1, 8),
    "top_logprobs": (0, 20),
}


@dataclass(frozen=True)
class Extras:
    """The optional parameters; each left at its default here is left out of the request."""

    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    n: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None  # sent only with logprobs
    tool_choice: str | None = None  # "auto" | "none" | "required" | a tool's name; sent only with tools
    parallel_tool_calls: bool | None = None  # sent only with tools
    reasoning_effort: ReasoningEffort | None = None
    response_format: ResponseFormat | None = None
    json_schema: dict[str, Any] | None = field(default=None, hash=False)  # with "json_schema"

    def to_dict(self) -> dict[str, Any]:
        """The parameters set (those not at their default), as JSON: what a chat keeps of them."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}
        return values | ({"stop": list(self.stop)} if self.stop else {})


# Every request field the parameters panel decides: a provider that refuses one of these is explained as
# such (errors.py), and the learner is told where to unset it.
PANEL_PARAMETERS = frozenset(
    {"temperature", "max_tokens", "max_completion_tokens"} | {f.name for f in fields(Extras)} - {"json_schema"}
)
_CHECKS = {name: TypeAdapter(hint) for name, hint in get_type_hints(Extras).items()}


def extras_from_dict(saved: Mapping[str, Any]) -> Extras:
    """What a chat kept (``Extras.to_dict``), as far as it is valid: a value of the wrong type or out of
    range is left unset, never raised (a chat may come from an imported file)."""
    kept: dict[str, Any] = {}
    for name, value in saved.items():
        if name not in _CHECKS:
            continue
        with contextlib.suppress(ValidationError, TypeError, ValueError):
            checked = _CHECKS[name].validate_json(json.dumps(value), strict=True)  # kept as JSON: arrays are tuples
            low, high = BOUNDS.get(name, (None, None))
            if checked is None or low is None or low <= checked <= high:
                kept[name] = checked
    return Extras(**kept)


def stop_sequences(text: str) -> tuple[str, ...]:
    """Stop sequences typed one per line; a written ``\\n`` stands for a line break."""
    return tuple(line.replace("\\n", "\n") for line in text.splitlines() if line)


@dataclass(frozen=True)
class ChatParams:
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    extras: Extras = Extras()


def is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_MODEL_PREFIXES)


def request_fields(params: ChatParams, has_tools: bool) -> dict[str, Any]:
    """The body fields for ``params`` (besides model, messages and streaming), in the order they are shown."""
    reasoning = is_reasoning_model(params.model)
    fields: dict[str, Any] = {}
    if params.temperature is not None and not reasoning:
        fields["temperature"] = params.temperature
    if params.max_tokens is not None:
        fields["max_completion_tokens" if reasoning else "max_tokens"] = params.max_tokens
    extras = params.extras
    plain = {
        "top_p": extras.top_p,
        "stop": list(extras.stop) or None,
        "seed": extras.seed,
        "presence_penalty": extras.presence_penalty,
        "frequency_penalty": extras.frequency_penalty,
        "n": extras.n,
        "reasoning_effort": extras.reasoning_effort,
    }
    fields |= {name: value for name, value in plain.items() if value is not None}
    if extras.logprobs:
        fields["logprobs"] = True
        if extras.top_logprobs is not None:
            fields["top_logprobs"] = extras.top_logprobs
    if extras.response_format is not None and (extras.response_format != "json_schema" or extras.json_schema):
        fields["response_format"] = response_format(extras)
    if has_tools:
        fields["tool_choice"] = tool_choice(extras.tool_choice)
        if extras.parallel_tool_calls is not None:
            fields["parallel_tool_calls"] = extras.parallel_tool_calls
    return fields


def tool_choice(choice: str | None) -> str | dict[str, Any]:
    """The ``tool_choice`` field: "auto" unless chosen (OpenAI's default, but llama.cpp's server offers no tools
    without it); a tool's name becomes the object that forces that one tool."""
    if choice is None or choice in TOOL_CHOICES:
        return choice or "auto"
    return {"type": "function", "function": {"name": choice}}


def response_format(extras: Extras) -> dict[str, Any]:
    """The ``response_format`` object; a schema is named after its title (OpenAI requires a name)."""
    if extras.response_format != "json_schema":
        return {"type": extras.response_format}
    schema = extras.json_schema or {}
    name = str(schema.get("title") or "reply")
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "reply"
    return {"type": "json_schema", "json_schema": {"name": safe, "schema": schema}}
