"""The streaming client and the turn runner (retries, rate limit, fallback models, the tool loop).

``LLMClient`` talks to one OpenAI-compatible service through the official SDK and reads the raw
reply itself: every chunk, in whatever shape the provider sends it, is normalised by
stream_assembly (which also assembles tool calls) and only then turned into the typed events of
events.py, so a provider's quirks never reach the SDK's strict parsers. A stream that ends without
a finish reason (a cut connection) is an interruption, never a normal end.

``TurnRunner`` runs one turn over a chain of targets (primary model, then fallbacks): it retries
what is retryable before any text was shown, waits for the client-side rate limit, switches to the
next target when one keeps failing, trims the context once when it is too long, and loops through
tool calls up to a bound.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import openai
import pydantic
from openai.types import CompletionUsage

from chat_params import ChatParams, request_fields
from config import NO_KEY_PLACEHOLDER, Settings, display_url, hide_secrets, redact
from errors import ErrorInfo, classify, from_provider
from events import (
    AlternativeDelta,
    AnsweredFromCache,
    ApprovalNeeded,
    CallLogged,
    CallRecord,
    ContextTrimmed,
    FallbackUsed,
    Finished,
    Interrupted,
    ProviderSkipped,
    ReasoningDelta,
    RefusalDelta,
    RequestSent,
    ResponseSampled,
    Retrying,
    RoundTraced,
    StreamEvent,
    TextDelta,
    TokenLogprobs,
    ToolCallStarted,
    ToolResult,
    UsageReported,
    Waiting,
    utc_iso,
)
from function_tools import ToolCall, ToolExecutor, ToolOutcome
from provider_dialects import assistant_message, outgoing
from rate_limiter import RateLimiter
from retry_policy import RETRYABLE_KINDS, RetryPolicy
from stream_assembly import Payload, ToolCallAssembler, normalize, read_payloads
from token_tracker import Cost, Usage, count_messages, estimate_usage, usage_from_api
from wire_trace import RoundTrace, TraceBudget, TraceTape, useful_headers

if TYPE_CHECKING:
    import httpx2

_log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    error: ErrorInfo | None = None
    shown: bool = False  # text or reasoning reached the user: never retried silently
    reasoning: str = ""  # kept to send back where the provider needs it (provider_dialects)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # opaque fields per tool call id


SAMPLE_HEAD, SAMPLE_TAIL = 8, 3  # chunks of a response kept for the "what came back" view


def _usage_of(raw: dict[str, Any] | None) -> CompletionUsage | None:
    """A provider's usage object, read leniently (nulls and missing totals are zeros); None if unreadable."""
    if raw is None:
        return None
    counts = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    try:
        return CompletionUsage.model_validate(counts | {k: v for k, v in raw.items() if v is not None})
    except pydantic.ValidationError:
        return None


