"""The usage log: each HTTP attempt a turn makes is a row (retries, tool rounds, fallbacks, a summary, a stopped
reply), priced with the turn's PriceBook, saved once with its owner and chat on both dialects; and the Usage page's
arithmetic (sums per day in a time zone, the month's projection, the CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import store as store_module
from config import Settings, display_url, load_settings
from conversation_manager import Conversation, Message, SideCall
from events import CallRecord, TextDelta, utc_iso
from function_tools import default_registry
from scripted_server import Reply
from store import LoggedCall, Store
from token_tracker import Cost, PriceBook, Usage
from turn import Save, Turn, TurnChoices, prepare
from usage_log import (
    CSV_COLUMNS,
    csv_text,
    date_range,
    day_start,
    days_between,
    in_currency,
    month_start,
    per_model,
    project_month,
)

BOOK = PriceBook(usd_cny_rate=7.0)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def saver(store: Store, conversation: Conversation) -> Save:
    def save(messages: Sequence[Message]) -> bool:
        store.save(conversation, messages)
        return True

    return save


def start(settings: Settings, store: Store, text: str, tools: tuple[str, ...] = ()) -> Turn:
    conversation = Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", tools)
    return prepare(conversation, settings, choices, text, registry=registry, book=BOOK, save=saver(store, conversation))


def logged(store: Store) -> list[CallRecord]:
    """The store's usage log, oldest first."""
    return [row.call for row in reversed(store.api_calls())]


def test_each_attempt_of_a_turn_is_a_row_priced_as_its_usage(app_env, monkeypatch, store):
    monkeypatch.setenv("MAX_RETRIES", "1")
    settings = load_settings()
    app_env.expect(
        Reply.fail(500, "The server had an error"),
        Reply(tool_calls=[("calculate", '{"expression": "6*7"}')], usage=(30, 8), cached_tokens=10),
        Reply(text="42.", usage=(50, 6)),
    )
    turn = start(settings, store, "6*7?", tools=("calculate",))
    list(turn.run())
    assert turn.conversation.calls == []  # saved, and let go
    calls = logged(store)
    received = [r for r in app_env.requests if r["method"] == "POST"]
    assert len(calls) == len(received) == 3
    assert [(c.kind, c.outcome) for c in calls] == [("chat", "server"), ("retry", "ok"), ("tool_round", "ok")]
    assert [c.model for c in calls] == [r["body"]["model"] for r in received]
    assert {c.provider for c in calls} == {display_url(app_env.base_url)}
    assert [c.usage for c in calls] == [Usage(), Usage(30, 8, 10), Usage(50, 6)]
    assert [c.cost for c in calls] == [
        Cost(),
        BOOK.cost("gpt-4o-mini", Usage(30, 8, 10)),
        BOOK.cost("gpt-4o-mini", Usage(50, 6)),
    ]
    assert all(c.total_ms is not None and c.total_ms >= 0 for c in calls)
    assert calls[0].first_token_ms is None and calls[2].first_token_ms is not None  # the answer's text came
    assert sum(c.cost.usd for c in calls if c.cost) == pytest.approx(turn.conversation.totals().cost.usd)


def test_a_summary_and_a_stopped_reply_are_rows_too(app_env, monkeypatch, store):
    monkeypatch.setenv("SUMMARIZE_AT", "1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4")  # a small window: the first turn is worth summarizing
    settings = load_settings()
    turn = start(settings, store, "question 0 " + "long " * 200)
    app_env.expect(Reply(text="answer 0", usage=(900, 4)))
    list(turn.run())
    conversation = turn.conversation
    conversation.add_user("question 1 " + "long " * 200)
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    turn = prepare(
        conversation,
        settings,
        TurnChoices("en", "default", ()),
        "newest",
        registry=registry,
        book=BOOK,
        save=saver(store, conversation),
    )
    assert turn.older
    app_env.expect(
        Reply(text="Earlier: questions.", usage=(300, 10)), Reply(text="one two three four five", chunk_delay=0.05)
    )
    turn.summarize()
    events = turn.run()
    for event in events:
        if isinstance(event, TextDelta):
            break
    events.close()  # the user's Stop
    calls = logged(store)
    assert [(c.kind, c.outcome) for c in calls] == [("chat", "ok"), ("summary", "ok"), ("chat", "stopped")]
    assert calls[1].usage == Usage(300, 10) and calls[1].cost == BOOK.cost("gpt-4", Usage(300, 10))
    assert len(calls) == len([r for r in app_env.requests if r["method"] == "POST"])


