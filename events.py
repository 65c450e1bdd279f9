"""The typed events a turn produces. Raw SDK objects stop at llm_client; everything else speaks these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from errors import ErrorInfo
from token_tracker import Usage


@dataclass(frozen=True)
class RequestSent:
    """The JSON body of one API call, exactly as sent (the key travels in a header, never here)."""

    body: dict[str, Any]
    round: int


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class UsageReported:
    usage: Usage
    model: str


@dataclass(frozen=True)
class Finished:
    reason: str


@dataclass(frozen=True)
class Interrupted:
    error: ErrorInfo


StreamEvent = (
    RequestSent | TextDelta | ReasoningDelta | ToolCallStarted | ToolResult | UsageReported | Finished | Interrupted
)
