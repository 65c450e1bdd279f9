"""A turn without the UI: prepared, run and recorded against the scripted server, saved in a real SQLite file."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import model_catalog
from config import Settings
from conversation_manager import AWAITING, DONE, STOPPED, Conversation, Message
from events import Finished, RequestSent, Retrying, StreamEvent, TextDelta, UsageReported
from function_tools import default_registry
from records import SettingsRecord
from scripted_server import Reply
from store import Store
from token_tracker import Cost, PriceBook, Totals, Usage
from turn import (
    STILL_WRITING_SECONDS,
    Action,
    ChatSettings,
    Go,
    Hold,
    Save,
    SendState,
    Turn,
    TurnChoices,
    decide,
    prepare,
    reply_figures,
    spending,
    written_elsewhere,
)

CHOICES = TurnChoices("en", "default", ())
BOOK = PriceBook(usd_cny_rate=7.0)


def saver(store: Store, conversation: Conversation) -> Save:
    def save(messages: Sequence[Message]) -> bool:
        store.save(conversation, messages)
        return True

    return save


def start(settings: Settings, store: Store, text: str | None) -> Turn:
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    return prepare(conversation, settings, CHOICES, text, registry=registry, book=BOOK, save=saver(store, conversation))


def test_a_turn_runs_records_and_saves_without_the_ui(settings, store, server):
    server.expect(Reply(text="Hello there.", usage=(12, 3)))
    turn = start(settings, store, "hi")
    events = list(turn.run())
    assert isinstance(events[0], RequestSent) and isinstance(events[-1], Finished)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there."
    user, reply = turn.conversation.messages
    assert (user.content, reply.content, reply.status) == ("hi", "Hello there.", DONE)
    assert reply.usage == Usage(12, 3) and turn.reply == [reply]
    assert turn.conversation.settings == ChatSettings.of(settings, CHOICES).to_dict()
    stored = store.load(turn.conversation.id)
    assert stored is not None and [m.to_dict() for m in stored.messages] == [user.to_dict(), reply.to_dict()]


def test_the_output_cap_is_applied_once_for_request_and_history_budget(settings, store, server):
    model = model_catalog.lookup(settings.model)
    settings = settings.with_overrides(max_tokens=model.max_output * 4)  # more than the model can give
    server.expect(Reply(text="ok"))
    turn = start(settings, store, "hi")
    list(turn.run())
    assert turn.params.max_tokens == turn.spec.max_tokens == model.max_output
    assert server.chat_requests()[0]["max_tokens"] == model.max_output
    assert turn.request.budget == model.context_window - model.max_output  # no tools enabled


def test_closing_a_turn_midway_settles_and_saves_what_arrived(settings, store, server):
    server.expect(Reply(text="one two three four five six", chunk_delay=0.05))
    turn = start(settings, store, "count")
    events = turn.run()
    for event in events:
        if isinstance(event, TextDelta):
            break
    events.close()  # the user's Stop
    reply = turn.conversation.messages[-1]
    assert reply.status == STOPPED and reply.content == "one "
    assert reply.usage is not None and reply.usage.estimated  # settled: its cost estimated
    stored = store.load(turn.conversation.id)
    assert stored is not None and stored.messages[-1].to_dict() == reply.to_dict()


def test_a_reply_streaming_in_a_chat_saved_just_now_is_written_elsewhere_and_an_older_one_was_cut_off(store):
    conversation = Conversation()
    conversation.add_user("hi")
    conversation.append(Message("assistant", "partial", status="streaming"))
    store.save(conversation)
    loaded = store.load(conversation.id)
    assert loaded is not None and loaded.unfinished() and loaded.saved_at is not None
    saved = datetime.fromisoformat(loaded.saved_at)
    assert written_elsewhere(loaded, saved + timedelta(seconds=1))
    assert not written_elsewhere(loaded, saved + timedelta(seconds=STILL_WRITING_SECONDS + 1))
    assert not written_elsewhere(conversation, saved)  # never read from the store: this tab's own
    loaded.settle_unfinished(BOOK)
    assert not written_elsewhere(loaded, saved)  # nothing streaming


def test_a_retry_shows_as_the_turns_notice_until_text_goes_on(settings, store, server):
    settings = settings.with_overrides(max_retries=1)
    server.expect(Reply.fail(503, "busy"), Reply(text="back"))
    turn = start(settings, store, "hi")
    slept: list[float] = []
    turn.runner.sleep = slept.append  # the retry's wait, without waiting
    notices = [(type(event).__name__, turn.notice) for event in turn.run()]
    retrying = [notice for name, notice in notices if name == "Retrying"]
    assert len(retrying) == 1 and isinstance(retrying[0], Retrying) and retrying[0].error.kind == "server"
    assert slept == [retrying[0].delay]
    after_text = [notice for name, notice in notices if name in ("TextDelta", "Finished")]
    assert after_text and all(notice is None for notice in after_text)
    assert turn.conversation.messages[-1].content == "back"


def test_two_turns_run_side_by_side_and_each_is_recorded_whole(settings, store, server):
    server.expect(
        Reply(text="first answer in words", chunk_delay=0.02, usage=(10, 4)),
        Reply(text="second answer in words", chunk_delay=0.02, usage=(10, 4)),
    )
    turns = [start(settings, store, f"question {n}") for n in (1, 2)]
    both_sent = threading.Barrier(2, timeout=30)
    seen: dict[int, list[StreamEvent]] = {}

    def run(index: int) -> None:
        events = turns[index].run()
        first = next(events)
        both_sent.wait()  # each turn has begun before either goes on: they run side by side
        seen[index] = [first, *events]

    threads = [threading.Thread(target=run, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    answers = set()
    for index, turn in enumerate(turns):
        events = seen[index]
        assert isinstance(events[-1], Finished) and any(isinstance(e, UsageReported) for e in events)
        user, reply = turn.conversation.messages
        assert user.content == f"question {index + 1}" and reply.status == DONE
        assert reply.content == "".join(e.text for e in events if isinstance(e, TextDelta))
        sent = turn.conversation.last_request
        assert sent is not None and sent["messages"][-1]["content"] == f"question {index + 1}"
        stored = store.load(turn.conversation.id)
        assert stored is not None and [m.to_dict() for m in stored.messages] == [user.to_dict(), reply.to_dict()]
        answers.add(reply.content)
    assert answers == {"first answer in words", "second answer in words"}


def test_chat_settings_are_stored_under_the_names_an_import_checks():
    saved = ChatSettings("openai", "gpt-4o", "coder", ("calculator",), 0.3, 512, "Be brief.")
    stored = saved.to_dict()
    assert set(stored) == set(SettingsRecord.model_fields)
    assert SettingsRecord.model_validate(stored).model_dump() == stored
    assert ChatSettings.from_dict(stored) == saved


def test_chat_settings_of_an_older_chat_leave_missing_controls_alone():
    restored = ChatSettings.from_dict({"template": "coder", "someday": 1})
    assert restored == ChatSettings(template="coder")
    assert restored.to_dict() == {"template": "coder", "system_prompt": ""}


def priced(
    prompt: int, completion: int, estimate: int | None, first_token_ms: int | None = None, stream_ms: int | None = None
) -> Message:
    return Message(
        "assistant",
        "x",
        usage=Usage(prompt, completion),
        cost=Cost(0.01, 0.07),
        estimated_prompt_tokens=estimate,
        first_token_ms=first_token_ms,
        stream_ms=stream_ms,
    )


def test_reply_figures_compare_the_estimate_with_what_the_provider_counted():
    assert reply_figures([Message("assistant", "no usage")]) is None
    figures = reply_figures(
        [priced(100, 10, 110), priced(300, 20, None), priced(100, 50, 90, first_token_ms=500, stream_ms=2000)]
    )
    assert figures is not None
    assert figures.totals.usage == Usage(500, 80)
    assert figures.estimate == (200, 200, 0.0)  # the reply without an estimate is left out of both sides
    assert figures.speed == (0.5, 25.0)
    estimated = priced(100, 10, 120)
    estimated.usage = Usage(100, 10, estimated=True)
    only_estimated = reply_figures([estimated])
    assert only_estimated is not None and only_estimated.estimate is None


def test_a_hard_daily_budget_holds_even_after_send_anyway_and_the_chats_own_stays_soft(settings):
    settings = settings.with_overrides(budget_per_day=0.01, budget_per_chat=0.01, budget_currency="USD")
    spent = Totals.of([(Usage(1000, 0), Cost(0.02, 0.14))])
    team = spending(spent, spent, settings, day_hard=True).over
    assert [(check.scope, check.hard) for check in team] == [("chat", False), ("day", True)]
    asked = Action("prompt", "more")
    decision, state = decide("more", SendState(), team)
    assert decision == Hold(asked, team[1]) and state == SendState(held=asked)  # the hard one is the reason
    decision, state = decide(None, SendState(pending=asked, confirmed=True), team)  # "send anyway" somehow pressed
    assert decision == Hold(asked, team[1]) and state == SendState(held=asked)
    own = spending(spent, Totals.of([]), settings, day_hard=True).over  # only the chat's budget spent: soft
    assert decide(None, SendState(pending=asked, confirmed=True), own)[0] == Go(asked)
    single = spending(spent, spent, settings).over  # the single-user app: both soft, as before
    assert not any(check.hard for check in single)
    assert decide(None, SendState(pending=asked, confirmed=True), single)[0] == Go(asked)


def test_a_turn_ended_cleanly_only_when_every_message_of_its_reply_is_done_without_an_error(settings, store, server):
    """What lets the page be completed in place after a reply (app.go); anything else has the page drawn again."""
    server.expect(Reply(text="Hello there."))
    done = start(settings, store, "hi")
    list(done.run())
    assert done.ended_cleanly

    server.expect(Reply.fail(500, "the server is down"))
    failed = start(settings, store, "hi")
    list(failed.run())
    assert failed.reply and not failed.ended_cleanly

    server.expect(Reply(text="one two three four", chunk_delay=0.05))
    stopped = start(settings, store, "count")
    events = stopped.run()
    next(event for event in events if isinstance(event, TextDelta))
    events.close()  # the user's Stop
    assert stopped.reply[-1].status == STOPPED and not stopped.ended_cleanly

    server.expect(Reply(tool_calls=[("calculate", '{"expression": "2+2"}')]))
    asking = TurnChoices("en", "default", ("calculate",), approve_all=True)
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    waiting = prepare(
        conversation, settings, asking, "2+2?", registry=registry, book=BOOK, save=saver(store, conversation)
    )
    list(waiting.run())
    assert waiting.reply[-1].status == AWAITING and not waiting.ended_cleanly
