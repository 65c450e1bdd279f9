"""The streaming client and the tool-calling loop.

Talks to any OpenAI-compatible service through the official SDK and turns its chunks into the
typed events of events.py. Tool-call fragments are assembled by the SDK's own
``ChatCompletionStreamState``. A stream that ends without a finish reason (a cut connection: the
SDK then just stops iterating) is reported as ``Interrupted``, never as a normal end.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.lib.streaming.chat import ChatCompletionStreamState

from errors import ErrorInfo, classify
from events import (
    Finished,
    Interrupted,
    ReasoningDelta,
    RequestSent,
    StreamEvent,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    UsageReported,
)
from function_tools import ToolCall, ToolExecutor
from token_tracker import estimate_usage, usage_from_api

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
    failed: bool = False


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
    """One configured connection (key, base URL, timeouts, retries) to a provider."""

    def __init__(self, api_key: str, base_url: str | None, timeout: float = 60.0, max_retries: int = 2) -> None:
        self._api_key = api_key
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _fail(self, error: BaseException) -> Interrupted:
        return Interrupted(classify(error, self._api_key))

    def stream_round(self, body: dict[str, Any]) -> Generator[StreamEvent, None, RoundResult]:
        """One API call: yields deltas as they arrive; returns what the round produced."""
        result = RoundResult()
        tools = body.get("tools") or []
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState(input_tools=tools)
        api_usage = None
        started = False
        try:
            with self._client.chat.completions.create(**body) as stream:
                for chunk in stream:
                    started = True
                    state.handle_chunk(chunk)
                    api_usage = chunk.usage or api_usage
                    for choice in chunk.choices[:1]:
                        for name in _REASONING_FIELDS:
                            reasoning = getattr(choice.delta, name, None)
                            if isinstance(reasoning, str) and reasoning:
                                yield ReasoningDelta(reasoning)
                        if choice.delta.content:
                            result.text += choice.delta.content
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason:
                            result.finish_reason = choice.finish_reason
        except (openai.APIError, OSError) as error:
            result.failed = True
            if not started:
                yield self._fail(error)
                return result
            yield from self._usage(body, result, None)
            yield Interrupted(ErrorInfo("stream_cut", classify(error, self._api_key).detail))
            return result
        if result.finish_reason is not None:
            message = state.current_completion_snapshot.choices[0].message
            result.tool_calls = [
                ToolCall(call.id, call.function.name, call.function.arguments or "")
                for call in message.tool_calls or []
            ]
        yield from self._usage(body, result, api_usage)
        if result.finish_reason is None:
            result.failed = True
            yield Interrupted(ErrorInfo("stream_cut", "the stream ended without a finish_reason"))
        return result

    def _usage(self, body: dict[str, Any], result: RoundResult, api_usage: Any) -> Iterator[StreamEvent]:
        if api_usage is not None:
            yield UsageReported(usage_from_api(api_usage), body["model"])
            return
        completion = result.text + "".join(call.name + call.arguments for call in result.tool_calls)
        yield UsageReported(
            estimate_usage(body["messages"], completion, body["model"], body.get("tools") or []), body["model"]
        )

    def list_models(self) -> list[str]:
        """Model ids from GET /models; an empty list where a provider lists nothing."""
        return sorted(model.id for model in self._client.models.list())

    def decide_tools(self, body: dict[str, Any]) -> Generator[StreamEvent, None, RoundResult]:
        """A non-stream call that only asks whether to call tools (for servers that cannot stream them)."""
        result = RoundResult()
        try:
            response = self._client.chat.completions.create(**body)
        except (openai.APIError, OSError) as error:
            result.failed = True
            yield self._fail(error)
            return result
        choice = response.choices[0]
        result.finish_reason = choice.finish_reason
        result.tool_calls = [
            ToolCall(call.id, call.function.name, call.function.arguments or "")
            for call in choice.message.tool_calls or []
            if call.type == "function"
        ]
        yield UsageReported(usage_from_api(response.usage), body["model"])
        return result

    def run_turn(
        self,
        messages: Sequence[dict[str, Any]],
        params: ChatParams,
        executor: ToolExecutor | None = None,
        max_rounds: int = 5,
        stream_tool_rounds: bool = True,
    ) -> Iterator[StreamEvent]:
        """Stream, run requested tools, send their results back, stream again, up to ``max_rounds``.

        With ``stream_tool_rounds=False`` (llama.cpp's server aborts a stream that may call tools) the
        tool decision is a non-stream call, and the answer then streams without tools.
        """
        working = list(messages)
        tools = executor.schemas() if executor else []
        requests = 0
        for _ in range(max_rounds):
            if tools and not stream_tool_rounds:
                body = build_body(working, params, tools, stream=False)
                requests += 1
                yield RequestSent(body, requests)
                decision = yield from self.decide_tools(body)
                if decision.failed:
                    return
                tools = []
                if decision.tool_calls and executor is not None:
                    yield from self._run_tools(working, decision, executor)
                    continue
            body = build_body(working, params, tools)
            requests += 1
            yield RequestSent(body, requests)
            result = yield from self.stream_round(body)
            if result.failed:
                return
            if not result.tool_calls or executor is None:
                yield Finished(result.finish_reason or "stop")
                return
            yield from self._run_tools(working, result, executor)
        yield Interrupted(ErrorInfo("tool_rounds", f"the model still asked for tools after {max_rounds} rounds"))

    def _run_tools(
        self, working: list[dict[str, Any]], result: RoundResult, executor: ToolExecutor
    ) -> Iterator[StreamEvent]:
        working.append(
            {
                "role": "assistant",
                "content": result.text,
                "tool_calls": [
                    {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in result.tool_calls
                ],
            }
        )
        for call in result.tool_calls:
            yield ToolCallStarted(call.call_id, call.name, call.arguments)
        for outcome in executor.run_all(result.tool_calls):
            yield ToolResult(outcome.call.call_id, outcome.call.name, outcome.content, outcome.is_error)
            working.append({"role": "tool", "tool_call_id": outcome.call.call_id, "content": outcome.content})


def fetch_models(api_key: str, base_url: str | None, timeout: float = 5.0) -> list[str]:
    """The provider's model list for the picker; empty when it lists none or cannot be reached."""
    try:
        return LLMClient(api_key, base_url, timeout=timeout, max_retries=0).list_models()
    except (openai.APIError, OSError):
        return []
