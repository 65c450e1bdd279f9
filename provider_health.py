"""Whether each configured provider answers: GET /models checked in the background, and what real calls found.

``HealthRecord`` holds, per provider (its base URL), the state (unknown, up or down), the last check's latency, the
last error (its kind and a short redacted message, never a key) and when. A provider is down when its last check
failed to reach it (a connection error, a timeout, a 5xx) or the last real call failed so; a check or call that got
an answer brings it up again (a 401 or 404 on /models still proves it answers: up, with the error shown).
``HealthChecker`` is the one background thread per app process that checks every HEALTH_CHECK_MINUTES, and soon
after a page opens when the last check is older than a minute; a page never waits for it. The turn runner asks the
record (llm_client.Health) which providers to skip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import openai

from config import Settings, display_url
from errors import ErrorInfo
from events import utc_iso
from llm_client import LLMClient, ModelListError, targets_for

_log = logging.getLogger(__name__)

State = Literal["unknown", "up", "down"]
DOWN_KINDS = frozenset({"connection", "timeout", "server", "local_crashed"})  # failures that say it does not answer
CHECK_TIMEOUT = 5.0  # seconds a check may take to connect and to answer
STALE_SECONDS = 60.0  # a page that opens asks for a check when the last one is older than this
ERROR_CHARS = 200  # of an error's message, kept to show


def _key(url: str) -> str:
    return url.rstrip("/")


@dataclass(frozen=True)
class Endpoint:
    """One provider to check: its base URL (the record's key), how it may be shown, the models it serves here."""

    url: str
    shown: str
    models: tuple[str, ...]
    client: LLMClient


def endpoints(settings: Settings) -> list[Endpoint]:
    """The distinct providers of the configured model and its fallbacks (llm_client.targets_for), in their order.
    The primary is left out where there is nothing to reach yet (the embedded demo model, a provider not set up)."""
    targets = targets_for(settings)
    unreachable = settings.is_local or settings.needs_setup
    found: dict[str, Endpoint] = {}
    for target in targets:
        if unreachable and target.client is targets[0].client:
            continue
        url = _key(target.client.base_url)
        known = found.get(url)
        models = (*known.models, target.model) if known else (target.model,)
        found[url] = Endpoint(url, display_url(url), tuple(dict.fromkeys(models)), target.client)
    return list(found.values())


@dataclass(frozen=True)
class Status:
    """What is known of one provider."""

    state: State = "unknown"
    latency_ms: int | None = None  # of the last check that got an answer
    checked_at: str | None = None  # the last check, UTC ISO 8601
    error_kind: str | None = None  # the last error: its errors.py kind, a short redacted message, when
    error: str | None = None
    error_at: str | None = None
    down_since: str | None = None


def probe(client: LLMClient) -> tuple[int, ErrorInfo | None]:
    """One GET /models within CHECK_TIMEOUT: how long it took (ms) and how it failed (None: a model list came)."""
    quick = client.with_timeout(CHECK_TIMEOUT)
    started = time.monotonic()
    try:
        quick.list_models()
        error = None
    except ModelListError as failure:
        error = replace(quick.classify(failure), kind="bad_response")
    except (openai.APIError, OSError) as failure:
        error = quick.classify(failure)
    return round((time.monotonic() - started) * 1000), error


class HealthRecord:
    """The providers' states, shared by every session and thread of the app process (a lock guards them)."""

    def __init__(self, now: Callable[[], str] = utc_iso) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._watched: list[Endpoint] = []
        self._status: dict[str, Status] = {}
        self.last_check = 0.0  # time.monotonic() of the last full check; 0: never

    def watch(self, found: Sequence[Endpoint]) -> None:
        """The providers to check from now on; what is known of each one stays."""
        with self._lock:
            self._watched = list(found)

    def watched(self) -> list[Endpoint]:
        with self._lock:
            return list(self._watched)

    def statuses(self) -> list[tuple[Endpoint, Status]]:
        with self._lock:
            return [(endpoint, self._status.get(endpoint.url, Status())) for endpoint in self._watched]

    def status(self, endpoint: str) -> Status:
        with self._lock:
            return self._status.get(_key(endpoint), Status())

    def down_since(self, endpoint: str) -> str | None:
        """When a watched provider went down; None when it is not known to be down."""
        return self.status(endpoint).down_since

    def note_call(self, endpoint: str, error: ErrorInfo | None) -> None:
        """A real call's outcome: a connection error, timeout or 5xx puts the provider down; an answer brings it up."""
        self._update(_key(endpoint), error, latency_ms=None)

    def note_check(self, endpoint: str, latency_ms: int, error: ErrorInfo | None) -> None:
        self._update(_key(endpoint), error, latency_ms, checked=True)

    def _update(self, url: str, error: ErrorInfo | None, latency_ms: int | None, checked: bool = False) -> None:
        now = self.now()
        with self._lock:
            if url not in {endpoint.url for endpoint in self._watched}:
                return  # a provider nobody configured (a key typed in one session): not kept
            old = self._status.get(url, Status())
            down = error is not None and error.kind in DOWN_KINDS
            new = replace(old, state="down" if down else "up", down_since=(old.down_since or now) if down else None)
            if checked:
                new = replace(new, checked_at=now, latency_ms=None if down else latency_ms)
            if error is not None:
                new = replace(new, error_kind=error.kind, error=error.detail[:ERROR_CHARS], error_at=now)
            self._status[url] = new


class HealthChecker:
    """The one background checker of an app process: checks every ``minutes`` (0: only when asked), soon after
    ``page_opened`` when the last check is older than STALE_SECONDS, and soon after ``request_check``."""

    def __init__(
        self, record: HealthRecord, minutes: int, check: Callable[[LLMClient], tuple[int, ErrorInfo | None]] = probe
    ) -> None:
        self.record, self.minutes, self.check = record, minutes, check
        self._wake, self._stopped = threading.Event(), threading.Event()
        self._asked = threading.Event()  # "check now" was pressed and its round has not ended yet
        self._starting = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="provider-health", daemon=True)

    def start(self) -> HealthChecker:
        """Starts the thread when checks are on (with checks off, the first ``request_check`` starts it)."""
        if self.minutes > 0:
            self._start_once()
        return self

    def _start_once(self) -> None:
        with self._starting:
            if not self._thread.is_alive() and not self._stopped.is_set():
                self._thread.start()

    @property
    def checking(self) -> bool:
        """Whether a check someone asked for ("check now") has not ended yet."""
        return self._asked.is_set()

    def request_check(self) -> None:
        """The "check now" button: the thread checks every provider soon; the page that asked never waits for it."""
        self._asked.set()
        self._wake.set()
        self._start_once()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def page_opened(self) -> None:
        """A page run: ask the thread for a check when the last one is stale (never waits for it)."""
        if self.minutes > 0 and time.monotonic() - self.record.last_check > STALE_SECONDS:
            self._wake.set()

    def check_all(self) -> None:
        """Checks every watched provider now, one after the other (each within CHECK_TIMEOUT): the thread's round."""
        try:
            for endpoint in self.record.watched():
                latency, error = self.check(endpoint.client)
                if error is not None:
                    _log.warning("health check of %s failed: %s", endpoint.shown, error.kind)
                self.record.note_check(endpoint.url, latency, error)
        finally:  # a round that failed still counts: pages do not wake the thread again at once
            self.record.last_check = time.monotonic()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.minutes * 60 if self.minutes > 0 else None)
            self._wake.clear()
            if self._stopped.is_set():
                return
            answering = self._asked.is_set()  # one asked for during the round wakes the thread for the next
            try:
                self.check_all()
            except Exception:  # noqa: BLE001 - the checker must outlive any one check's surprise
                _log.exception("health check round failed")
            if answering:
                self._asked.clear()
