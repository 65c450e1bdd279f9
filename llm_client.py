"""The streaming client and the turn runner (retries, rate limit, fallback models, the tool loop).

``LLMClient`` talks to one OpenAI-compatible service through the official SDK and turns its chunks
into the typed events of events.py; tool-call fragments are assembled by the SDK's own
``ChatCompletionStreamState``. A stream that ends without a finish reason (a cut connection: the
SDK then just stops iterating) is an interruption, never a normal end.

``TurnRunner`` runs one turn over a chain of targets (primary model, then fallbacks): it retries
what is retryable before any text was shown, waits for the client-side rate limit, switches to the
next target when one keeps failing, trims the context once when it is too long, and loops through
tool calls up to a bound.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import openai
from openai.lib.streaming.chat import ChatCompletionStreamState

from config import NO_KEY_PLACEHOLDER, Settings
from errors import ErrorInfo, classify
from events import (
    ContextTrimmed,
    FallbackUsed,
    Finished,
    Interrupted,
    ReasoningDelta,
    RequestSent,
    ResponseSampled,
    Retrying,
    StreamEvent,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    UsageReported,
    Waiting,
)
from function_tools import ToolCall, ToolExecutor
from rate_limiter import RateLimiter
from retry_policy import RETRYABLE_KINDS, RetryPolicy
from token_tracker import count_messages, estimate_usage, usage_from_api

_REASONING_FIELDS = ("reasoning_content", "reasoning")
# o-series reasoning models take max_completion_tokens and no temperature.
_REASONING_MODEL_PREFIXES = ("o1", "o3", "o4")


@dataclass(frozen=True)
class ChatParams:
    model: str
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass
class RoundResult:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    error: ErrorInfo | None = None
    shown: bool = False  # text or reasoning reached the user: never retried silently


SAMPLE_HEAD, SAMPLE_TAIL = 8, 3  # chunks of a response kept for the "what came back" view


def _sample(received: list[Any], total: int) -> ResponseSampled:
    return ResponseSampled([item.model_dump(exclude_unset=True) for item in received], total)


def _tool_calls(message: Any) -> list[ToolCall]:
    """Function calls of an SDK message (or stream snapshot) as our ToolCall."""
    return [
        ToolCall(call.id, call.function.name, call.function.arguments or "")
        for call in message.tool_calls or []
        if call.type == "function"
    ]


def build_body(
    messages: Sequence[dict[str, Any]], params: ChatParams, tools: Sequence[dict[str, Any]], stream: bool = True
) -> dict[str, Any]:
    """The request body, kept as plain JSON so the UI can show exactly what goes over the wire."""
    body: dict[str, Any] = {"model": params.model, "messages": copy.deepcopy(list(messages)), "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    reasoning_model = params.model.startswith(_REASONING_MODEL_PREFIXES)
    if params.temperature is not None and not reasoning_model:
        body["temperature"] = params.temperature
    if params.max_tokens is not None:
        body["max_completion_tokens" if reasoning_model else "max_tokens"] = params.max_tokens
    if tools:
        body["tools"] = copy.deepcopy(list(tools))
        body["tool_choice"] = "auto"  # OpenAI's default, but llama.cpp's server offers no tools without it
    return body


class LLMClient:
    """One configured connection to a provider. The SDK's retries are off: RetryPolicy decides."""

    def __init__(
        self, api_key: str, base_url: str | None, read_timeout: float = 60.0, connect_timeout: float = 10.0
    ) -> None:
        self._api_key = api_key
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout),
            max_retries=0,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def list_models(self) -> list[str]:
        """Model ids from GET /models; an empty list where a provider lists nothing."""
        return sorted(model.id for model in self._client.models.list())

    def stream_round(self, body: dict[str, Any]) -> Generator[StreamEvent, None, RoundResult]:
        """One streamed API call: yields deltas as they arrive; returns what the round produced."""
        result = RoundResult()
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState(input_tools=body.get("tools") or [])
        api_usage = None
        head: list[Any] = []
        tail: deque[Any] = deque(maxlen=SAMPLE_TAIL)
        count = 0
        try:
            with self._client.chat.completions.create(**body) as stream:
                for chunk in stream:
                    count += 1
                    (head if len(head) < SAMPLE_HEAD else tail).append(chunk)
                    state.handle_chunk(chunk)
                    api_usage = chunk.usage or api_usage
                    for choice in chunk.choices[:1]:
                        for name in _REASONING_FIELDS:
                            reasoning = getattr(choice.delta, name, None)
                            if isinstance(reasoning, str) and reasoning:
                                result.shown = True
                                yield ReasoningDelta(reasoning)
                        if choice.delta.content:
                            result.text += choice.delta.content
                            result.shown = True
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason:
                            result.finish_reason = choice.finish_reason
        except Exception as error:  # noqa: BLE001 - SDK errors, transport faults, a provider's malformed chunks
            result.error = classify(error, self._api_key)
            if count:
                yield _sample([*head, *tail], count)
            if result.shown:
                kind = "stalled" if result.error.kind == "timeout" else "stream_cut"
                result.error = replace(result.error, kind=kind)
                yield self._usage(body, result, None)
            return result
        if result.finish_reason is not None:
            result.tool_calls = _tool_calls(state.current_completion_snapshot.choices[0].message)
        yield _sample([*head, *tail], count)
        yield self._usage(body, result, api_usage)
        if result.finish_reason is None:
            result.error = ErrorInfo("stream_cut", "the stream ended without a finish_reason")
            result.shown = True
        return result

    def complete_round(self, body: dict[str, Any]) -> Generator[StreamEvent, None, RoundResult]:
        """A non-stream call (the tool decision for servers that cannot stream tool calls)."""
        result = RoundResult()
        try:
            response = self._client.chat.completions.create(**body)
        except (openai.APIError, OSError) as error:
            result.error = classify(error, self._api_key)
            return result
        choice = response.choices[0]
        result.finish_reason = choice.finish_reason
        result.text = choice.message.content or ""
        result.tool_calls = _tool_calls(choice.message)
        yield _sample([response], 1)
        yield UsageReported(usage_from_api(response.usage), body["model"])
        return result

    @staticmethod
    def _usage(body: dict[str, Any], result: RoundResult, api_usage: Any) -> UsageReported:
        if api_usage is not None:
            return UsageReported(usage_from_api(api_usage), body["model"])
        completion = result.text + "".join(call.name + call.arguments for call in result.tool_calls)
        usage = estimate_usage(body["messages"], completion, body["model"], body.get("tools") or [])
        return UsageReported(usage, body["model"])


