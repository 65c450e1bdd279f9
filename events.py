"""The typed events a turn produces. Raw SDK objects stop at llm_client; everything else speaks these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errors import ErrorInfo
from token_tracker import Cost, Usage
from wire_trace import RoundTrace


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
class RefusalDelta:
    """The model declined to answer (OpenAI's ``refusal`` field): shown as a refusal, not as an answer."""

    text: str


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log probability and the most likely alternatives (``top``: token, logprob)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class TokenLogprobs:
    """Log probabilities of tokens of choice 0's text, as they arrive (with ``logprobs`` asked for)."""

    tokens: tuple[TokenLogprob, ...]


@dataclass(frozen=True)
class AlternativeDelta:
    """Text of another choice than the first (``n`` > 1): ``index`` is the choice's index (1, 2, ...)."""

    index: int
    text: str


@dataclass(frozen=True)
class RoundTraced:
    """The wire record of one finished HTTP round (only when tracing is on)."""

    trace: RoundTrace


def utc_iso(moment: datetime | None = None) -> str:
    """A time as every stored time is written (now, by default; a moment without a zone is taken as UTC): UTC ISO
    8601 to the microsecond, always the same width, so comparing the strings (the store's date filters) compares
    the times."""
    moment = moment or datetime.now(UTC)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt as the usage log keeps it: when it went (``utc_iso``), what for (``kind``: chat, retry,
    tool_round, fallback, summary, title, ...), where (``provider``: config.display_url, never a key or query), the
    model, its usage (None: none reported), time to the first text and in all (ms), and how it ended (``outcome``: ok,
    an errors.py kind, or stopped). ``cost`` is set where it is priced (the turn's PriceBook)."""

    at: str
    kind: str
    provider: str
    model: str
    usage: Usage | None
    first_token_ms: int | None
    total_ms: int | None  # None: not timed (a side call booked without its timing)
    outcome: str
    cost: Cost | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class CallLogged:
    """An HTTP attempt ended (answered, failed, retried or replaced): its row of the usage log."""

    record: CallRecord


@dataclass(frozen=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str
    extra: dict[str, Any] | None = None  # opaque fields the provider wants back (Gemini's thought signature)


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ApprovalNeeded:
    """The model asked for tools the user wants to approve first: the turn ends here, these calls unanswered,
    and goes on (``TurnRunner.run`` with approvals) once each is run, edited then run, or rejected."""

    call_ids: tuple[str, ...]


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


@dataclass(frozen=True)
class ResponseSampled:
    """The first and last chunks of a response as received (JSON), for learners to see the wire format."""

    chunks: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class Retrying:
    """A request failed before any text was shown and will be sent again after ``delay`` seconds."""

    attempt: int
    delay: float
    error: ErrorInfo


@dataclass(frozen=True)
class Waiting:
    """The client-side rate limit holds this request back for ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class FallbackUsed:
    """The primary model failed after its retries; ``model`` answers instead."""

    model: str
    replaces: str
    error: ErrorInfo


@dataclass(frozen=True)
class ProviderSkipped:
    """A target's provider is known to be down (provider_health): ``model`` was passed over for ``instead``.
    ``endpoint`` as config.display_url shows it; ``since``: when it went down (UTC, ISO 8601)."""

    model: str
    endpoint: str
    since: str
    instead: str


@dataclass(frozen=True)
class ContextTrimmed:
    """The provider said the context was too long: the request was rebuilt with fewer old messages."""

    dropped_messages: int


@dataclass(frozen=True)
class AnsweredFromCache:
    """The round's answer comes from the response cache, told again as its events: no request went out, nothing is
    booked; ``saved`` is what it cost when it was recorded."""

    saved: Cost


StreamEvent = (
    RequestSent
    | TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallStarted
    | ToolResult
    | ApprovalNeeded
    | UsageReported
    | Finished
    | Interrupted
    | Retrying
    | Waiting
    | FallbackUsed
    | ContextTrimmed
    | ResponseSampled
    | TokenLogprobs
    | AlternativeDelta
    | RoundTraced
    | CallLogged
    | ProviderSkipped
    | AnsweredFromCache
)


Notice = Retrying | Waiting  # what holds a reply up for a while: shown until its text goes on