def build_body(
    messages: Sequence[dict[str, Any]], params: ChatParams, tools: Sequence[dict[str, Any]], stream: bool = True
) -> dict[str, Any]:
    """The request body, kept as plain JSON so the UI can show exactly what goes over the wire."""
    body: dict[str, Any] = {"model": params.model, "messages": outgoing(messages, params.model), "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = copy.deepcopy(list(tools))
    return body | request_fields(params, bool(tools))


# Called with the size of every line read (comments and keep-alives too) and the characters of text and
# reasoning shown: an error stops the reply there.
LineGuard = Callable[[int, int], "ErrorInfo | None"]


class _LimitReached(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.detail)
        self.error = error


def _guarded(lines: Iterator[str], guard: LineGuard | None) -> Iterator[str]:
    for line in lines:
        if guard is not None and (error := guard(len(line) + 1, 0)) is not None:
            raise _LimitReached(error)
        yield line


class _Round:
    """One call's reply as it arrives: normalised pieces become events; tool calls, usage and samples pile up."""

    def __init__(self, body: dict[str, Any], live: bool, secret: str, guard: LineGuard | None = None) -> None:
        self.body, self.live, self.secret, self.guard = body, live, secret, guard
        self.result = RoundResult()
        self.tools = ToolCallAssembler()
        self.usage: dict[str, Any] | None = None
        self.answered = False  # anything but usage arrived: text, reasoning, a refusal, a tool call, a finish
        self.head: list[dict[str, Any]] = []
        self.tail: deque[dict[str, Any]] = deque(maxlen=SAMPLE_TAIL)
        self.count = 0

    def take(self, payload: Payload) -> Iterator[StreamEvent]:
        """Events for one received value; a provider's error ends the round (``result.error``)."""
        self.count += 1
        (self.head if len(self.head) < SAMPLE_HEAD else self.tail).append(payload.sample())
        piece = normalize(payload)
        result = self.result
        if piece.problem is not None:
            result.error = from_provider(piece.problem, self.secret)
            return
        self.usage = piece.usage or self.usage  # cumulative where sent on every chunk: the last one counts
        result.reasoning += piece.reasoning
        result.text += piece.text
        for fragment in piece.tool_calls:
            self.tools.add(fragment)
        result.finish_reason = piece.finish_reason or result.finish_reason
        parts = (ReasoningDelta(piece.reasoning), RefusalDelta(piece.refusal), TextDelta(piece.text))
        shown: list[StreamEvent] = [part for part in parts if part.text]
        shown += [AlternativeDelta(index, text) for index, text in sorted(piece.alternatives.items())]
        shown += [TokenLogprobs(piece.logprobs)] if piece.logprobs else []
        self.answered = self.answered or bool(shown or piece.tool_calls or piece.finish_reason)
        if self.live and shown:
            result.shown = True
            yield from shown
            chars = len(piece.reasoning) + len(piece.text) + sum(map(len, piece.alternatives.values()))
            if self.guard is not None and (error := self.guard(0, chars)) is not None:
                raise _LimitReached(error)

    def stop(self, error: ErrorInfo) -> Iterator[StreamEvent]:
        """Stopped by us (a reply limit): what arrived stays, the stream is closed, nothing is retried."""
        self.result.error = error
        self.result.shown = True
        if self.count:
            yield self.sample()
        yield self.usage_event(self.result.reasoning)

    def fail(self, error: ErrorInfo) -> Iterator[StreamEvent]:
        """A transport or SDK failure: what was shown stays, and is never silently retried."""
        result = self.result
        result.error = error
        if self.count:
            yield self.sample()
        if result.shown:
            result.error = replace(error, kind="stalled" if error.kind == "timeout" else "stream_cut")
            yield self.usage_event()

    def end(self) -> Iterator[StreamEvent]:
        """After the last value: settle tool calls, the finish, the sample and usage."""
        result = self.result
        yield self.sample()
        if result.error is not None:  # the provider's own error, in its words
            if result.shown:
                yield self.usage_event()
            return
        calls, result.extras, nameless = self.tools.result()
        if not self.answered:
            result.error = ErrorInfo("bad_response", "the reply held no answer (no choices, no text, no finish)")
            return
        result.tool_calls = calls
        if nameless:
            result.error, result.tool_calls = ErrorInfo("bad_response", "; ".join(nameless)), []
            result.shown = result.shown or bool(result.text)
            return
        if result.finish_reason is None and not self.live:
            result.finish_reason = "tool_calls" if calls else "stop"  # a whole reply that just left it out
        yield self.usage_event()
        if result.finish_reason is None:
            result.error = ErrorInfo("stream_cut", "the stream ended without a finish_reason")
            result.shown = True

    def sample(self) -> ResponseSampled:
        return ResponseSampled([*self.head, *self.tail], self.count)

    def usage_event(self, unreported: str = "") -> UsageReported:
        """The provider's usage, or an estimate counting the text, the tool calls and ``unreported``."""
        model = self.body["model"]
        api_usage = _usage_of(self.usage)
        if api_usage is not None:
            return UsageReported(usage_from_api(api_usage), model)
        result = self.result
        completion = unreported + result.text + "".join(call.name + call.arguments for call in result.tool_calls)
        usage = estimate_usage(self.body["messages"], completion, model, self.body.get("tools") or [])
        return UsageReported(usage, model)


class ModelListError(RuntimeError):
    """GET /models answered with something that is not a model list (an HTML page, a bare error)."""


class SideCallFailed(RuntimeError):
    """A call beside the chat's replies failed; ``error`` says how, in a kind the UI has words for (and the usage
    log's row its outcome: _Attempt.logged)."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.detail)
        self.error = error


class TranscriptionFailed(SideCallFailed):
    """POST /audio/transcriptions failed."""


class ModerationFailed(SideCallFailed):
    """POST /moderations was offered but failed (a timeout, a refused key, an unreadable answer)."""


NOT_OFFERED_STATUSES = frozenset({404, 405, 501})  # a provider without POST /moderations answers one of these
MODERATION_TIMEOUT = 10.0  # seconds to connect and between bytes: the message waits for the check


@dataclass(frozen=True)
class Moderation:
    """What POST /moderations said of one text: each category's score, the ones it flagged, and the usage it reported
    (OpenAI reports none). ``offered`` False: the provider has no such endpoint (it answered 404, 405 or 501)."""

    offered: bool
    flagged: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    model: str = ""
    usage: CompletionUsage | None = None


SPEECH_MODEL_WORDS = ("whisper", "transcribe")
MAX_AUDIO_BYTES = 25 * 2**20  # what OpenAI's /audio/transcriptions takes in one file; a longer recording is not sent


def speech_model(listed: Sequence[str], wanted: str) -> str | None:
    """The model the microphone transcribes with, where the provider offers one; None hides the microphone.

    ``wanted`` is TRANSCRIPTION_MODEL: a model name counts where the provider lists it; "auto" takes whisper-1,
    else the first listed whisper or transcribe model; anything else (off) none."""
    if wanted != "auto":
        return wanted if wanted in listed else None
    if "whisper-1" in listed:
        return "whisper-1"
    return next((model for model in listed if any(word in model.lower() for word in SPEECH_MODEL_WORDS)), None)


MAX_SHARED_CLIENTS = 32  # SDK clients kept for reuse (provider x key x timeouts); the least recently used goes
_SHARED: OrderedDict[tuple[object, ...], openai.OpenAI] = OrderedDict()
_SHARED_LOCK = threading.Lock()
# What the SDK reads from the environment when it is made (base_url None takes OPENAI_BASE_URL): part of the key.
_SDK_ENVIRONMENT = ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")


def shared_client(api_key: str, base_url: str | None, read_timeout: float, connect_timeout: float) -> openai.OpenAI:
    """One SDK client per provider, key and timeouts, reused by every turn, thread and session of the process:
    making one makes a new httpx client and SSL context (18-37 ms of CPU per reply) and forgets its open
    connections. httpx clients are safe to share between threads. Kept under a digest of the key, never the key."""
    digest = hashlib.blake2b(api_key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    key = (base_url, digest, read_timeout, connect_timeout, *(os.environ.get(name) for name in _SDK_ENVIRONMENT))
    with _SHARED_LOCK:
        client = _SHARED.get(key)
        if client is not None:
            _SHARED.move_to_end(key)
            return client
        client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout),
            max_retries=0,
        )
        _SHARED[key] = client
        if len(_SHARED) > MAX_SHARED_CLIENTS:
            _SHARED.popitem(last=False)  # not closed: a turn may still be streaming on it; its pool goes with it
        return client


class LLMClient:
    """One configured connection to a provider. The SDK's retries are off: RetryPolicy decides."""

    def __init__(
        self, api_key: str, base_url: str | None, read_timeout: float = 60.0, connect_timeout: float = 10.0
    ) -> None:
        self._api_key = api_key
        self._client = shared_client(api_key, base_url, read_timeout, connect_timeout)

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def with_timeout(self, seconds: float) -> LLMClient:
        """The same connection (key, provider, pool) with its own timeout, for a call that must not wait long."""
        quick = copy.copy(self)
        quick._client = self._client.with_options(timeout=openai.Timeout(seconds))
        return quick

    def classify(self, error: BaseException) -> ErrorInfo:
        """A failure of a call made with this client, as an ErrorInfo with this client's key taken out of it."""
        return classify(error, self._api_key)

    def list_models(self) -> list[str]:
        """Model ids from GET /models; an empty list where a provider lists nothing.

        Raises ModelListError, with what came back, when the answer is not a model list.
        """
        text = self._client.models.with_raw_response.list().http_response.text
        try:
            listing = json.loads(text)
        except ValueError:
            raise ModelListError(f"GET /models did not answer JSON: {text.strip()[:120]!r}") from None
        if isinstance(listing, dict):
            listing = listing.get("data", listing.get("models"))
        if not isinstance(listing, list):
            raise ModelListError(f"GET /models did not answer a model list: {text.strip()[:120]!r}")
        ids = [item.get("id") or item.get("name") for item in listing if isinstance(item, dict)]
        return sorted(str(model_id) for model_id in ids if model_id)

    def transcribe(self, audio: bytes, filename: str, model: str, log: list[CallRecord] | None = None) -> str:
        """The words spoken in a recording, through POST /audio/transcriptions (whisper-1 and the like).

        Raises TranscriptionFailed with the error's kind and detail (key scrubbed), so the UI can explain it; a
        recording over MAX_AUDIO_BYTES is refused before anything is sent. ``log`` gets the call's usage log row
        (unpriced) once a request went, whatever came of it."""
        if len(audio) > MAX_AUDIO_BYTES:
            detail = f"the recording has {len(audio)} bytes; POST /audio/transcriptions takes {MAX_AUDIO_BYTES}"
            raise TranscriptionFailed(ErrorInfo("audio_too_large", detail))
        attempt = _Attempt.start("transcription", self.base_url, model)
        with attempt.logged(log):
            try:
                response = self._client.audio.transcriptions.with_raw_response.create(
                    model=model, file=(filename, audio)
                )
            except openai.APIError as error:
                raise TranscriptionFailed(self.classify(error)) from None
            text = response.http_response.text
            try:
                answer = json.loads(text)
            except ValueError:
                answer = None
            spoken = answer.get("text") if isinstance(answer, dict) else None
            if not isinstance(spoken, str):
                detail = f"POST /audio/transcriptions did not answer a transcript: {text.strip()[:120]!r}"
                raise TranscriptionFailed(ErrorInfo("bad_response", redact(detail, self._api_key)))
            attempt.usage = transcription_usage(answer.get("usage"))
            return spoken.strip()

    def moderate(self, text: str, model: str, log: list[CallRecord] | None = None) -> Moderation:
        """The provider's moderation model's verdict on ``text`` (POST /moderations), read leniently, within
        MODERATION_TIMEOUT; a provider without the endpoint gives ``Moderation(offered=False)``. Raises
        ModerationFailed for any other failure. ``log`` gets the call's usage log row (unpriced), whatever came
        of it."""
        attempt = _Attempt.start("moderation", self.base_url, model)
        with attempt.logged(log):
            try:
                quick = self.with_timeout(MODERATION_TIMEOUT)._client
                response = quick.moderations.with_raw_response.create(model=model, input=text)
                answer = _moderation(response.http_response.text, model, self._api_key)
                attempt.usage = usage_from_api(answer.usage) if answer.usage is not None else None
                return answer
            except openai.APIError as error:
                info = self.classify(error)
                if isinstance(error, openai.APIStatusError) and error.status_code in NOT_OFFERED_STATUSES:
                    attempt.outcome = info.kind
                    return Moderation(offered=False)
                raise ModerationFailed(info) from None

    def stream_round(
        self, body: dict[str, Any], guard: LineGuard | None = None, tape: TraceTape | None = None
    ) -> Generator[StreamEvent, None, RoundResult]:
        """One streamed API call: yields deltas as they arrive; returns what the round produced. With a ``tape``,
        the round is recorded as it was on the wire and ends with a RoundTraced event."""
        return (yield from self._round(body, live=True, guard=guard, tape=tape))

    def complete_round(
        self, body: dict[str, Any], guard: LineGuard | None = None, tape: TraceTape | None = None
    ) -> Generator[StreamEvent, None, RoundResult]:
        """A non-stream call (the tool decision for servers that cannot stream tool calls, summaries)."""
        return (yield from self._round(body, live=False, guard=guard, tape=tape))

    def _round(
        self, body: dict[str, Any], live: bool, guard: LineGuard | None, tape: TraceTape | None
    ) -> Generator[StreamEvent, None, RoundResult]:
        """The SDK makes the request; the reply's lines are read raw, so no provider quirk reaches its parsers."""
        reading = _Round(body, live, self._api_key, guard)
        yield from self._read(reading, tape)
        if tape is not None:
            yield RoundTraced(_sealed(tape, reading.result, self._api_key))
        return reading.result

    def _read(self, reading: _Round, tape: TraceTape | None) -> Iterator[StreamEvent]:
        try:
            # The messages go as they are (extra_body, in their place in the body): the SDK's typed walk of them
            # (maybe_transform) changes nothing in chat messages and took ~0.3 s for a long chat's 2,700.
            body = reading.body | {"messages": []}
            extra = {"messages": reading.body["messages"]}
            with self._client.chat.completions.with_streaming_response.create(**body, extra_body=extra) as response:
                lines = response.iter_lines()
                if tape is not None:
                    _tape_response(tape, response.http_response, self._api_key)
                    lines = _taped(lines, tape, self._api_key)
                for payload in read_payloads(_guarded(lines, reading.guard)):
                    yield from reading.take(payload)
                    if reading.result.error is not None:
                        break
        except _LimitReached as reached:
            yield from reading.stop(reached.error)
            return
        except Exception as error:  # noqa: BLE001 - SDK errors and transport faults, mapped to a kind
            if tape is not None:
                _tape_failure(tape, error, self._api_key)
            yield from reading.fail(self.classify(error))
            return
        yield from reading.end()


# --- the wire trace of a round (wire_trace.py): exactly what went and came, never the key -------------------


def _keys(secret: str) -> tuple[str, ...]:
    """The client's key as a secret to hide from a trace: none when it is the placeholder a keyless server gets."""
    return () if secret == NO_KEY_PLACEHOLDER else (secret,)


def _scrubbed(text: str, secret: str) -> str:
    """The text as it was on the wire, but for the key (a gateway may echo it in an error)."""
    return hide_secrets(text, *_keys(secret))


def endpoint(url: str, *secrets: str) -> str:
    """Where a request goes, as a trace shows it and the response cache's key takes it: display_url's scheme, host and
    port, then the path (which display_url leaves out, but a gateway may serve several providers under one host)
    without a trailing slash; no user:password, no query string, nothing key-shaped and none of ``secrets``."""
    return redact(display_url(url) + urlsplit(url).path.rstrip("/"), *secrets)


def _tape_request(tape: TraceTape, request: httpx2.Request, secret: str) -> None:
    """The request's method, where it went (``endpoint``) and its body byte for byte. Its headers, the key among
    them, are never kept."""
    tape.trace.method = request.method
    tape.trace.url = endpoint(str(request.url), *_keys(secret))
    tape.trace.request_body = _scrubbed(request.content.decode("utf-8", "replace"), secret)


def _tape_response(tape: TraceTape, response: httpx2.Response, secret: str) -> None:
    _tape_request(tape, response.request, secret)
    tape.trace.status = response.status_code
    tape.trace.headers = useful_headers(response.headers)


def _taped(lines: Iterator[str], tape: TraceTape, secret: str) -> Iterator[str]:
    for line in lines:
        tape.line(_scrubbed(line, secret))
        yield line


def _tape_failure(tape: TraceTape, error: Exception, secret: str) -> None:
    """What a failed request left: the request, when it went out, and an error response's status, headers and
    body (the SDK has read it whole). Gateways echo credentials in error bodies (a URL's user:password or
    ?key=, another key), so these lines are redacted like any error text, not only of this client's key."""
    if isinstance(error, openai.APIStatusError):
        _tape_response(tape, error.response, secret)
        for line in error.response.text.splitlines():
            tape.line(redact(line, *_keys(secret)))
    elif isinstance(error, openai.APIError) and not tape.trace.url:
        _tape_request(tape, error.request, secret)


def _sealed(tape: TraceTape, result: RoundResult, secret: str) -> RoundTrace:
    """The round's trace with what ended it. A round that asked for tools is a "tools" round, streamed or not."""
    if result.tool_calls:
        tape.trace.purpose = "tools"
    error = result.error
    return tape.finish(f"{error.kind}: {redact(error.detail, secret)}" if error else None)


def _moderation(text: str, model: str, secret: str) -> Moderation:
    """A /moderations answer ({"model", "results": [{"flagged", "categories", "category_scores"}], maybe "usage"})."""
    try:
        answer = json.loads(text)
        result = answer["results"][0]
        scores = {str(name): float(score) for name, score in (result.get("category_scores") or {}).items()}
        flagged = tuple(str(name) for name, on in (result.get("categories") or {}).items() if on is True)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        detail = f"POST /moderations did not answer a moderation result: {text.strip()[:120]!r}"
        raise ModerationFailed(ErrorInfo("bad_response", redact(detail, secret))) from None
    if result.get("flagged") is True and not flagged:  # flagged, with no category named: say so all the same
        flagged = ("flagged",)
    usage = _usage_of(answer.get("usage")) if isinstance(answer.get("usage"), dict) else None
    return Moderation(True, flagged, scores, str(answer.get("model") or model), usage)


def drain(round_call: Generator[StreamEvent, None, RoundResult]) -> tuple[list[StreamEvent], RoundResult]:
    """Run a round to its end outside a turn: its events, and its result."""
    events: list[StreamEvent] = []
    while True:
        try:
            events.append(next(round_call))
        except StopIteration as done:
            return events, done.value


def summarize(
    target: Target,
    messages: list[dict[str, Any]],
    max_tokens: int = 600,
    tape: TraceTape | None = None,
    log: list[CallRecord] | None = None,
) -> tuple[str, UsageReported]:
    """One non-stream call that writes a summary; SummaryFailed says why it could not. A ``tape`` records it; ``log``
    gets its usage log row (unpriced), failed or not."""
    result, usage = _side_round(target, messages, max_tokens, tape, log, "summary")
    if result.error is not None or not result.text.strip() or usage is None:
        raise SummaryFailed(result.error.kind if result.error else "empty summary")
    return result.text.strip(), usage


class SummaryFailed(RuntimeError):
    """The summary call failed; the turn goes on with plain trimming."""


def _side_round(
    target: Target,
    messages: list[dict[str, Any]],
    max_tokens: int,
    tape: TraceTape | None,
    log: list[CallRecord] | None = None,
    kind: str = "",
) -> tuple[RoundResult, UsageReported | None]:
    """A call beside the turn (a summary, a title): one non-stream request at a low temperature, no tools, no
    retries (the chat is fine without it); its result and the usage the provider reported. ``log`` gets its usage log
    row (of ``kind``)."""
    body = build_body(messages, ChatParams(target.model, 0.2, max_tokens), [], stream=False)
    attempt = _Attempt.start(kind, target.client.base_url, target.model)
    events, result = drain(target.client.complete_round(body, tape=tape))
    usage = next((e for e in events if isinstance(e, UsageReported)), None)
    attempt.usage = usage.usage if usage else None
    if log is not None:
        log.append(attempt.record(result.error.kind if result.error else "ok"))
    return result, usage


TITLE_MAX_TOKENS = 24  # about 6 words or 12 Chinese characters, with room for a model's stray quote
TITLE_TIMEOUT = 10.0  # seconds to connect and between bytes: the page waits for the title, the chat does not need it


def write_title(
    target: Target,
    messages: list[dict[str, Any]],
    max_chars: int,
    tape: TraceTape | None = None,
) -> tuple[str, CallRecord]:
    """One short non-stream call that names a chat, within TITLE_TIMEOUT: the title cleaned (``clean_title``) and the
    call's usage log row (unpriced; its usage estimated where the provider reports none). TitleFailed says why there
    is none and carries the row of the call that gave none."""
    quick = replace(target, client=target.client.with_timeout(TITLE_TIMEOUT))
    rows: list[CallRecord] = []
    result, _ = _side_round(quick, messages, TITLE_MAX_TOKENS, tape, rows, "title")
    (call,) = rows
    if result.error is not None:
        raise TitleFailed(result.error.kind, call)
    cleaned = clean_title(result.text, max_chars)
    if not cleaned:
        raise TitleFailed("empty title", call)
    return cleaned, replace(call, usage=call.usage or estimate_usage(messages, result.text, target.model))


class TitleFailed(RuntimeError):
    """The title call failed or said nothing usable; the chat keeps its title. ``call`` is its usage log row."""

    def __init__(self, why: str, call: CallRecord) -> None:
        super().__init__(why)
        self.call = call


_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)  # a reasoning model's thoughts, closed or cut off
_LINE_MARKS = re.compile(r"^(?:#+|[-*>]|\d+[.)])\s+")  # a heading, a list item, a quote
_LABEL = re.compile(r"^(?:title|标题)\s*[:：]\s*", re.IGNORECASE)
_QUOTES = "\"'`“”‘’「」『』《》【】*_"
_END_PUNCTUATION = ".。!！?？,，;；:：、…-—~ "


