"""The response cache: its key (everything that changes the answer, and whose it is; never the API key), its table on
both dialects (TTL on an injected clock, clearing one owner's), and a turn against the scripted server over real
HTTP: a miss then a hit that sends nothing, when it applies, and what is never kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from chat_params import ChatParams, Extras
from config import Settings
from conversation_manager import DONE, INTERRUPTED, STOPPED, Conversation, Message
from errors import ErrorInfo
from events import (
    AlternativeDelta,
    AnsweredFromCache,
    Finished,
    ReasoningDelta,
    RequestSent,
    TextDelta,
    TokenLogprob,
    TokenLogprobs,
    ToolResult,
    UsageReported,
)
from function_tools import ToolCall, default_registry
from llm_client import LLMClient, RecordedRound, RoundResult, Target, TurnRunner, build_body, endpoint
from response_cache import ResponseCache, cache_key, from_json, response_cache, to_json
from retry_policy import RetryPolicy
from scripted_server import Reply
from store import Store
from token_tracker import Cost, PriceBook, Usage
from turn import Action, Ask, Save, Turn, TurnChoices, carry_out, prepare

BOOK = PriceBook(usd_cny_rate=7.0)
CHOICES = TurnChoices("en", "default", ())
HOUR = 3600.0
URL = "https://api.example.com/v1"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
PARAMS = ChatParams("gpt-4o-mini", 0.0, 200)
TOOL = {"type": "function", "function": {"name": "calculate", "parameters": {"type": "object", "properties": {}}}}


# --- the key ---------------------------------------------------------------------------------------------------


def key(
    params: ChatParams = PARAMS,
    messages: Sequence[dict[str, Any]] = MESSAGES,
    tools: Sequence[dict[str, Any]] = (),
    stream: bool = True,
    base_url: str = URL,
    owner: str = "",
) -> str:
    return cache_key(base_url, build_body(messages, params, list(tools), stream), owner)


def extras(**values: Any) -> ChatParams:
    return replace(PARAMS, extras=Extras(**values))


ANSWER_CHANGING = {
    "model": lambda: key(replace(PARAMS, model="gpt-4o")),
    "temperature": lambda: key(replace(PARAMS, temperature=0.5)),
    "max_tokens": lambda: key(replace(PARAMS, max_tokens=300)),
    "top_p": lambda: key(extras(top_p=0.5)),
    "stop": lambda: key(extras(stop=("\n",))),
    "seed": lambda: key(extras(seed=7)),
    "presence_penalty": lambda: key(extras(presence_penalty=0.5)),
    "frequency_penalty": lambda: key(extras(frequency_penalty=0.5)),
    "n": lambda: key(extras(n=2)),
    "logprobs": lambda: key(extras(logprobs=True)),
    "top_logprobs": lambda: key(extras(logprobs=True, top_logprobs=3)),
    "reasoning_effort": lambda: key(extras(reasoning_effort="low")),
    "response_format": lambda: key(extras(response_format="json_object")),
    "a message's text": lambda: key(messages=[MESSAGES[0], {"role": "user", "content": "hi!"}]),
    "the system prompt": lambda: key(messages=[{"role": "system", "content": "Be long."}, MESSAGES[1]]),
    "one more message": lambda: key(messages=[*MESSAGES, {"role": "assistant", "content": "Hello."}]),
    "tools": lambda: key(tools=[TOOL]),
    "tool_choice": lambda: key(extras(tool_choice="required"), tools=[TOOL]),
    "parallel_tool_calls": lambda: key(extras(parallel_tool_calls=False), tools=[TOOL]),
    "not streamed": lambda: key(stream=False),
    "another host": lambda: key(base_url="https://api.other.com/v1"),
    "another port": lambda: key(base_url="https://api.example.com:8443/v1"),
    "another path": lambda: key(base_url="https://api.example.com/v2"),
    "another owner": lambda: key(owner="alice@example.com"),
}


def test_the_key_changes_with_everything_that_changes_the_answer_and_with_the_owner():
    keys = {name: make() for name, make in ANSWER_CHANGING.items()}
    assert len(set(keys.values()) | {key()}) == len(keys) + 1, keys
    assert len(key()) == 64 and int(key(), 16) >= 0  # SHA-256, hex
    assert key(owner="alice@example.com") != key(owner="bob@example.com")


def test_the_key_ignores_the_stream_options_the_order_of_fields_and_any_credential_in_the_url():
    body = build_body(MESSAGES, PARAMS, [], True)
    without = {name: value for name, value in body.items() if name != "stream_options"}
    reordered = dict(reversed(list(body.items())))
    assert cache_key(URL, body, "") == cache_key(URL, without, "") == cache_key(URL, reordered, "")
    one = cache_key("https://user:sk-one-0123456789abcdef@api.example.com/v1?key=sk-one-0123456789abcdef", body, "")
    two = cache_key("https://user:sk-two-0123456789abcdef@api.example.com/v1?key=sk-two-0123456789abcdef", body, "")
    assert one == two == cache_key(URL, body, "")
    assert endpoint("https://u:p@api.example.com:8443/v1/?key=abc") == "https://api.example.com:8443/v1"


# --- the table, on both dialects -------------------------------------------------------------------------------


def recorded(text: str = "Hello.", finish: str | None = "stop", error: ErrorInfo | None = None) -> RecordedRound:
    result = RoundResult(text=text, finish_reason=finish, error=error, shown=True)
    return RecordedRound((TextDelta(text),), result, UsageReported(Usage(20, 2), "gpt-4o-mini"))


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def body(text: str = "hi") -> dict[str, Any]:
    return build_body([{"role": "user", "content": text}], PARAMS, [], True)


def test_a_kept_answer_is_found_until_its_time_is_up_then_it_goes(database_url, open_stores):
    store, clock = open_stores(database_url), Clock()
    assert "m014_response_cache" in store.migrations()
    cache = ResponseCache(store, BOOK, 2 * HOUR, clock)
    cache.keep(URL, body(), recorded())
    found = cache.lookup(URL, body())
    assert found is not None
    answer, cost = found
    assert answer == recorded() and cost == BOOK.cost("gpt-4o-mini", Usage(20, 2)) and cost.usd > 0
    assert cache.lookup(URL, body("other")) is None and cache.lookup("https://other.example.com/v1", body()) is None
    clock.now += 2 * HOUR - 1
    assert cache.lookup(URL, body()) is not None and cache.count() == 1
    clock.now += 1
    assert cache.lookup(URL, body()) is None and cache.count() == 0
    cache.keep(URL, body("later"), recorded("Later."))  # writing sweeps out what expired
    with store.connection() as db:
        assert db.execute("SELECT COUNT(*) AS n FROM response_cache").fetchone()["n"] == 1


def test_each_owner_has_their_own_cache_and_clearing_empties_only_ones_own(database_url, open_stores):
    store, clock = open_stores(database_url), Clock()
    alice = ResponseCache(store.as_user("alice@example.com"), BOOK, HOUR, clock)
    bob = ResponseCache(store.as_user("bob@example.com"), BOOK, HOUR, clock)
    alice.keep(URL, body(), recorded("Alice's."))
    alice.keep(URL, body("two"), recorded("Two."))
    assert bob.lookup(URL, body()) is None
    bob.keep(URL, body(), recorded("Bob's."))
    assert (alice.count(), bob.count()) == (2, 1)
    assert alice.clear() == 2
    assert (alice.count(), alice.lookup(URL, body())) == (0, None)
    found = bob.lookup(URL, body())
    assert found is not None and found[0].result.text == "Bob's."


@pytest.mark.parametrize(
    "answer",
    [
        recorded(error=ErrorInfo("stream_cut", "the stream ended without a finish_reason")),
        recorded(finish=None),
        recorded(finish="length"),
        recorded(finish="content_filter"),
    ],
    ids=["error", "no finish", "length", "content_filter"],
)
def test_errors_cut_replies_and_filtered_ones_are_never_kept(database_url, open_stores, answer):
    cache = ResponseCache(open_stores(database_url), BOOK, HOUR, Clock())
    cache.keep(URL, body(), answer)
    assert cache.count() == 0 and cache.lookup(URL, body()) is None


def test_a_recorded_round_reads_back_whole_with_its_pieces_joined():
    top = ((",", -1.5),)
    shown = (
        ReasoningDelta("thin"),
        ReasoningDelta("king"),
        TextDelta("Hel"),
        TextDelta("lo"),
        AlternativeDelta(1, "Hi"),
        AlternativeDelta(1, "!"),
        AlternativeDelta(2, "Hey"),
        TokenLogprobs((TokenLogprob("Hel", -0.1, top),)),
        TokenLogprobs((TokenLogprob("lo", -0.2),)),
    )
    calls = [ToolCall("call_0", "calculate", '{"expression": "6*7"}')]
    result = RoundResult("Hello", calls, "tool_calls", None, True, "thinking", {"call_0": {"signature": "x"}})
    answer = RecordedRound(shown, result, UsageReported(Usage(5, 3, 1, 2), "gpt-4o"))
    back, cost = from_json(to_json(answer, Cost(0.25, 1.75)))
    assert back.shown == (
        ReasoningDelta("thinking"),
        TextDelta("Hello"),
        AlternativeDelta(1, "Hi!"),
        AlternativeDelta(2, "Hey"),
        TokenLogprobs((TokenLogprob("Hel", -0.1, top), TokenLogprob("lo", -0.2))),
    )
    assert (back.result, back.usage, cost) == (result, answer.usage, Cost(0.25, 1.75))


def test_the_cache_is_there_only_when_response_cache_is_on(settings, store):
    assert response_cache(settings, store, BOOK) is None  # off by default
    cache = response_cache(settings.with_overrides(response_cache="on", response_cache_ttl=0.5), store, BOOK)
    assert cache is not None and cache.ttl == 0.5 * HOUR and cache.store is store


# --- a turn against the scripted server ------------------------------------------------------------------------


def saver(store: Store, conversation: Conversation) -> Save:
    def save(messages: Sequence[Message]) -> bool:
        store.save(conversation, messages)
        return True

    return save


def ask(
    settings: Settings, store: Store, cache: ResponseCache | None, text: str, choices: TurnChoices = CHOICES
) -> Turn:
    """A turn in a new chat of ``store``'s owner."""
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    save = saver(store, conversation)
    return prepare(conversation, settings, choices, text, registry=registry, book=BOOK, save=save, cache=cache)


