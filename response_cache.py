"""The response cache (RESPONSE_CACHE): a request sent before, identical in everything that changes its answer, is
answered from what came back then, without a request. Table ``response_cache`` (migration m014_response_cache) in the
Store's database, each row one owner's: nobody is ever given another person's cached answer.

The key is the SHA-256 of a canonical JSON of where the request goes (llm_client.endpoint: scheme, host, port and path,
never a key), the request body as sent (model, messages, tools and every parameter; ``stream_options`` only asks for
usage, so it is left out) and the owner. A row keeps one round's answer as llm_client.RecordedRound holds it (the events
it showed, its text, reasoning, tool calls and finish reason, the usage reported), what it cost then, when it was
recorded and when it expires (RESPONSE_CACHE_TTL). Only a round that ended cleanly is kept: never an error, a cut or
stopped stream, or a reply cut by its length or a content filter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from config import Settings
from events import (
    AlternativeDelta,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    TokenLogprob,
    TokenLogprobs,
    UsageReported,
)
from function_tools import ToolCall
from llm_client import RecordedRound, RoundResult, endpoint
from store import Store
from token_tracker import Cost, PriceBook, Usage

log = logging.getLogger(__name__)

HOUR = 3600.0
UNCHANGED_BY = frozenset({"stream_options"})  # body fields that do not change the answer
NOT_KEPT_ENDINGS = frozenset({"length", "content_filter"})  # a reply cut short is not an answer to keep


def cache_key(base_url: str, body: Mapping[str, Any], owner: str) -> str:
    """SHA-256 of a canonical JSON (sorted keys, no spaces) of everything that changes the answer, and whose it is."""
    sent = {name: value for name, value in body.items() if name not in UNCHANGED_BY}
    material = {"endpoint": endpoint(base_url), "body": sent, "owner": owner}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def clean(answer: RecordedRound) -> bool:
    """Whether a round's answer may be kept: it ended with a finish reason, no error, and was not cut short."""
    result = answer.result
    return result.error is None and result.finish_reason is not None and result.finish_reason not in NOT_KEPT_ENDINGS


# --- a recorded round as JSON, and back ----------------------------------------------------------------------


def _part(event: StreamEvent) -> dict[str, Any]:
    match event:
        case TextDelta() | ReasoningDelta() | RefusalDelta():
            return {"kind": type(event).__name__, "text": event.text}
        case AlternativeDelta():
            return {"kind": "AlternativeDelta", "index": event.index, "text": event.text}
        case TokenLogprobs():
            tokens = [[token.token, token.logprob, [list(pair) for pair in token.top]] for token in event.tokens]
            return {"kind": "TokenLogprobs", "tokens": tokens}
    raise ValueError(f"{type(event).__name__} is not told again from the cache")


