"""What providers send, in every shape seen in the wild, reduced to one shape before anything is assembled.

Real OpenAI-compatible services do not stream exactly like OpenAI: Azure opens with a chunk of
prompt-filter results and no choices, Moonshot puts usage inside the choice and Groq inside
``x_groq``, some gateways leave out a tool call's ``index`` or repeat its name on every chunk,
errors arrive as HTTP 200 JSON bodies, as ``data:`` objects mid-stream (with or without the
``error`` wrapper), as ``event: error`` or llama.cpp's ``error:`` lines, or as a JSON list (Gemini).

This module owns all of that, with no SDK types: ``read_payloads`` turns the body's lines into
JSON values (SSE or a plain JSON body), ``normalize`` turns one value into a ``Piece``, and
``ToolCallAssembler`` builds whole tool calls from fragments. An unknown shape becomes a
``Problem`` with a clear message, never an exception. Choice 0 is the reply; with ``n`` > 1 only the
text of the other choices is read, and with ``logprobs`` choice 0's token log probabilities.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chat_params import BOUNDS
from errors import Problem
from events import TokenLogprob
from function_tools import ToolCall

SSE_FIELDS = ("data", "event", "id", "retry", "error")  # "error:" lines are llama.cpp's server's own
NO_FINISH = ("", "null", "none")  # finish reasons some servers send as strings for "not yet"
# The highest choice index ``n`` can ask for: a provider's larger index is ignored, never made room for (the
# recorder keeps one text per index up to it).
MAX_CHOICE_INDEX = int(BOUNDS["n"][1]) - 1


@dataclass(frozen=True)
class Payload:
    """One received value: parsed JSON (``malformed`` holds the text when it was not JSON)."""

    value: Any
    event: str = ""
    malformed: str | None = None

    def sample(self) -> dict[str, Any]:
        """The value as it came, for the wire inspector."""
        if self.malformed is not None:
            return {"unparsed": self.malformed[:500]}
        if isinstance(self.value, dict) and not self.event:
            return self.value
        return {"event": self.event or "message", "data": self.value}


@dataclass(frozen=True)
class ToolFragment:
    index: int | None
    id: str | None
    name: str | None
    arguments: str
    extra: dict[str, Any] | None = None  # opaque per-call fields (Gemini's thought signature)


@dataclass
class Piece:
    """One chunk (or a whole non-stream reply) reduced to what we use."""

    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    tool_calls: list[ToolFragment] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    problem: Problem | None = None
    logprobs: tuple[TokenLogprob, ...] = ()  # of choice 0's tokens in this chunk
    alternatives: dict[int, str] = field(default_factory=dict)  # text of the other choices, by index (1, 2, ...)


def _sse_field(line: str) -> tuple[str, str] | None:
    name, colon, value = line.partition(":")
    if not colon or name not in SSE_FIELDS:
        return None
    return name, value[1:] if value.startswith(" ") else value


def _decode(data: str, event: str) -> Iterator[Payload]:
    try:
        yield Payload(json.loads(data), event)
        return
    except ValueError:
        pass
    pieces = [piece for piece in data.split("\n") if piece.strip()]
    if len(pieces) < 2:
        yield Payload(None, event, malformed=data)
        return
    for piece in pieces:  # events written without the blank line between them
        yield from _decode(piece, event)


def _sse(first: str, lines: Iterator[str]) -> Iterator[Payload]:
    event, data = "", list[str]()
    for line in itertools.chain([first], lines):
        if not line.strip():
            if data:
                yield from _decode("\n".join(data), event)
            event, data = "", []
            continue
        parsed = _sse_field(line)
        if parsed is None:
            continue  # comments (": keep-alive", ": OPENROUTER PROCESSING") and unknown fields
        name, value = parsed
        if name == "event":
            event = value
        elif name in ("data", "error"):
            if value.strip() == "[DONE]":
                return
            event = "error" if name == "error" else event
            data.append(value)
    if data:
        yield from _decode("\n".join(data), event)


def read_payloads(lines: Iterable[str]) -> Iterator[Payload]:
    """JSON values from a response body: SSE events, or one plain JSON body (errors, non-stream replies).

    Decided by what the body holds, not by its Content-Type, which gateways get wrong.
    """
    iterator = iter(lines)
    for line in iterator:
        if not line.strip():
            continue
        if line.startswith(":") or _sse_field(line) is not None:
            yield from _sse(line, iterator)
            return
        whole = "\n".join([line, *iterator])
        try:
            yield Payload(json.loads(whole))
        except ValueError:
            yield Payload(None, malformed=whole)
        return


_GRPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def _status(*candidates: Any) -> int | None:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
        if isinstance(value, str):
            if value.isdigit() and 100 <= int(value) < 600:
                return int(value)
            if value.upper() in _GRPC_STATUS:
                return _GRPC_STATUS[value.upper()]
    return None


def _text_code(*candidates: Any) -> str | None:
    return next((value for value in candidates if isinstance(value, str) and value and not value.isdigit()), None)


def problem_of(value: Any, event: str = "") -> Problem | None:
    """The error a value carries, in any of the shapes providers use; None when it is not an error."""
    if isinstance(value, list):
        return next((p for p in map(problem_of, value) if p is not None), None) if value else None
    if not isinstance(value, dict):
        return Problem(f"the provider sent an error: {value}") if event == "error" and value else None
    inner = value.get("error")
    if isinstance(inner, str) and inner:
        return Problem(inner, _status(value.get("code"), value.get("status")), _text_code(value.get("code")))
    if isinstance(inner, dict) and inner:
        message = inner.get("message") or inner.get("msg") or json.dumps(inner, ensure_ascii=False)
        metadata = inner.get("metadata")
        if isinstance(metadata, dict) and metadata.get("raw"):
            message = f"{message} ({metadata['raw']})"
        status = _status(inner.get("code"), inner.get("status"), value.get("code"), inner.get("type"))
        code = _text_code(inner.get("code"), inner.get("type"), inner.get("status"))
        param = inner.get("param")
        return Problem(str(message), status, code, param=param if isinstance(param, str) else None)
    unwrapped = value.get("object") == "error" or (
        isinstance(value.get("message"), str) and "choices" not in value and ("code" in value or "type" in value)
    )
    if unwrapped or (event == "error" and value):
        message = value.get("message") or json.dumps(value, ensure_ascii=False)
        status = _status(value.get("code"), value.get("status"), value.get("type"))
        return Problem(str(message), status, _text_code(value.get("code"), value.get("type")))
    return None


def _text(value: Any) -> str:
    """A content field as text: a string, or a list of text parts (some gateways send parts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part.get("text") or "" for part in value if isinstance(part, dict))
    return ""


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if value is not None else ""