def clean_title(text: str, max_chars: int) -> str:
    """A model's title as a chat's: its first line, without thoughts, Markdown marks, a "Title:" label, quotes or
    punctuation at the end, cut to ``max_chars`` (… marks a cut). Empty when nothing is left."""
    shown = _THINKING.sub("", text)
    line = next((part.strip() for part in shown.splitlines() if part.strip()), "")
    line = _LABEL.sub("", _LINE_MARKS.sub("", line)).replace("**", "").replace("`", "")
    line = " ".join(line.strip(_QUOTES + " ").rstrip(_END_PUNCTUATION).strip(_QUOTES + " ").split())
    return line if len(line) <= max_chars else line[:max_chars].rstrip() + "…"


@dataclass(frozen=True)
class ModelList:
    ids: list[str]
    problem: str | None = None  # why no list could be read, in words to show beside the picker


def model_list(api_key: str, base_url: str | None, timeout: float = 5.0) -> ModelList:
    """The provider's model list for the picker, or why there is none (unreachable, not a list)."""
    try:
        return ModelList(LLMClient(api_key, base_url, read_timeout=timeout, connect_timeout=timeout).list_models())
    except ModelListError as error:
        return ModelList([], str(error))
    except (openai.APIError, OSError) as error:
        return ModelList([], classify(error, api_key).detail)


