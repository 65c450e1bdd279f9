"""The parameters of one Chat Completions request, and which of them go on the wire.

Temperature and the output cap are always chosen (the app's defaults); every other parameter is sent
only when the user set it (``Extras``: None, empty or False means "not sent"), so a learner sees in the
request exactly what they changed, and a provider that does not know a parameter never sees it unasked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResponseFormat = Literal["text", "json_object", "json_schema"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]
TOOL_CHOICES = ("auto", "none", "required")  # or the name of one enabled tool

# o-series reasoning models take max_completion_tokens and no temperature.
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4")


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
    json_schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)  # with "json_schema"


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
    if extras.response_format is not None:
        fields["response_format"] = response_format(extras)
    if has_tools:
        fields["tool_choice"] = tool_choice(extras.tool_choice)
        if extras.parallel_tool_calls is not None:
            fields["parallel_tool_calls"] = extras.parallel_tool_calls
    return fields


def tool_choice(choice: str | None) -> str | dict[str, Any]:
    """"auto" unless chosen (OpenAI's default, but llama.cpp's server offers no tools without it); a tool's
    name becomes the object that forces that one tool."""
    if choice is None or choice in TOOL_CHOICES:
        return choice or "auto"
    return {"type": "function", "function": {"name": choice}}


def response_format(extras: Extras) -> dict[str, Any]:
    if extras.response_format != "json_schema":
        return {"type": extras.response_format}
    schema = extras.json_schema or {}
    name = str(schema.get("title") or "reply")
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "reply"
    return {"type": "json_schema", "json_schema": {"name": safe, "schema": schema}}