@pytest.fixture
def cold(settings: Settings) -> Settings:
    """Temperature 0: a cached answer is used without asking."""
    return settings.with_overrides(temperature=0.0)


def test_a_miss_asks_the_provider_then_the_same_request_is_answered_from_the_cache_at_no_cost(cold, store, server):
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(Reply(text="Paris is the capital.", reasoning="Easy.", usage=(20, 2)))
    first = ask(cold, store, cache, "Capital of France?")
    list(first.run())
    paid = first.conversation.messages[-1]
    assert paid.cost is not None and paid.cost.usd > 0 and paid.cache_saved is None
    assert len(server.chat_requests()) == 1

    second = ask(cold, store, cache, "Capital of France?")
    events = list(second.run())
    assert len(server.chat_requests()) == 1  # nothing reached the server
    assert not [event for event in events if isinstance(event, RequestSent)]
    assert events[0] == AnsweredFromCache(paid.cost)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Paris is the capital."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Easy."
    assert events[-1] == Finished("stop")
    reply = second.conversation.messages[-1]
    assert (reply.content, reply.reasoning, reply.status, reply.model) == (
        "Paris is the capital.",
        "Easy.",
        DONE,
        "gpt-4o-mini",
    )
    assert reply.cache_saved == paid.cost  # "saved $X": what it cost when it was recorded
    assert reply.usage == Usage() and reply.cost == Cost()  # booked at 0
    assert second.conversation.totals().cost.usd == 0
    stored = store.load(second.conversation.id)
    assert stored is not None and stored.messages[-1].cache_saved == paid.cost
    assert store.today_and_all_totals()[0].cost.usd == pytest.approx(paid.cost.usd)  # only the first is spent