def record(at: str, model: str = "gpt-4o-mini", usd: float = 0.01, kind: str = "chat") -> CallRecord:
    usage = Usage(100, 20)
    return CallRecord(at, kind, "https://api.example.com", model, usage, 300, 900, "ok", Cost(usd, usd * 7))


def test_calls_are_saved_once_per_owner_and_chat_and_side_calls_join_them(database_url, open_stores):
    store = open_stores(database_url)
    alice, bob = store.as_user("alice@example.com"), store.as_user("bob@example.com")
    chat = Conversation(title="Alice's")
    chat.calls = [
        record("2026-11-01T10:00:00.000000+00:00"),
        record("2026-11-02T10:00:00.000000+00:00", model="gpt-4o"),
    ]
    title = SideCall("title", "gpt-4o-mini", Usage(40, 4), Cost(0.001, 0.007), created_at="2026-11-03T00:00:00+00:00")
    chat.side_calls.append(title)
    alice.save(chat)
    assert chat.calls == []
    alice.save(chat)  # again: nothing is logged twice
    other = Conversation(title="Bob's")
    other.calls = [record("2026-11-02T12:00:00.000000+00:00")]
    bob.save(other)

    rows = alice.api_calls()
    assert [(r.call.at[:10], r.call.kind, r.call.model) for r in rows] == [
        ("2026-11-03", "title", "gpt-4o-mini"),
        ("2026-11-02", "chat", "gpt-4o"),
        ("2026-11-01", "chat", "gpt-4o-mini"),
    ]
    assert {(r.chat_id, r.title) for r in rows} == {(chat.id, "Alice's")}
    assert rows[0].call.cost == Cost(0.001, 0.007) and rows[0].call.total_ms is None  # the side call, untimed
    assert rows[1].call == replace(record("2026-11-02T10:00:00.000000+00:00", model="gpt-4o"), id=rows[1].call.id)
    assert [r.call.model for r in alice.api_calls(model="gpt-4o")] == ["gpt-4o"]
    assert len(alice.api_calls("2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00")) == 1
    assert alice.api_calls(chat=other.id) == []  # Bob's chat: not Alice's to read
    assert [r.chat_id for r in bob.api_calls()] == [other.id]
    alice.delete(chat.id)
    assert [r.title for r in alice.api_calls()] == ["", "", ""]  # what was spent stays in the log


# Each row the store offers side_calls or api_calls is noted by a trigger before the insert, so before an
# ON CONFLICT DO NOTHING could drop it: what a save sends, not only what it adds.
OFFERED_SQLITE = """
CREATE TABLE offered (tbl TEXT NOT NULL, id TEXT NOT NULL);
CREATE TRIGGER side_offered BEFORE INSERT ON side_calls BEGIN INSERT INTO offered VALUES ('side_calls', NEW.id); END;
CREATE TRIGGER api_offered BEFORE INSERT ON api_calls BEGIN INSERT INTO offered VALUES ('api_calls', NEW.id); END;
"""
OFFERED_POSTGRESQL = """
CREATE TABLE offered (tbl TEXT NOT NULL, id TEXT NOT NULL);
CREATE FUNCTION note_offered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO offered VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END $$;
CREATE TRIGGER side_offered BEFORE INSERT ON side_calls FOR EACH ROW EXECUTE FUNCTION note_offered();
CREATE TRIGGER api_offered BEFORE INSERT ON api_calls FOR EACH ROW EXECUTE FUNCTION note_offered();
"""


def offered(store: Store) -> list[tuple[str, str]]:
    """The rows offered since the last look (table, id), then forgotten."""
    with store.transaction() as db:
        rows = db.execute("SELECT tbl, id FROM offered").fetchall()
        db.execute("DELETE FROM offered")
    return sorted((row["tbl"], row["id"]) for row in rows)


