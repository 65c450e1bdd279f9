"""Client-side rate limiting per provider: requests and tokens per minute over a sliding window.

A reservation is booked at the moment it may go, so a burst from several browser tabs queues up
in order instead of failing with 429s. Where the bookings are kept is a ``Ledger``: this process's
memory (``MemoryLedger``: every session of one app process) or a database table that several app
processes share (rate_windows.py); the arithmetic (``next_start``, ``window_use``) is the same for both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

WINDOW = 60.0


class WindowUse(NamedTuple):
    """What went out in the minute ending now: requests and their tokens."""

    requests: int
    tokens: int


class Booking(NamedTuple):
    """One request: when it may go (seconds on the ledger's clock) and the tokens it may use."""

    start: float
    tokens: int


# Given the bookings still in (or after) the window and the ledger's now, when the new one may go.
Planner = Callable[[Sequence[Booking], float], float]


class Ledger(Protocol):
    """Where bookings are kept; each ``book`` is atomic against every other user of the same ledger."""

    def book(self, tokens: int, plan: Planner) -> float:
        """Under the ledger's lock: forget bookings that left the window, let ``plan`` choose the start from the
        rest (in time order) and now, keep the booking; returns the seconds to wait (start - now)."""

    def booked(self) -> tuple[list[Booking], float]:
        """The bookings kept (in time order) and the ledger's now."""


class MemoryLedger:
    """The bookings of this app process, shared by its sessions (the single-user app's)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._booked: deque[Booking] = deque()  # in time order
        self._lock = threading.Lock()

    def book(self, tokens: int, plan: Planner) -> float:
        with self._lock:
            now = self.clock()
            while self._booked and self._booked[0].start <= now - WINDOW:
                self._booked.popleft()
            start = plan(self._booked, now)
            self._booked.append(Booking(start, tokens))
            return start - now

    def booked(self) -> tuple[list[Booking], float]:
        with self._lock:
            return list(self._booked), self.clock()


class RateLimiter:
    def __init__(
        self,
        requests_per_minute: int = 0,
        tokens_per_minute: int = 0,
        clock: Callable[[], float] = time.monotonic,
        ledger: Ledger | None = None,
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger(clock)

    @property
    def enabled(self) -> bool:
        return self.rpm > 0 or self.tpm > 0

    def reserve(self, tokens: int) -> float:
        """Book a request of ``tokens``; returns how many seconds to wait before sending it."""
        if not self.enabled:
            return 0.0
        tokens = min(tokens, self.tpm) if self.tpm > 0 else tokens
        return self.ledger.book(tokens, lambda booked, now: next_start(booked, now, tokens, self.rpm, self.tpm))

    def used(self) -> WindowUse:
        """Requests and tokens booked in the minute ending now (not those still queued for later), for learners."""
        booked, now = self.ledger.booked()
        return window_use(booked, now)


def window_use(booked: Sequence[Booking], at: float) -> WindowUse:
    window = _in_window(booked, at)
    return WindowUse(len(window), sum(booking.tokens for booking in window))


def next_start(booked: Sequence[Booking], now: float, tokens: int, rpm: int, tpm: int) -> float:
    """The first moment, not before now nor before the last booking (first come, first served), at which a
    request of ``tokens`` fits: fewer than ``rpm`` requests and at most ``tpm`` tokens in the minute ending then."""
    start = max(now, booked[-1].start if booked else now)
    while not _fits(booked, start, tokens, rpm, tpm):
        start = min(booking.start for booking in _in_window(booked, start)) + WINDOW
    return start


def _in_window(booked: Sequence[Booking], at: float) -> list[Booking]:
    return [booking for booking in booked if at - WINDOW < booking.start <= at]


def _fits(booked: Sequence[Booking], at: float, tokens: int, rpm: int, tpm: int) -> bool:
    window = _in_window(booked, at)
    if rpm > 0 and len(window) >= rpm:
        return False
    return not (tpm > 0 and sum(booking.tokens for booking in window) + tokens > tpm)