@dataclass(frozen=True)
class Target:
    """One model to answer with. ``stream_tools`` is False for servers (llama.cpp) that cannot."""

    client: LLMClient
    model: str
    stream_tools: bool = True
    # Turns a failed call's error into a better one (the local server: "it crashed", with its log).
    explain: Callable[[ErrorInfo], ErrorInfo] | None = None


# Rebuild the request with fewer old messages after a context-length error: (messages, dropped) or None.
Shrink = Callable[[], tuple[list[dict[str, Any]], int] | None]


# On the wire a streamed character costs up to ~200 bytes (one CJK character per chunk, ids, fingerprints):
# a reply past this many bytes per allowed character is not text arriving, it is a provider gone wrong.
RAW_BYTES_PER_CHAR = 256


REJECTED_TOOL_RESULT = json.dumps({"error": "the user rejected this tool call, so it did not run"})

# Whether a tool call waits for the user's approval before it runs ("ask before running").
AskFirst = Callable[[ToolCall], bool]


@dataclass(frozen=True)
class Approval:
    """The user's word on a tool call that waited: run it (``call`` holds the arguments that run, perhaps edited
    by the user), or not (the model is told the user rejected it)."""

    call: ToolCall
    run: bool


@dataclass(frozen=True)
class ReplyLimits:
    """How long a reply may grow and last (MAX_REPLY_CHARS of text and reasoning, MAX_REPLY_SECONDS from the
    first request): a provider that streams forever is stopped, and what arrived is kept."""

    chars: int
    seconds: float