def test_a_side_call_is_sent_to_the_database_once_however_often_its_chat_is_saved(database_url, open_stores):
    store = open_stores(database_url)
    with store.transaction() as db:
        db.script(sqlite=OFFERED_SQLITE, postgresql=OFFERED_POSTGRESQL)
    chat = Conversation(title="side calls")
    checked = record("2026-11-01T10:00:00.000000+00:00", kind="moderation")
    chat.calls.append(checked)  # a call that logged itself, booked as a side call under its row's id
    chat.side_calls.append(SideCall("moderation", checked.model, Usage(5), Cost(0.001, 0.007), id=checked.id))
    unlogged = SideCall("title", "gpt-4o-mini", Usage(40, 4), Cost(0.002, 0.014))  # booked without its row: untimed
    chat.side_calls.append(unlogged)
    store.save(chat)
    each_once = [("api_calls", checked.id), ("api_calls", unlogged.id), ("side_calls", checked.id)]
    assert offered(store) == sorted([*each_once, ("side_calls", unlogged.id)])
    store.save(chat, [])  # as while a reply streams, once a second
    store.save(chat)
    assert offered(store) == []
    later = SideCall("title", "gpt-4o-mini", Usage(30, 3), Cost(0.001, 0.007))
    chat.side_calls.append(later)
    store.save(chat, [])
    assert offered(store) == [("api_calls", later.id), ("side_calls", later.id)]
    loaded = open_stores(database_url).load(chat.id)
    assert loaded is not None
    store.save(loaded)
    assert offered(store) == []
    assert len(store.api_calls()) == 3 and loaded.side_calls == chat.side_calls


def test_a_database_from_before_the_log_gets_a_row_per_stored_reply_and_title_call(
    database_url, open_stores, monkeypatch
):
    names = [function.__name__ for function in store_module.MIGRATIONS]
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[: names.index("m013_api_calls")])
    old = open_stores(database_url).as_user("ann@example.com")
    chat = Conversation(title="old", created_at="2026-11-02T08:00:00+00:00")
    chat.add_user("hi")
    reply = Message(
        "assistant", "hello", model="gpt-4o-mini", usage=Usage(10, 2), created_at="2026-11-02T08:00:01+00:00"
    )
    reply.cost, reply.first_token_ms = Cost(0.5, 3.5), 120
    chat.append(reply)
    title_usage = Usage(40, 4)
    chat.side_calls.append(
        SideCall("title", "gpt-4o", title_usage, Cost(0.25, 1.75), created_at="2026-11-03T00:00:00+00:00")
    )
    old.add([chat])  # as the code before m013 stored a chat: no log to write to
    monkeypatch.undo()
    rows = open_stores(database_url).as_user("ann@example.com").api_calls()
    assert [(r.chat_id, r.call.at, r.call.kind, r.call.model, r.call.outcome) for r in rows] == [
        (chat.id, "2026-11-03T00:00:00.000000+00:00", "title", "gpt-4o", "ok"),
        (chat.id, "2026-11-02T08:00:01.000000+00:00", "chat", "gpt-4o-mini", "ok"),
    ]
    assert [(r.call.usage, r.call.cost, r.call.first_token_ms) for r in rows] == [
        (title_usage, Cost(0.25, 1.75), None),
        (Usage(10, 2), Cost(0.5, 3.5), 120),
    ]


def test_a_call_in_the_first_second_of_a_day_is_that_days(store):
    chat = Conversation(title="midnight")
    chat.calls = [record(utc_iso(datetime(2026, 11, 2, 0, 0, 0, 500000, UTC)))]
    title = SideCall("title", "gpt-4o-mini", Usage(40, 4), Cost(0.001, 0.007), created_at="2026-11-02T00:00:00+00:00")
    chat.side_calls.append(title)  # booked by a version that wrote whole seconds
    store.save(chat)
    day = date(2026, 11, 2)
    assert len(store.api_calls(*date_range(day, day, UTC))) == 2
    assert store.api_calls(*date_range(day - timedelta(days=1), day - timedelta(days=1), UTC)) == []
    assert {len(row.call.at) for row in store.api_calls()} == {len(utc_iso())}


def test_the_month_is_summed_in_the_readers_time_zone_and_projected_at_its_daily_rate(store):
    now = datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)
    chat = Conversation(title="month")
    chat.calls = [
        record("2026-10-31T16:30:00+00:00", usd=5.0),  # 1 November, 00:30 in Shanghai: this month there
        record("2026-10-31T15:00:00+00:00", usd=7.0),  # still October in Shanghai
        record("2026-11-05T00:00:00+00:00", usd=5.0),
    ]
    store.save(chat)
    (month,) = store.api_call_sums(day_start(month_start(now).date(), SHANGHAI))
    assert (month.calls, month.cost.usd) == (2, pytest.approx(10.0))
    projection = project_month(month.cost.usd, now)
    assert projection.projected == pytest.approx(30.0)  # 1 a day for 30 days
    (in_utc,) = store.api_call_sums(day_start(month_start(now.astimezone(UTC)).date(), UTC))
    assert in_utc.cost.usd == 5.0  # in UTC both calls of October 31st are last month's


