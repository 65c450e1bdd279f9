"""What one HTTP round of a turn looked like on the wire, for learners: the request as sent, the response's
status and useful headers, and each raw line of the body with its arrival time.

Plain data, with no SDK types: llm_client records it, the conversation keeps it with the reply it belongs
to, the store saves it (size-capped) and the UI shows it and turns it into code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

RoundPurpose = Literal["answer", "tools", "summary", "title"]

# Response headers worth a learner's look: the request's id, rate limits, when to retry, how long it took.
USEFUL_HEADERS = frozenset(
    {
        "x-request-id",
        "request-id",
        "openai-processing-ms",
        "openai-model",
        "openai-version",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "content-type",
    }
)
USEFUL_HEADER_PREFIXES = ("x-ratelimit-",)
RATE_LIMIT_KINDS = ("requests", "tokens")  # x-ratelimit-{remaining,limit,reset}-{requests,tokens}
RATE_LIMIT_FIELDS = ("remaining", "limit", "reset")


@dataclass(frozen=True)
class TraceLine:
    """One line of the response body as it arrived: ``ms`` after the request was sent."""

    ms: float
    text: str


@dataclass
class RoundTrace:
    """One HTTP request of a turn (a first try, a retry, a fallback, a tool round or a summary)."""

    round: int
    purpose: RoundPurpose
    method: str
    url: str  # shown through config.display_url, never with a key in it
    request_body: str  # the exact bytes sent, decoded as UTF-8 (the key travels in a header, never here)
    started_at: str  # ISO 8601 UTC
    status: int | None = None  # None: no response (refused, timed out before the headers)
    headers: dict[str, str] = field(default_factory=dict)  # the useful ones only (request id, rate limits)
    lines: list[TraceLine] = field(default_factory=list)
    error: str | None = None  # what ended the round early, redacted
    total_ms: float | None = None
    dropped_lines: int = 0  # lines left out past the size cap
    dropped_bytes: int = 0
    first_token_ms: float | None = None  # when the first kept line carrying a token came (``carries_token``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def useful_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of USEFUL_HEADERS (and every x-ratelimit-*), names in lower case."""
    found = {name.lower(): value for name, value in headers.items()}
    return {
        name: value
        for name, value in found.items()
        if name in USEFUL_HEADERS or name.startswith(USEFUL_HEADER_PREFIXES)
    }


@dataclass
class TraceBudget:
    """Bytes of response lines one reply's trace may still keep (TRACE_MAX_KB, shared by its rounds): a stream
    that goes on for megabytes keeps its beginning, and the trace says how much it left out."""

    left: int


class TraceTape:
    """Records one round while it happens: made just before the request goes, so each line's time counts
    from then. ``finish`` seals it; a round the user stopped is sealed by whoever holds the tape."""

    def __init__(
        self, round: int, purpose: RoundPurpose, budget: TraceBudget, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget, self.clock = budget, clock
        self.sent_at = clock()
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.trace = RoundTrace(round, purpose, "POST", "", "", started)
        self.finished = False

    def ms(self) -> float:
        return round((self.clock() - self.sent_at) * 1000, 3)

    def line(self, text: str) -> None:
        """One line of the body as it arrived; past the budget it is only counted (and so is every later one)."""
        size = len(text.encode("utf-8", "replace")) + 1
        trace = self.trace
        if trace.dropped_lines or size > self.budget.left:
            trace.dropped_lines += 1
            trace.dropped_bytes += size
            return
        self.budget.left -= size
        trace.lines.append(TraceLine(self.ms(), text))
        if trace.first_token_ms is None and carries_token(text):
            trace.first_token_ms = trace.lines[-1].ms

    def finish(self, error: str | None = None) -> RoundTrace:
        """The round's trace, sealed with what ended it (None: it ended normally) and its total time; once."""
        if not self.finished:
            self.finished = True
            self.trace.error, self.trace.total_ms = error, self.ms()
        return self.trace


DELTA_PIECES = ("content", "reasoning_content", "reasoning", "refusal", "tool_calls")


def carries_token(text: str) -> bool:
    """Whether a line of a response body is a ``data:`` line whose delta carries text, reasoning, a refusal or a tool
    call's piece."""
    if not text.startswith("data:"):
        return False
    try:
        value = json.loads(text[5:])
    except ValueError:
        return False
    choices = value.get("choices") if isinstance(value, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(piece) for piece in DELTA_PIECES):
            return True
    return False


def first_token_ms(trace: Mapping[str, Any]) -> float | None:
    """Time to first token of a traced stream (a RoundTrace as a dict): when the first line that ``carries_token``
    arrived; None for a reply that is not a stream. TraceTape notes it as the lines come, so a trace is not parsed
    again each time it is drawn; one saved before it did is read line by line."""
    if "first_token_ms" in trace:
        return trace["first_token_ms"]
    lines = trace.get("lines") or []
    return next((float(line.get("ms", 0.0)) for line in lines if carries_token(str(line.get("text", "")))), None)


def rate_limits(traces: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """What the provider said of its rate limits in the newest round that said anything (RoundTraces as dicts):
    {"requests" | "tokens": {"remaining" | "limit" | "reset": value}}; empty when no round had the headers."""
    for trace in reversed(traces):
        headers = trace.get("headers") or {}
        found = {
            kind: {
                field: str(headers[f"x-ratelimit-{field}-{kind}"])
                for field in RATE_LIMIT_FIELDS
                if f"x-ratelimit-{field}-{kind}" in headers
            }
            for kind in RATE_LIMIT_KINDS
        }
        if any(found.values()):
            return found
    return {}