def drain(round_call: Generator[StreamEvent, None, RoundResult]) -> tuple[list[StreamEvent], RoundResult]:
    """Run a round to its end outside a turn: its events, and its result."""
    events: list[StreamEvent] = []
    while True:
        try:
            events.append(next(round_call))
        except StopIteration as done:
            return events, done.value


def summarize(target: Target, messages: list[dict[str, Any]], max_tokens: int = 600) -> tuple[str, UsageReported]:
    """One non-stream call that writes a summary; SummaryFailed says why it could not."""
    body = build_body(messages, ChatParams(target.model, 0.2, max_tokens), [], stream=False)
    events, result = drain(target.client.complete_round(body))
    usage = next((e for e in events if isinstance(e, UsageReported)), None)
    if result.error is not None or not result.text.strip() or usage is None:
        raise SummaryFailed(result.error.kind if result.error else "empty summary")
    return result.text.strip(), usage


class SummaryFailed(RuntimeError):
    """The summary call failed; the turn goes on with plain trimming."""


def fetch_models(api_key: str, base_url: str | None, timeout: float = 5.0) -> list[str]:
    """The provider's model list for the picker; empty when it lists none or cannot be reached."""
    try:
        return LLMClient(api_key, base_url, read_timeout=timeout, connect_timeout=timeout).list_models()
    except (openai.APIError, OSError):
        return []


@dataclass(frozen=True)
class Target:
    """One model to answer with. ``stream_tools`` is False for servers (llama.cpp) that cannot."""

    client: LLMClient
    model: str
    stream_tools: bool = True