class Health(Protocol):
    """What the runner asks of the providers' health record (provider_health.HealthRecord), by base URL: whether a
    provider is known to be down (since when, UTC ISO 8601; None: not known to be), and what each real call found."""

    def down_since(self, endpoint: str) -> str | None: ...

    def note_call(self, endpoint: str, error: ErrorInfo | None) -> None: ...


# What a round shows of its answer: what the first token's time waits for, and what a replay from the response cache
# tells again, in order (usage is told as nothing used).
SHOWN = (TextDelta, ReasoningDelta, RefusalDelta, AlternativeDelta, TokenLogprobs)
RoundCall = Callable[[dict[str, Any], LineGuard | None, TraceTape | None], Generator[StreamEvent, None, RoundResult]]


@dataclass(frozen=True)
class RecordedRound:
    """One round's answer as the response cache keeps it: the events it showed (SHOWN, in order), its result
    and the usage the provider reported."""

    shown: tuple[StreamEvent, ...]
    result: RoundResult
    usage: UsageReported


class ReplyCache(Protocol):
    """The response cache (response_cache.ResponseCache), by where a request goes and its body: ``lookup`` gives a
    round recorded for the same request and what it cost then; ``keep`` records a round (it decides which are clean)."""

    def lookup(self, base_url: str, body: dict[str, Any]) -> tuple[RecordedRound, Cost] | None: ...

    def keep(self, base_url: str, body: dict[str, Any], answer: RecordedRound) -> None: ...