def test_above_temperature_0_only_a_message_that_asks_for_it_gets_a_cached_answer(settings, store, server):
    assert settings.temperature > 0
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(Reply(text="One."), Reply(text="Two."))
    list(ask(settings, store, cache, "Say a number.").run())
    list(ask(settings, store, cache, "Say a number.").run())
    assert len(server.chat_requests()) == 2  # neither looked in the cache, nor kept anything
    assert cache.count() == 0

    asking = replace(CHOICES, use_cache=True)
    server.expect(Reply(text="Three."))
    list(ask(settings, store, cache, "Say a number.", asking).run())
    turn = ask(settings, store, cache, "Say a number.", asking)
    list(turn.run())
    assert len(server.chat_requests()) == 3
    reply = turn.conversation.messages[-1]
    assert reply.content == "Three." and reply.cache_saved is not None


def test_regenerate_asks_the_provider_again_even_at_temperature_0(cold, store, server):
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(Reply(text="Paris."), Reply(text="Paris, of course."))
    first = ask(cold, store, cache, "Capital of France?")
    list(first.run())
    conversation = first.conversation
    regenerate = Action("regenerate", conversation.messages[-1].parent_id)  # as the reply's button asks
    assert carry_out(conversation, regenerate, "", "en") == Ask(None)
    registry = default_registry(cold.weather_api_url, cold.geocoding_api_url)
    again = prepare(
        conversation, cold, CHOICES, None, registry=registry, book=BOOK, save=saver(store, conversation), cache=cache
    )
    events = list(again.run())
    assert len(server.chat_requests()) == 2  # the same request reached the server again
    assert not [event for event in events if isinstance(event, AnsweredFromCache)]
    reply = again.conversation.messages[-1]
    assert reply.content == "Paris, of course." and reply.cache_saved is None


