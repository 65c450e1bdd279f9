"""Compare without the UI: variants run at once against the scripted server, recorded, merged and saved in SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from compare import LABELS, Comparison, Variant, prepare
from config import Settings
from conversation_manager import DONE, INTERRUPTED, STOPPED, Conversation
from events import StreamEvent, TextDelta
from function_tools import default_registry
from prompt_templates import TEMPLATES
from scripted_server import Reply
from store import Store
from test_turn import saver
from token_tracker import PriceBook, Totals, Usage
from turn import TurnChoices
from turn import prepare as prepare_turn

CHOICES = TurnChoices("en", "standard", ())
BOOK = PriceBook(usd_cny_rate=7.0)
MODELS = ("gpt-4o-mini", "gpt-4o", "deepseek-chat")  # priced differently: each cost is told apart


def variants_of(
    models: Sequence[str], templates: Sequence[str] = (), temperatures: Sequence[float] = ()
) -> list[Variant]:
    """One variant per model, labelled A, B, ...; the standard template and temperature 0.7 unless given."""
    return [
        Variant(
            LABELS[n],
            templates[n] if templates else "standard",
            model,
            temperatures[n] if temperatures else 0.7,
            300,
        )
        for n, model in enumerate(models)
    ]


def start(
    settings: Settings, store: Store, conversation: Conversation, question: str, variants: Sequence[Variant]
) -> Comparison:
    save = saver(store, conversation)
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    prepared = partial(prepare_turn, registry=registry, book=BOOK, save=save)
    return prepare(conversation, question, variants, settings, CHOICES, prepared, save)


def by_model(model: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body["model"] == model


def all_arrived(count: int) -> Callable[[dict[str, Any]], str | None]:
    """A check that holds each request until ``count`` have arrived: only requests sent at once get through."""
    barrier = threading.Barrier(count, timeout=20)

    def check(body: dict[str, Any]) -> str | None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return "the variants' requests did not arrive together"
        return None

    return check


def collect(comparison: Comparison) -> dict[int, list[StreamEvent | None]]:
    seen: dict[int, list[StreamEvent | None]] = {}
    for index, event in comparison.run():
        seen.setdefault(index, []).append(event)
    return seen


def test_variants_run_at_once_each_is_booked_and_the_kept_one_survives_a_reload(settings, store, server):
    conversation = Conversation()
    server.expect(Reply(text="Earlier answer.", usage=(20, 5)))
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    earlier = prepare_turn(
        conversation,
        settings,
        CHOICES,
        "An earlier question",
        registry=registry,
        book=BOOK,
        save=saver(store, conversation),
    )
    list(earlier.run())
    arrived = all_arrived(3)
    server.expect(
        *(
            Reply(f"Answer from {model} in words", usage=(100 + n, 10 + n), chunk_delay=0.02, when=by_model(model))
            for n, model in enumerate(MODELS)
        )
    )
    for reply in list(server.script)[-3:]:
        reply.check = arrived
    comparison = start(
        settings, store, conversation, "Which is best?", variants_of(MODELS, temperatures=(0.0, 0.5, 1.0))
    )
    seen = collect(comparison)

    posts = [r for r in server.requests if r["method"] == "POST"][1:]
    assert max(r["received"] for r in posts) < min(r["finished"] for r in posts)  # their times overlap
    for model, temperature in zip(MODELS, (0.0, 0.5, 1.0), strict=True):
        body = next(r["body"] for r in posts if r["body"]["model"] == model)
        assert body["temperature"] == temperature and body["max_tokens"] == 300
        history = [m["content"] for m in body["messages"] if m["role"] != "system"]
        assert history == ["An earlier question", "Earlier answer.", "Which is best?"]
    question = comparison.question
    assert [m.content for m in conversation.messages[:3]] == [
        "An earlier question",
        "Earlier answer.",
        "Which is best?",
    ]
    assert [m.role for m in conversation.nodes.values()].count("user") == 2  # the question was added once
    replies = conversation.versions(comparison.lanes[0].reply[0])
    assert [(r.content, r.model, r.status) for r in replies] == [
        (f"Answer from {model} in words", model, DONE) for model in MODELS
    ]
    assert all(r.parent_id == question.id for r in replies)
    assert conversation.messages[-1] is replies[0]  # the first is current until another is kept

    for index, lane in enumerate(comparison.lanes):
        events = seen[index]
        assert events[-1] is None and events.count(None) == 1  # each variant says once that it ended
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == f"Answer from {MODELS[index]} in words"
        usage = Usage(100 + index, 10 + index)
        figures = lane.figures()
        assert figures.totals is not None and figures.totals.usage == usage
        assert figures.totals.cost == BOOK.cost(MODELS[index], usage)
        first_token = lane.reply[0].first_token_ms
        assert first_token is not None and figures.total is not None and first_token / 1000 <= figures.total
        assert figures.finish == "stop"
        sent = next(r["raw"].decode() for r in posts if r["body"]["model"] == MODELS[index])
        assert [trace["request_body"] for trace in store.traces(lane.reply[0].id)] == [sent]  # its trace kept

    booked = Totals.of((m.usage, m.cost) for m in conversation.nodes.values() if m.usage and m.cost)
    assert booked.calls == 4 and conversation.totals() == booked  # the earlier reply and every variant's
    stored_totals = store.totals()
    assert stored_totals.calls == 4 and stored_totals.usage == booked.usage
    assert stored_totals.cost.usd == pytest.approx(booked.cost.usd)

    comparison.keep(1)
    assert conversation.messages[-1] is replies[1]
    assert conversation.last_request is not None and conversation.last_request["model"] == MODELS[1]
    stored = store.load(conversation.id)
    assert stored is not None and stored.messages[-1].content == f"Answer from {MODELS[1]} in words"
    assert [v.content for v in stored.versions(stored.messages[-1])] == [r.content for r in replies]
    assert stored.totals() == conversation.totals()


def system_prompt(body: dict[str, Any]) -> str:
    return body["messages"][0]["content"]


def test_each_variant_asks_under_its_own_template(settings, store, server):
    templates = ("standard", "chain_of_thought", "few_shot")
    server.expect(
        *(
            Reply(f"{key} answer", when=lambda body, key=key: system_prompt(body) == TEMPLATES[key].system["en"])
            for key in templates
        )
    )
    conversation = Conversation()
    comparison = start(
        settings, store, conversation, "Why is the sky blue?", variants_of([settings.model] * 3, templates)
    )
    collect(comparison)
    bodies = {system_prompt(body): body for body in server.chat_requests()}
    asked = {key: bodies[TEMPLATES[key].system["en"]]["messages"] for key in templates}
    assert asked["standard"][-1]["content"] == "Why is the sky blue?"
    assert asked["chain_of_thought"][-1]["content"] == "Why is the sky blue?\n\nLet's think step by step."
    assert len(asked["few_shot"]) > len(asked["standard"])  # its examples go before the question
    assert [(lane.reply[0].template, lane.reply[0].content) for lane in comparison.lanes] == [
        (key, f"{key} answer") for key in templates
    ]
    assert conversation.messages[0].content == "Why is the sky blue?"  # stored as typed, once
    assert [m.role for m in conversation.nodes.values()].count("user") == 1


def test_a_failing_variant_is_kept_with_its_error_beside_the_others(settings, store, server):
    server.expect(
        Reply("Fine answer", usage=(30, 2), when=by_model(MODELS[0])),
        replace(Reply.fail(400, "This model does not exist", code="model_not_found"), when=by_model(MODELS[1])),
    )
    conversation = Conversation()
    comparison = start(settings, store, conversation, "Hello", variants_of(MODELS[:2]))
    collect(comparison)
    good, failed = (lane.reply[0] for lane in comparison.lanes)
    assert (good.status, failed.status) == (DONE, INTERRUPTED)
    assert failed.error is not None and not failed.content and failed.usage is None
    assert [lane.figures().finish for lane in comparison.lanes] == ["stop", INTERRUPTED]
    assert store.totals().calls == 1  # only the answer was billed
    stored = store.load(conversation.id)
    assert stored is not None and stored.nodes[failed.id].error == failed.error


def test_stopping_a_comparison_keeps_and_saves_what_each_variant_had(settings, store, server):
    server.expect(
        *(
            Reply("one two three four five six seven eight", chunk_delay=0.05, when=by_model(model))
            for model in MODELS[:2]
        )
    )
    conversation = Conversation()
    comparison = start(settings, store, conversation, "Count", variants_of(MODELS[:2]))
    shown = {0: "", 1: ""}
    events = comparison.run()
    for index, event in events:
        if isinstance(event, TextDelta):
            shown[index] += event.text
        if all(shown.values()):
            break
    events.close()  # the user's Stop
    stored = store.load(conversation.id)
    assert stored is not None
    for index, lane in enumerate(comparison.lanes):
        reply = lane.reply[0]
        assert reply.status == STOPPED and reply.content == shown[index] and reply.content
        assert reply.usage is not None and reply.usage.estimated and reply.cost is not None  # settled: cost estimated
        assert stored.nodes[reply.id].to_dict() == reply.to_dict()
        assert lane.figures().finish == STOPPED
    assert stored.messages[-1].id == comparison.lanes[0].reply[0].id
    assert store.totals().calls == 2


def test_a_stop_at_the_first_event_still_records_every_variant(settings, store, server):
    server.expect(*(Reply("late words", chunk_delay=0.05, when=by_model(model)) for model in MODELS))
    conversation = Conversation()
    comparison = start(settings, store, conversation, "Quick", variants_of(MODELS))
    events = comparison.run()
    next(events)
    events.close()
    replies = [lane.reply for lane in comparison.lanes]
    assert all(len(reply) == 1 and reply[0].status == STOPPED for reply in replies)
    assert [v.id for v in conversation.versions(replies[0][0])] == [reply[0].id for reply in replies]
    stored = store.load(conversation.id)
    assert stored is not None and [v.id for v in stored.versions(stored.messages[-1])] == [r[0].id for r in replies]
    for _ in range(200):  # the requests went out all the same: wait for each to reach the server
        if len(server.chat_requests()) == 3:
            break
        threading.Event().wait(0.05)
    assert len(server.chat_requests()) == 3


def test_each_variants_times_count_when_its_events_came_not_when_they_were_drawn(settings, store, server):
    """A clock that counts each thread's calls: every event a variant's thread hands on is one tick later than the
    one before, whatever the caller's thread was doing meanwhile."""
    ticks = threading.local()

    def clock() -> float:
        ticks.n = getattr(ticks, "n", 0) + 1
        return float(ticks.n)

    server.expect(*(Reply("Hello there", when=by_model(model)) for model in MODELS[:2]))
    comparison = start(settings, store, Conversation(), "Hi", variants_of(MODELS[:2]))
    comparison.clock = clock
    collect(comparison)
    for lane in comparison.lanes:
        first = lane.reply[0]
        assert first.content == "Hello there"
        assert first.first_token_ms == 1000  # sent at its thread's first tick, first text at its second


@pytest.mark.parametrize("count", [1, 5])
def test_a_comparison_takes_two_to_four_variants(settings, store, count):
    conversation = Conversation()
    with pytest.raises(ValueError, match="2 to 4 variants"):
        start(settings, store, conversation, "Hi", [Variant("X", "standard", "gpt-4o-mini", 0.7, 100)] * count)
    assert not conversation.nodes