def _replayed(answer: RecordedRound, saved: Cost) -> Generator[StreamEvent, None, RoundResult]:
    """A cached round told again as the same events, without a request: nothing is used now, so no tokens."""
    yield AnsweredFromCache(saved)
    yield from answer.shown
    yield UsageReported(Usage(), answer.usage.model)
    return copy.deepcopy(answer.result)


def _noted(
    events: Generator[StreamEvent, None, RoundResult], note: Callable[[StreamEvent], None]
) -> Generator[StreamEvent, None, RoundResult]:
    """A round's events passed on as they come, each noted first; closed with it (the user's Stop)."""
    with closing(events):
        while True:
            try:
                event = next(events)
            except StopIteration as done:
                return done.value
            note(event)
            yield event


class TurnRunner:
    def __init__(
        self,
        targets: Sequence[Target],
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
        limits: ReplyLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        trace_kb: int | None = None,
        health: Health | None = None,
        cache: ReplyCache | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``trace_kb``: record each request's wire trace, keeping this many KB of response lines per reply
        (TRACE_MAX_KB); None: no traces. ``health``: providers known to be down are skipped, every call reported.
        ``clock``: what the reply's time limit is read from; ``timer``: what the usage log's times are measured by."""
        if not targets:
            raise ValueError("a turn needs at least one target")
        self.targets = list(targets)
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.sleep = sleep
        self.jitter = jitter
        self.limits = limits
        self.clock = clock
        self.timer = timer
        self.active = 0
        self.requests = 0
        self.started = 0.0  # when run() began: the reply's time limit counts from there
        self.received_chars = 0
        self.received_bytes = 0
        self.trace_kb = trace_kb
        self.budget: TraceBudget | None = None  # what this run's traces may still keep; None: tracing is off
        self.tape: TraceTape | None = None  # the latest request's
        self.attempt: _Attempt | None = None  # the HTTP attempt under way, for the usage log
        self.health = health
        self.cache = cache  # answers requests sent before (RESPONSE_CACHE); None: every request goes out

    @property
    def target(self) -> Target:
        return self.targets[self.active]

    def _tape(self, stream: bool) -> TraceTape | None:
        """A tape for the request about to go (an answer, or the non-stream tool decision) when tracing is on."""
        if self.budget is None:
            return None
        self.tape = TraceTape(self.requests, "answer" if stream else "tools", self.budget)
        return self.tape

    def unfinished_trace(self) -> RoundTrace | None:
        """The trace of a request the user stopped midway, sealed now; None when every request's is sealed."""
        if self.tape is None or self.tape.finished:
            return None
        return self.tape.finish("stopped: the user stopped the reply")

    def unfinished_call(self) -> CallLogged | None:
        """The usage log's row of a request the user stopped midway; None when every attempt's was logged."""
        attempt, self.attempt = self.attempt, None
        return None if attempt is None else CallLogged(attempt.record("stopped"))

    def _attempt(
        self, round_call: RoundCall, body: dict[str, Any], kind: str
    ) -> Generator[StreamEvent, None, RoundResult]:
        """One HTTP attempt, its events passed on as they come, ending with its row of the usage log (CallLogged).
        Noted on the way: when its first text came, the usage it reported and what it showed, which a response cache
        is offered once the round has ended (it keeps only clean answers)."""
        base_url = self.target.client.base_url
        self.attempt = attempt = _Attempt.start(kind, base_url, body["model"], self.timer)
        shown: list[StreamEvent] | None = [] if self.cache is not None else None  # only a cache wants them kept
        reported: UsageReported | None = None

        def note(event: StreamEvent) -> None:
            nonlocal reported
            if isinstance(event, UsageReported):
                attempt.usage, reported = event.usage, event
            elif isinstance(event, SHOWN):
                if attempt.first is None:
                    attempt.first = attempt.clock()
                if shown is not None:
                    shown.append(event)

        result = yield from _noted(round_call(body, self._guard, self._tape(body["stream"])), note)
        self.attempt = None
        if self.cache is not None and shown is not None and reported is not None:
            self.cache.keep(base_url, body, RecordedRound(tuple(shown), result, reported))
        yield CallLogged(attempt.record(result.error.kind if result.error else "ok"))
        return result

    def _skip_down(self) -> Iterator[StreamEvent]:
        """Passes over targets whose provider the health record knows is down; the last one is tried anyway."""
        while self.health is not None and self.active + 1 < len(self.targets):
            skipped = self.target
            since = self.health.down_since(skipped.client.base_url)
            if since is None:
                return
            self.active += 1
            shown = display_url(skipped.client.base_url)
            _log.warning("skipping %s at %s: down since %s", skipped.model, shown, since)
            yield ProviderSkipped(skipped.model, shown, since, self.target.model)

    def _send(
        self,
        working: list[dict[str, Any]],
        params: ChatParams,
        tools: list[dict[str, Any]],
        stream: bool,
        kind: str = "chat",
    ) -> Generator[StreamEvent, None, RoundResult]:
        """One request with retries, rate limiting and fallback; returns the round's result. ``kind``: what its
        first attempt is for the usage log (chat, tool_round); a retry logs as "retry", a fallback's as "fallback"."""
        attempt = 0
        yield from self._skip_down()
        while True:
            target = self.target
            body = build_body(working, replace(params, model=target.model), tools, stream)
            if (cached := self._cached(target, body)) is not None:
                return (yield from cached)
            if self.limiter is not None:
                wait = self.limiter.reserve(count_messages(working, target.model) + (params.max_tokens or 0))
                if wait > 0:
                    _log.info("rate limit: request to %s waits %.1f s", target.model, wait)
                    yield Waiting(wait)
                    self.sleep(wait)
            self.requests += 1
            _log.info(
                "request round %d: %s at %s (attempt %d)",
                self.requests,
                target.model,
                display_url(target.client.base_url),
                attempt + 1,
            )
            yield RequestSent(body, self.requests)
            round_call: RoundCall = target.client.stream_round if stream else target.client.complete_round
            result = yield from self._attempt(round_call, body, kind)
            if self.health is not None:
                self.health.note_call(target.client.base_url, result.error)
            error = result.error
            why = error and f"{target.model} failed ({error.kind}, HTTP {error.status}: {redact(error.detail)[:200]})"
            if result.error is None or result.shown:
                if result.error is not None:
                    _log.warning("round %d: %s broke off after its text was shown, not retried", self.requests, why)
                return result
            attempt += 1
            jitter = self.jitter() if self.jitter else None
            delay = self.policy.delay(result.error.kind, attempt, result.error.retry_after, jitter)
            if delay is not None:
                _log.warning("round %d: %s, retry %d in %.2f s", self.requests, why, attempt, delay)
                yield Retrying(attempt, delay, result.error)
                self.sleep(delay)
                kind = "retry"
                continue
            if result.error.kind in RETRYABLE_KINDS and self.active + 1 < len(self.targets):
                self.active += 1
                attempt = 0
                _log.warning("round %d: %s, falling back to %s", self.requests, why, self.target.model)
                yield FallbackUsed(self.target.model, target.model, result.error)
                kind = "fallback"
                yield from self._skip_down()
                continue
            given_up = "retries used up" if result.error.kind in RETRYABLE_KINDS else "not retryable"
            _log.warning("round %d: %s, %s", self.requests, why, given_up)
            return result

    def _cached(self, target: Target, body: dict[str, Any]) -> Generator[StreamEvent, None, RoundResult] | None:
        """The recorded answer to this very request, told again, when the cache has one; None: it goes out."""
        hit = self.cache.lookup(target.client.base_url, body) if self.cache is not None else None
        if hit is None:
            return None
        _log.info("round %d: %s answered from the response cache", self.requests, target.model)
        return _replayed(*hit)

    def _guard(self, size: int, chars: int) -> ErrorInfo | None:
        """The reply limits, checked as it arrives. Every line read counts, whatever it carries: keep-alives,
        empty deltas and tool-argument fragments forever are stopped by the time limit, and by a byte budget of
        RAW_BYTES_PER_CHAR per allowed character; text and reasoning shown count against MAX_REPLY_CHARS."""
        self.received_bytes += size
        self.received_chars += chars
        limits = self.limits
        if limits is None:
            return None
        if self.received_bytes > limits.chars * RAW_BYTES_PER_CHAR:
            return ErrorInfo("reply_limit", f"the reply passed {limits.chars * RAW_BYTES_PER_CHAR} bytes on the wire")
        if self.received_chars > limits.chars:
            return ErrorInfo("reply_limit", f"the reply passed MAX_REPLY_CHARS={limits.chars} characters")
        if self.clock() - self.started > limits.seconds:
            return ErrorInfo("reply_limit", f"the reply took longer than MAX_REPLY_SECONDS={limits.seconds:g} s")
        return None

    def run(
        self,
        messages: Sequence[dict[str, Any]],
        params: ChatParams,
        executor: ToolExecutor | None = None,
        max_rounds: int = 5,
        shrink: Shrink | None = None,
        ask: AskFirst | None = None,
        approvals: Sequence[Approval] = (),
    ) -> Generator[StreamEvent, None, None]:
        """Stream, run requested tools, send their results back, stream again, up to ``max_rounds``.

        For a target that cannot stream tool calls the decision is a non-stream call, and the
        answer then streams without tools.

        A call ``ask`` picks waits for the user: the round's other calls run, then the turn ends with
        ApprovalNeeded. ``approvals`` go on from there: ``messages`` end with that round's calls, the waiting ones
        unanswered; each is run or answered that the user rejected it, then the loop goes on as after any round.
        """
        self.started, self.received_chars, self.received_bytes = self.clock(), 0, 0
        self.budget = TraceBudget(self.trace_kb * 1024) if self.trace_kb is not None else None
        working = list(messages)
        tools = executor.schemas() if executor else []
        if approvals:
            yield from self._answer(working, _carried_out(approvals, executor))
            tools = tools if self.target.stream_tools else []  # as after the decision of a non-streaming target
        rounds = 0
        trimmed = False
        while rounds < max_rounds:
            decide = bool(tools) and not self.target.stream_tools
            kind = "retry" if trimmed and working == list(messages) else _round_kind(working)
            result = yield from self._send(working, params, tools, not decide, kind)
            if result.error is not None:
                if result.error.kind == "context_length" and shrink and not trimmed and working == list(messages):
                    trimmed = True
                    smaller = shrink()
                    if smaller is not None:
                        working, dropped = list(smaller[0]), smaller[1]
                        messages = smaller[0]
                        yield ContextTrimmed(dropped)
                        continue
                explain = self.target.explain
                yield Interrupted(explain(result.error) if explain else result.error)
                return
            if decide:
                tools = []
                if result.tool_calls and executor is not None:
                    if (yield from self._run_tools(working, result, executor, ask)):
                        return
                    rounds += 1
                continue
            if not result.tool_calls or executor is None:
                yield Finished(result.finish_reason or "stop")
                return
            if (yield from self._run_tools(working, result, executor, ask)):
                return
            rounds += 1
        yield Interrupted(ErrorInfo("tool_rounds", f"the model still asked for tools after {max_rounds} rounds"))

    @classmethod
    def _run_tools(
        cls, working: list[dict[str, Any]], result: RoundResult, executor: ToolExecutor, ask: AskFirst | None
    ) -> Generator[StreamEvent, None, bool]:
        """The round's calls, run and answered; True when some wait for the user's approval (the others run)."""
        working.append(assistant_message(result.text, result.tool_calls, result.reasoning, result.extras))
        for call in result.tool_calls:
            yield ToolCallStarted(call.call_id, call.name, call.arguments, result.extras.get(call.call_id))
        waiting = [call for call in result.tool_calls if ask is not None and ask(call)]
        free = [call for call in result.tool_calls if call not in waiting]
        if free:
            yield from cls._answer(working, executor.run_all(free))
        if waiting:
            yield ApprovalNeeded(tuple(call.call_id for call in waiting))
        return bool(waiting)

    @staticmethod
    def _answer(working: list[dict[str, Any]], outcomes: Sequence[ToolOutcome]) -> Iterator[StreamEvent]:
        for outcome in outcomes:
            yield ToolResult(outcome.call.call_id, outcome.call.name, outcome.content, outcome.is_error)
            working.append({"role": "tool", "tool_call_id": outcome.call.call_id, "content": outcome.content})


def _round_kind(working: Sequence[dict[str, Any]]) -> str:
    """A request that sends tool results back is a tool round; any other starts the reply (a chat call)."""
    return "tool_round" if working and working[-1].get("role") == "tool" else "chat"


@dataclass
class _Attempt:
    """An HTTP attempt under way: what the usage log needs of it (times on ``clock``, from when it started)."""

    kind: str
    provider: str
    model: str
    at: str
    clock: Callable[[], float]
    started: float
    first: float | None = None
    usage: Usage | None = None
    outcome: str = "ok"  # how a side call ended, for ``logged``

    @classmethod
    def start(cls, kind: str, base_url: str, model: str, clock: Callable[[], float] = time.monotonic) -> _Attempt:
        """An attempt starting now at ``base_url`` (logged as display_url shows it)."""
        return cls(kind, display_url(base_url), model, utc_iso(), clock, clock())

    @contextmanager
    def logged(self, log: list[CallRecord] | None) -> Iterator[None]:
        """A side call's usage log row into ``log`` however the call ends: ``outcome``, or the kind of the
        SideCallFailed it raised."""
        try:
            yield
        except SideCallFailed as failure:
            self.outcome = failure.error.kind
            raise
        finally:
            if log is not None:
                log.append(self.record(self.outcome))

    def record(self, outcome: str) -> CallRecord:
        """Its usage log row, ending now."""
        first_ms = None if self.first is None else round((self.first - self.started) * 1000)
        total_ms = round((self.clock() - self.started) * 1000)
        return CallRecord(self.at, self.kind, self.provider, self.model, self.usage, first_ms, total_ms, outcome)


def transcription_usage(reported: object) -> Usage | None:
    """A transcript's usage as the gpt-4o transcribe models report it (tokens: the recording's audio in, the text
    out). whisper-1 reports the recording's seconds instead, which no token price covers: None, as for none."""
    if not isinstance(reported, dict) or reported.get("type") != "tokens":
        return None
    heard, written = reported.get("input_tokens"), reported.get("output_tokens")
    if not (isinstance(heard, int) and isinstance(written, int) and heard >= 0 and written >= 0):
        return None
    return Usage(prompt_tokens=heard, completion_tokens=written)


def _carried_out(approvals: Sequence[Approval], executor: ToolExecutor | None) -> list[ToolOutcome]:
    """Each approved call run (all at once, as a round's are), each rejected one answered so; in their order."""
    approved = [approval.call for approval in approvals if approval.run]
    if approved and executor is None:
        raise ValueError("approved tool calls need an executor to run them")
    outcomes = executor.run_all(approved) if executor is not None and approved else []
    ran = {outcome.call.call_id: outcome for outcome in outcomes}
    return [ran.get(a.call.call_id) or ToolOutcome(a.call, REJECTED_TOOL_RESULT, True) for a in approvals]


def targets_for(settings: Settings) -> list[Target]:
    """The primary model, then each configured fallback (on its own provider when it names one)."""
    primary = LLMClient(
        settings.key_for_client(), settings.base_url, settings.request_timeout, settings.connect_timeout
    )
    targets = [Target(primary, settings.model, stream_tools=not settings.is_local)]
    for fallback in settings.fallbacks:
        if fallback.base_url is None:
            targets.append(Target(primary, fallback.model))
            continue
        key = fallback.api_key.reveal() if fallback.api_key else NO_KEY_PLACEHOLDER
        client = LLMClient(key, fallback.base_url, settings.request_timeout, settings.connect_timeout)
        targets.append(Target(client, fallback.model))
    return targets