def test_a_continue_asks_the_provider_again_even_at_temperature_0(cold, store, server):
    """A continue is sent as the same words each time (carry_out): the same request as the last continue from that
    point, which the cache must not answer (app.go marks it ``anew``)."""
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(Reply(text="More."), Reply(text="Something else."))
    list(ask(cold, store, cache, "Please continue.").run())
    again = ask(cold, store, cache, "Please continue.", replace(CHOICES, anew=True))
    events = list(again.run())
    assert len(server.chat_requests()) == 2
    assert not [event for event in events if isinstance(event, AnsweredFromCache)]
    assert again.conversation.messages[-1].content == "Something else."


@pytest.mark.parametrize(
    "failing",
    [
        Reply.fail(400, "bad request"),
        Reply(text="one two three four", cut_after=2),
        Reply(text="cut", finish_reason="length"),
    ],
    ids=["error", "cut mid-way", "length"],
)
def test_an_error_an_interrupted_or_a_cut_off_reply_is_never_cached(cold, store, server, failing):
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(failing, Reply(text="A real answer."))
    first = ask(cold, store, cache, "hi")
    list(first.run())
    assert first.conversation.messages[-1].status == INTERRUPTED or first.reply[-1].finish_reason == "length"
    assert cache.count() == 0
    second = ask(cold, store, cache, "hi")
    list(second.run())
    assert len(server.chat_requests()) == 2 and second.conversation.messages[-1].content == "A real answer."


def test_a_reply_the_user_stopped_is_never_cached(cold, store, server):
    cache = ResponseCache(store, BOOK, HOUR)
    server.expect(Reply(text="one two three four five six", chunk_delay=0.05), Reply(text="Whole."))
    first = ask(cold, store, cache, "count")
    events = first.run()
    for event in events:
        if isinstance(event, TextDelta):
            break
    events.close()  # the user's Stop
    assert first.conversation.messages[-1].status == STOPPED and cache.count() == 0
    list(ask(cold, store, cache, "count").run())
    assert len(server.chat_requests()) == 2


def test_tool_rounds_are_answered_from_the_cache_and_the_tool_runs_again(cold, store, server):
    cache = ResponseCache(store, BOOK, HOUR)
    tools = replace(CHOICES, tools=("calculate",))
    server.expect(Reply(tool_calls=[("calculate", '{"expression": "6*7"}')], usage=(50, 9)), Reply(text="It is 42."))
    first = ask(cold, store, cache, "What is 6*7?", tools)
    list(first.run())
    assert len(server.chat_requests()) == 2 and cache.count() == 2

    second = ask(cold, store, cache, "What is 6*7?", tools)
    events = list(second.run())
    assert len(server.chat_requests()) == 2
    (result,) = [event for event in events if isinstance(event, ToolResult)]
    assert '"result": 42' in result.content
    calling, _, answer = second.reply
    assert calling.tool_calls[0]["name"] == "calculate" and answer.content == "It is 42."
    assert calling.cache_saved == first.reply[0].cost and answer.cache_saved == first.reply[-1].cost


def test_another_api_key_finds_the_same_answer_but_another_owner_does_not(server, store):
    cache = ResponseCache(store, BOOK, HOUR)
    messages = [{"role": "user", "content": "hi"}]

    def run(api_key: str, cache: ResponseCache) -> list[Any]:
        target = Target(LLMClient(api_key, server.base_url, read_timeout=5), PARAMS.model)
        return list(TurnRunner([target], RetryPolicy(max_retries=0), cache=cache).run(messages, PARAMS))

    server.expect(Reply(text="Hello."))
    run("sk-first-0123456789abcdef", cache)
    again = run("sk-second-0123456789abcdef", cache)
    assert len(server.chat_requests()) == 1 and isinstance(again[0], AnsweredFromCache)

    server.expect(Reply(text="Hello, Bob."))
    bobs = run("sk-first-0123456789abcdef", ResponseCache(store.as_user("bob@example.com"), BOOK, HOUR))
    assert len(server.chat_requests()) == 2 and not [e for e in bobs if isinstance(e, AnsweredFromCache)]