def _fragments(calls: Any, whole: bool) -> list[ToolFragment]:
    """Tool-call entries of a delta (or, ``whole``, of a complete message, where position is the index)."""
    fragments = []
    for position, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        index, call_id, name, extra = call.get("index"), call.get("id"), function.get("name"), call.get("extra_content")
        fragments.append(
            ToolFragment(
                index if isinstance(index, int) else (position if whole else None),
                call_id if isinstance(call_id, str) and call_id else None,
                name if isinstance(name, str) and name else None,
                _arguments(function.get("arguments")),
                extra if isinstance(extra, dict) else None,
            )
        )
    return fragments


def _choices(value: dict[str, Any]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Choice 0 (the reply: a choice without an index is it), and the others by their index (``n`` > 1, up to
    MAX_CHOICE_INDEX)."""
    choices = value.get("choices")
    first: dict[str, Any] = {}
    others: dict[int, dict[str, Any]] = {}
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", 0)
        if index in (0, None) and not first:
            first = choice
        elif isinstance(index, int) and not isinstance(index, bool) and 0 < index <= MAX_CHOICE_INDEX:
            others.setdefault(index, choice)
    return first, others


def _delta(choice: dict[str, Any]) -> dict[str, Any]:
    """A choice's delta (a chunk) or message (a whole reply)."""
    delta = choice.get("message") if isinstance(choice.get("message"), dict) else choice.get("delta")
    return delta if isinstance(delta, dict) else {}


def _number(value: Any) -> float | None:
    """A finite number, else None: a provider's -Infinity or NaN (JSON cannot hold them) would make the chat's
    export one that no import takes."""
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if finite else None


def _token(entry: Any) -> tuple[str, float] | None:
    """(token, logprob) of a logprobs entry, or None when it lacks either."""
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    logprob = _number(entry.get("logprob"))
    return None if logprob is None else (entry["token"], logprob)


def _logprobs(choice: dict[str, Any]) -> tuple[TokenLogprob, ...]:
    """The tokens of ``logprobs.content`` with their log probability and top alternatives; odd entries skipped."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    tokens = []
    for entry in content if isinstance(content, list) else []:
        token = _token(entry)
        if token is None:
            continue
        top = entry.get("top_logprobs")
        pairs = tuple(pair for pair in map(_token, top if isinstance(top, list) else []) if pair is not None)
        tokens.append(TokenLogprob(*token, top=pairs))
    return tuple(tokens)


def _usage(value: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any] | None:
    groq = value.get("x_groq")
    for usage in (value.get("usage"), groq.get("usage") if isinstance(groq, dict) else None, choice.get("usage")):
        if isinstance(usage, dict) and usage:
            return usage
    return None


def normalize(payload: Payload) -> Piece:
    """One received value as a Piece: text, reasoning, refusal, tool fragments, finish, usage or a problem."""
    if payload.malformed is not None:
        return Piece(problem=Problem(f"unreadable reply: {payload.malformed[:300]!r}", unreadable=True))
    value = payload.value
    problem = problem_of(value, payload.event)
    if problem is not None:
        return Piece(problem=problem)
    if not isinstance(value, dict):
        return Piece(problem=Problem(f"unexpected reply: {json.dumps(value)[:300]}", unreadable=True))
    choice, others = _choices(value)
    whole = isinstance(choice.get("message"), dict)
    delta = _delta(choice)
    finish = choice.get("finish_reason")
    finish = finish.lower() if isinstance(finish, str) and finish.lower() not in NO_FINISH else None
    reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
    piece = Piece(
        text=_text(delta.get("content")),
        reasoning=reasoning,
        refusal=_text(delta.get("refusal")),
        tool_calls=_fragments(delta.get("tool_calls"), whole),
        finish_reason=finish,
        usage=_usage(value, choice),
        logprobs=_logprobs(choice),
        alternatives={index: text for index, other in others.items() if (text := _text(_delta(other).get("content")))},
    )
    if finish == "error":
        piece.problem = Problem("the provider ended the reply with finish_reason 'error'")
    return piece


@dataclass
class _Call:
    id: str | None
    name: str = ""
    arguments: str = ""
    extra: dict[str, Any] | None = None


class ToolCallAssembler:
    """Whole tool calls from fragments, whatever the provider leaves out or repeats.

    A fragment belongs to the call with its id, else to the call at its index, else (no id, no
    index) to the call last opened. A name repeated on every chunk is kept once; arguments are
    concatenated; opaque fields are kept as first sent.
    """

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self._by_id: dict[str, _Call] = {}
        self._by_index: dict[int, _Call] = {}

    def _call_for(self, fragment: ToolFragment) -> _Call:
        if fragment.id is not None and fragment.id in self._by_id:
            return self._by_id[fragment.id]
        at_index = self._by_index.get(fragment.index) if fragment.index is not None else None
        if at_index is not None and (fragment.id is None or at_index.id is None):
            at_index.id = at_index.id or fragment.id
            if fragment.id:
                self._by_id[fragment.id] = at_index
            return at_index
        if fragment.index is None and fragment.id is None and self.calls:
            return self.calls[-1]
        call = _Call(fragment.id)
        self.calls.append(call)
        if fragment.id:
            self._by_id[fragment.id] = call
        if fragment.index is not None:
            self._by_index[fragment.index] = call
        return call

    def add(self, fragment: ToolFragment) -> None:
        call = self._call_for(fragment)
        name = fragment.name or ""
        if name and name != call.name:
            call.name = name if not call.name or name.startswith(call.name) else call.name + name
        call.arguments += fragment.arguments
        if fragment.extra and call.extra is None:
            call.extra = fragment.extra

    def result(self) -> tuple[list[ToolCall], dict[str, dict[str, Any]], list[str]]:
        """The calls, their opaque extras by call id, and a note for each call that came without a name."""
        calls, extras, nameless = [], {}, []
        for position, call in enumerate(self.calls):
            call_id = call.id or f"call_{position}"
            if not call.name:
                nameless.append(f"a tool call without a name (arguments {call.arguments[:100]!r})")
                continue
            calls.append(ToolCall(call_id, call.name, call.arguments))
            if call.extra:
                extras[call_id] = call.extra
        return calls, extras, nameless
