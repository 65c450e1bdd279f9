"""Client-side rate limiting per provider: requests and tokens per minute over a sliding window.

A reservation is booked at the moment it may go, so a burst from several browser tabs queues up
in order instead of failing with 429s. Shared by every session of the app process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

WINDOW = 60.0


class WindowUse(NamedTuple):
    """What went out in the minute ending now: requests and their tokens."""

    requests: int
    tokens: int


class RateLimiter:
    def __init__(
        self, requests_per_minute: int = 0, tokens_per_minute: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.clock = clock
        self._booked: deque[tuple[float, int]] = deque()  # (start time, tokens), in time order
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rpm > 0 or self.tpm > 0

    def reserve(self, tokens: int) -> float:
        """Book a request of ``tokens``; returns how many seconds to wait before sending it."""
        if not self.enabled:
            return 0.0
        tokens = min(tokens, self.tpm) if self.tpm > 0 else tokens
        with self._lock:
            now = self.clock()
            while self._booked and self._booked[0][0] <= now - WINDOW:
                self._booked.popleft()
            start = max(now, self._booked[-1][0] if self._booked else now)
            while not self._fits(start, tokens):
                start = self._next_expiry(start)
            self._booked.append((start, tokens))
            return start - now

    def used(self) -> WindowUse:
        """Requests and tokens booked in the minute ending now (not those still queued for later), for learners."""
        with self._lock:
            window = self._in_window(self.clock())
        return WindowUse(len(window), sum(tokens for _, tokens in window))

    def _in_window(self, at: float) -> list[tuple[float, int]]:
        return [entry for entry in self._booked if at - WINDOW < entry[0] <= at]

    def _fits(self, at: float, tokens: int) -> bool:
        window = self._in_window(at)
        if self.rpm > 0 and len(window) >= self.rpm:
            return False
        return not (self.tpm > 0 and sum(t for _, t in window) + tokens > self.tpm)

    def _next_expiry(self, at: float) -> float:
        """The next moment a booking inside the window ending at ``at`` falls out of it."""
        return min(start for start, _ in self._in_window(at)) + WINDOW