# Rebuild the request with fewer old messages after a context-length error: (messages, dropped) or None.
Shrink = Callable[[], tuple[list[dict[str, Any]], int] | None]


class TurnRunner:
    def __init__(
        self,
        targets: Sequence[Target],
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        if not targets:
            raise ValueError("a turn needs at least one target")
        self.targets = list(targets)
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.sleep = sleep
        self.jitter = jitter
        self.active = 0
        self.requests = 0

    @property
    def target(self) -> Target:
        return self.targets[self.active]

    def _send(
        self, working: list[dict[str, Any]], params: ChatParams, tools: list[dict[str, Any]], stream: bool
    ) -> Generator[StreamEvent, None, RoundResult]:
        """One request with retries, rate limiting and fallback; returns the round's result."""
        attempt = 0
        while True:
            target = self.target
            body = build_body(working, replace(params, model=target.model), tools, stream)
            if self.limiter is not None:
                wait = self.limiter.reserve(count_messages(working, target.model) + (params.max_tokens or 0))
                if wait > 0:
                    yield Waiting(wait)
                    self.sleep(wait)
            self.requests += 1
            yield RequestSent(body, self.requests)
            round_call = target.client.stream_round if stream else target.client.complete_round
            result = yield from round_call(body)
            if result.error is None or result.shown:
                return result
            attempt += 1
            jitter = self.jitter() if self.jitter else None
            delay = self.policy.delay(result.error.kind, attempt, result.error.retry_after, jitter)
            if delay is not None:
                yield Retrying(attempt, delay, result.error)
                self.sleep(delay)
                continue
            if result.error.kind in RETRYABLE_KINDS and self.active + 1 < len(self.targets):
                self.active += 1
                attempt = 0
                yield FallbackUsed(self.target.model, target.model, result.error)
                continue
            return result

    def run(
        self,
        messages: Sequence[dict[str, Any]],
        params: ChatParams,
        executor: ToolExecutor | None = None,
        max_rounds: int = 5,
        shrink: Shrink | None = None,
    ) -> Generator[StreamEvent, None, None]:
        """Stream, run requested tools, send their results back, stream again, up to ``max_rounds``.

        For a target that cannot stream tool calls the decision is a non-stream call, and the
        answer then streams without tools.
        """
        working = list(messages)
        tools = executor.schemas() if executor else []
        rounds = 0
        trimmed = False
        while rounds < max_rounds:
            decide = bool(tools) and not self.target.stream_tools
            result = yield from self._send(working, params, tools, stream=not decide)
            if result.error is not None:
                if result.error.kind == "context_length" and shrink and not trimmed and working == list(messages):
                    trimmed = True
                    smaller = shrink()
                    if smaller is not None:
                        working, dropped = list(smaller[0]), smaller[1]
                        messages = smaller[0]
                        yield ContextTrimmed(dropped)
                        continue
                yield Interrupted(result.error)
                return
            if decide:
                tools = []
                if result.tool_calls and executor is not None:
                    yield from self._run_tools(working, result, executor)
                    rounds += 1
                continue
            if not result.tool_calls or executor is None:
                yield Finished(result.finish_reason or "stop")
                return
            yield from self._run_tools(working, result, executor)
            rounds += 1
        yield Interrupted(ErrorInfo("tool_rounds", f"the model still asked for tools after {max_rounds} rounds"))

    @staticmethod
    def _run_tools(working: list[dict[str, Any]], result: RoundResult, executor: ToolExecutor) -> Iterator[StreamEvent]:
        working.append(
            {
                "role": "assistant",
                "content": result.text,
                "tool_calls": [call.to_param() for call in result.tool_calls],
            }
        )
        for call in result.tool_calls:
            yield ToolCallStarted(call.call_id, call.name, call.arguments)
        for outcome in executor.run_all(result.tool_calls):
            yield ToolResult(outcome.call.call_id, outcome.call.name, outcome.content, outcome.is_error)
            working.append({"role": "tool", "tool_call_id": outcome.call.call_id, "content": outcome.content})


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