def _merged(parts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neighbouring pieces of the same kind (and choice) as one: a reply's hundreds of deltas kept as a few."""
    merged: list[dict[str, Any]] = []
    for part in parts:
        last = merged[-1] if merged else None
        if last is not None and last["kind"] == part["kind"] and last.get("index") == part.get("index"):
            if "text" in part:
                last["text"] += part["text"]
                continue
            last["tokens"] = [*last["tokens"], *part["tokens"]]
            continue
        merged.append(dict(part))
    return merged


_TEXT_EVENTS: dict[str, Callable[[str], StreamEvent]] = {
    "TextDelta": TextDelta,
    "ReasoningDelta": ReasoningDelta,
    "RefusalDelta": RefusalDelta,
}


def _event(part: Mapping[str, Any]) -> StreamEvent:
    kind = part["kind"]
    if kind in _TEXT_EVENTS:
        return _TEXT_EVENTS[kind](str(part["text"]))
    if kind == "AlternativeDelta":
        return AlternativeDelta(int(part["index"]), str(part["text"]))
    if kind == "TokenLogprobs":
        tokens = (
            TokenLogprob(str(token), float(logprob), tuple((str(t), float(lp)) for t, lp in top))
            for token, logprob, top in part["tokens"]
        )
        return TokenLogprobs(tuple(tokens))
    raise ValueError(f"unknown part {kind!r}")


def to_json(answer: RecordedRound, cost: Cost) -> str:
    result = answer.result
    data = {
        "shown": _merged([_part(event) for event in answer.shown]),
        "text": result.text,
        "reasoning": result.reasoning,
        "tool_calls": [asdict(call) for call in result.tool_calls],
        "extras": result.extras,
        "finish_reason": result.finish_reason,
        "was_shown": result.shown,
        "model": answer.usage.model,
        "usage": asdict(answer.usage.usage),
        "cost": asdict(cost),
    }
    return json.dumps(data, ensure_ascii=False)


def from_json(text: str) -> tuple[RecordedRound, Cost]:
    """A row's answer and what it cost; ValueError (or KeyError, TypeError) when it does not read."""
    data = json.loads(text)
    result = RoundResult(
        text=str(data["text"]),
        tool_calls=[ToolCall(**call) for call in data["tool_calls"]],
        finish_reason=str(data["finish_reason"]),
        shown=bool(data["was_shown"]),
        reasoning=str(data["reasoning"]),
        extras=dict(data["extras"]),
    )
    usage = UsageReported(Usage(**data["usage"]), str(data["model"]))
    answer = RecordedRound(tuple(_event(part) for part in data["shown"]), result, usage)
    return answer, Cost(**data["cost"])


# --- the table -----------------------------------------------------------------------------------------------

_UPSERT = """
    INSERT INTO response_cache (owner, key, model, reply, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (owner, key) DO UPDATE SET
        model = excluded.model, reply = excluded.reply, created_at = excluded.created_at,
        expires_at = excluded.expires_at
"""


class ResponseCache:
    """The cached answers of ``store``'s owner, kept ``ttl`` seconds; ``book`` prices an answer when it is kept.
    A database failure is logged and never fails a reply: the request then simply goes out."""

    def __init__(self, store: Store, book: PriceBook, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.store, self.book, self.ttl, self.clock = store, book, ttl, clock

    def lookup(self, base_url: str, body: dict[str, Any]) -> tuple[RecordedRound, Cost] | None:
        key = cache_key(base_url, body, self.store.owner)
        try:
            with self.store.connection() as db:
                row = db.execute(
                    "SELECT reply FROM response_cache WHERE owner = ? AND key = ? AND expires_at > ?",
                    (self.store.owner, key, self.clock()),
                ).fetchone()
            return from_json(row["reply"]) if row is not None else None
        except sqlite3.Error:  # PostgreSQL's come as StorageError, a sqlite3.Error; logged by the backend
            log.warning("response cache: the database failed, the request goes out")
        except (ValueError, KeyError, TypeError):
            log.warning("response cache: an entry did not read, the request goes out")
        return None

    def keep(self, base_url: str, body: dict[str, Any], answer: RecordedRound) -> None:
        """Records a clean answer (``clean``) for ``ttl`` seconds; entries past their time go (anyone's)."""
        if not clean(answer):
            return
        now = self.clock()
        cost = self.book.cost(answer.usage.model, answer.usage.usage)
        row = (self.store.owner, cache_key(base_url, body, self.store.owner), answer.usage.model)
        try:
            with self.store.transaction() as db:
                db.execute("DELETE FROM response_cache WHERE expires_at <= ?", (now,))
                db.execute(_UPSERT, (*row, to_json(answer, cost), now, now + self.ttl))
        except sqlite3.Error:
            log.warning("response cache: the database failed, this answer is not kept")

    def count(self) -> int:
        """How many answers this owner has cached and not yet expired."""
        with self.store.connection() as db:
            row = db.execute(
                "SELECT COUNT(*) AS n FROM response_cache WHERE owner = ? AND expires_at > ?",
                (self.store.owner, self.clock()),
            ).fetchone()
        return int(row["n"])

    def clear(self) -> int:
        """Every cached answer of this owner gone (expired ones too); how many there were."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM response_cache WHERE owner = ?", (self.store.owner,)).rowcount


def response_cache(settings: Settings, store: Store, book: PriceBook) -> ResponseCache | None:
    """The cache of ``store``'s owner when RESPONSE_CACHE is on (entries kept RESPONSE_CACHE_TTL hours); else None."""
    if settings.response_cache != "on":
        return None
    return ResponseCache(store, book, settings.response_cache_ttl * HOUR)