def test_the_month_needs_a_time_zone_and_begins_at_local_midnight():
    with pytest.raises(ValueError, match="time zone"):
        month_start(datetime(2026, 11, 10))
    assert month_start(datetime(2026, 2, 28, 23, 59, tzinfo=SHANGHAI)) == datetime(2026, 2, 1, tzinfo=SHANGHAI)
    assert project_month(0.0, datetime(2026, 2, 1, tzinfo=UTC)).projected == 0.0


def test_sums_per_day_follow_the_readers_days_and_per_model_the_costliest_first(store):
    chat = Conversation(title="sums")
    chat.calls = [
        record("2026-11-01T16:30:00+00:00", "gpt-4o", 2.0),  # 2 November in Shanghai
        record("2026-11-01T10:00:00+00:00", "gpt-4o-mini", 1.0),
        record("2026-11-02T01:00:00+00:00", "gpt-4o-mini", 0.5),
    ]
    store.save(chat)
    first, last = date(2026, 11, 1), date(2026, 11, 3)
    days = store.api_call_days(days_between(first, last, SHANGHAI))
    assert [(d.label, d.calls) for d in days] == [("2026-11-01", 1), ("2026-11-02", 2)]
    assert [(d.label, d.cost) for d in in_currency(days, "USD")] == [("2026-11-01", 1.0), ("2026-11-02", 2.5)]
    in_utc = in_currency(store.api_call_days(days_between(first, last, UTC)), "CNY")
    assert [(d.label, d.cost) for d in in_utc] == [("2026-11-01", 21.0), ("2026-11-02", 3.5)]
    models = per_model(store.api_call_sums(*date_range(first, last, SHANGHAI)), "USD")
    assert [(m.label, m.cost, m.prompt_tokens) for m in models] == [("gpt-4o", 2.0, 100), ("gpt-4o-mini", 1.5, 200)]
    assert store.api_call_sums(model="gpt-4o", chat=chat.id)[0].calls == 1
    assert date_range(first, date(2026, 11, 2), SHANGHAI) == (
        "2026-10-31T16:00:00.000000+00:00",
        "2026-11-02T16:00:00.000000+00:00",
    )


def test_the_newest_calls_alone_when_limited(store):
    chat = Conversation(title="many")
    chat.calls = [record(f"2026-11-0{day}T10:00:00+00:00") for day in range(1, 6)]
    store.save(chat)
    assert [r.call.at[:10] for r in store.api_calls(limit=2)] == ["2026-11-05", "2026-11-04"]
    assert store.api_call_chats() == {chat.id: "many"}


def logged_call(at: str, model: str, usd: float, chat: str = "c1", title: str = "A chat") -> LoggedCall:
    return LoggedCall(chat, title, record(at, model, usd))


def test_the_csv_holds_each_call_with_its_chat_tokens_times_and_both_costs():
    calls = [logged_call("2026-11-01T10:00:00+00:00", "gpt-4o", 2.0, title='Quotes "and", commas')]
    rows = list(csv.DictReader(io.StringIO(csv_text(calls))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows == [
        {
            "time_utc": "2026-11-01T10:00:00+00:00",
            "chat_id": "c1",
            "chat": 'Quotes "and", commas',
            "provider": "https://api.example.com",
            "model": "gpt-4o",
            "kind": "chat",
            "prompt_tokens": "100",
            "cached_tokens": "0",
            "completion_tokens": "20",
            "ttft_ms": "300",
            "total_ms": "900",
            "cost_usd": "2.0",
            "cost_cny": "14.0",
            "priced": "1",
            "outcome": "ok",
        }
    ]


@pytest.mark.parametrize("title", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_title_starting_like_a_formula_is_not_run_by_a_spreadsheet(title):
    text = csv_text([logged_call("2026-11-01T10:00:00+00:00", "gpt-4o", 2.0, title=title)])
    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    assert row["chat"] == "'" + title
    assert (row["cost_usd"], row["chat_id"]) == ("2.0", "c1")  # numbers and plain text stay as they are
