"""What one HTTP round of a turn looked like on the wire, for learners: the request as sent, the response's
status and useful headers, and each raw line of the body with its arrival time.

Plain data, with no SDK types: llm_client records it, the conversation keeps it with the reply it belongs
to, the store saves it (size-capped) and the UI shows it and turns it into code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RoundPurpose = Literal["answer", "tools", "summary"]


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
