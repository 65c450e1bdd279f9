"""The one retry policy: what is worth another try, and how long to wait first.

The SDK's own retries are switched off (max_retries=0 on every client): it would retry a 429
``insufficient_quota``, which is a billing problem, and stacking two policies multiplies waits.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

RETRYABLE_KINDS = frozenset({"connection", "timeout", "server", "rate_limit", "conflict"})


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds a server asks us to wait: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(float(lowered["retry-after-ms"]) / 1000, 0.0)
        if "retry-after" in lowered:
            return max(float(lowered["retry-after"]), 0.0)
    except ValueError:
        pass
    if "retry-after" in lowered:
        try:
            when = email.utils.parsedate_to_datetime(lowered["retry-after"])
        except (TypeError, ValueError):
            return None
        return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self, kind: str, attempt: int, retry_after: float | None = None, rand: float | None = None
    ) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None: do not retry.

        Exponential backoff with full jitter; a server's Retry-After wins when it is reasonable.
        """
        if kind not in RETRYABLE_KINDS or attempt > self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return ceiling * (random.random() if rand is None else rand)  # noqa: S311 - jitter, not security
