"""OpenAI-compatible servers already running on this machine (Ollama, LM Studio, llama.cpp server, vLLM).

With no key and no base URL the app looks for them as Open WebUI does: ``GET /v1/models`` on each of
LOCAL_SERVERS' ports, on 127.0.0.1 and nowhere else (a port is all the setting holds; redirects are not
followed and no proxy is used), all ports at once, in a background thread, with a short timeout. The page
never waits for it: ``Detector.snapshot`` says what is known now. A server counts as found when it lists a
chat model without being given a key, so the app's own demo server (an ephemeral port, a random key) never is.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from config import PROVIDER_PRESETS, LocalPort
from llm_client import SPEECH_MODEL_WORDS

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PROBE_SECONDS = 0.5  # to connect, and for each read (the whole answer: twice it): a local server answers within it
MAX_MODELS_BYTES = 1_000_000  # a model list is a few KB; more is not one

# Models a server lists that cannot chat, by what their ids say (Ollama, LM Studio, vLLM and llama.cpp name
# them after the model files): each pattern with what it catches.
NOT_FOR_CHAT: tuple[tuple[str, str], ...] = (
    (r"embed", "embeddings: nomic-embed-text, mxbai-embed-large, text-embedding-3-small"),
    (r"(^|[/:_-])(bge|gte|e5|minilm|all-minilm)([/:_.-]|$)", "embedding families named without 'embed'"),
    (r"rerank", "rerankers: bge-reranker, jina-reranker"),
    ("|".join(SPEECH_MODEL_WORDS), "speech to text"),
    (r"(^|[/:_-])tts([/:_.-]|$)|kokoro|piper", "text to speech"),
    (r"moderation|guard", "safety classifiers"),
    (r"dall-e|stable-diffusion|sdxl|flux", "image generators"),
)
_NOT_FOR_CHAT = re.compile("|".join(f"(?:{pattern})" for pattern, _ in NOT_FOR_CHAT), re.IGNORECASE)


def can_chat(model_id: str) -> bool:
    """Whether a listed model looks like one to chat with (see NOT_FOR_CHAT)."""
    return _NOT_FOR_CHAT.search(model_id) is None


def chat_first(models: list[str]) -> list[str]:
    """The same models, those that look like chat models first (each group in its order): for a picker that still
    offers the others, as the user may know better than NOT_FOR_CHAT."""
    return sorted(models, key=lambda model: not can_chat(model))


def loopback_url(port: int) -> str:
    """The base URL of a server on this machine: only a port goes in, the host is always 127.0.0.1."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"not a port: {port!r}")
    return f"http://{LOOPBACK}:{port}/v1"


@dataclass(frozen=True)
class FoundServer:
    """A server that answered with at least one chat model."""

    preset: str  # its key in config.PROVIDER_PRESETS
    port: int
    models: tuple[str, ...]  # the chat models it lists, in its order

    @property
    def label(self) -> str:
        return PROVIDER_PRESETS[self.preset].label

    @property
    def base_url(self) -> str:
        return loopback_url(self.port)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def serves(self, endpoint: str) -> bool:
        """Whether ``endpoint`` (a Settings.endpoint) is this server: by its address, never by a model's name."""
        return endpoint.rstrip("/") == self.base_url


@dataclass(frozen=True)
class Snapshot:
    """What is known now. ``pending``: no look has finished yet; a later look keeps the last result until it ends."""

    pending: bool
    found: tuple[FoundServer, ...] = ()  # in LOCAL_SERVERS' order

    def first(self, not_port: int | None = None) -> FoundServer | None:
        """The server to use: the first found, never one on ``not_port`` (the app's own demo server)."""
        return next((server for server in self.found if server.port != not_port), None)


def chat_models(answer: object) -> tuple[str, ...]:
    """The chat models of a GET /models answer (``data[].id``); nothing when it is not such a list."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        return ()
    ids = (item.get("id") for item in data if isinstance(item, dict))
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and i.strip() and can_chat(i)))


def _read_capped(response: httpx.Response, deadline: float) -> bytes | None:
    """The body, or None once it passes MAX_MODELS_BYTES or ``deadline`` (time.monotonic()): a port that trickles
    bytes or never ends its body must not hold a probe for longer than its deadline (plus one read's timeout)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_MODELS_BYTES:
        return None
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > MAX_MODELS_BYTES or time.monotonic() > deadline:
            return None
    return bytes(body)


def probe(local: LocalPort, timeout: float = PROBE_SECONDS) -> FoundServer | None:
    """Asks one port of 127.0.0.1 for its models, without a key; None unless it lists a chat model. Ends within
    ``3 * timeout``: connecting and each read take at most ``timeout``, the whole answer at most ``2 * timeout``."""
    url = f"{loopback_url(local.port)}/models"
    deadline = time.monotonic() + 2 * timeout
    try:
        with (
            httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            body = _read_capped(response, deadline) if response.status_code == 200 else None
        models = chat_models(json.loads(body)) if body is not None else ()
    except (httpx.HTTPError, OSError, ValueError):
        return None
    return FoundServer(local.preset, local.port, models) if models else None


def probe_all(ports: tuple[LocalPort, ...], timeout: float = PROBE_SECONDS) -> tuple[FoundServer, ...]:
    """Every port at once; a port that has not answered in time counts as nothing there. Returns once every probe
    has ended (each does within ``3 * timeout``, see ``probe``), so no probe outlives the look that started it."""
    if not ports:
        return ()
    with ThreadPoolExecutor(max_workers=len(ports), thread_name_prefix="local-servers-probe") as pool:
        answers = list(pool.map(lambda local: probe(local, timeout), ports))
    return tuple(server for server in answers if server is not None)


class Detector:
    """The look for local servers of one app process: ``refresh`` starts one in the background when the last is
    older than it allows (so a server started after the app is found later), ``snapshot`` never waits."""

    def __init__(self, ports: tuple[LocalPort, ...], timeout: float = PROBE_SECONDS) -> None:
        self.ports = ports
        self.timeout = timeout
        self._lock = threading.Lock()
        self._found: tuple[FoundServer, ...] | None = None  # None until a look has finished
        self._started: float | None = None  # time.monotonic() of the last look's start
        self._running = False

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._found is None, self._found or ())

    def refresh(self, max_age: float) -> None:
        """Starts a look unless one is running or the last began less than ``max_age`` seconds ago."""
        with self._lock:
            now = time.monotonic()
            if self._running or (self._started is not None and now - self._started < max_age):
                return
            self._running, self._started = True, now
        threading.Thread(target=self._look, name="local-servers", daemon=True).start()

    def _look(self) -> None:
        log.info("looking for local servers on %s", ", ".join(f"{loopback_url(p.port)}/models" for p in self.ports))
        found: tuple[FoundServer, ...] = ()
        try:
            found = probe_all(self.ports, self.timeout)
        finally:  # even a look that failed has finished: nothing found
            with self._lock:
                self._found, self._running = found, False
