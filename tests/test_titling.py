"""A chat's title written by the model after its first reply (titling.py): the request as it goes over real HTTP to
the scripted server, the title kept, the call's cost booked to the chat and counted in the store's totals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest

import store as store_module
from config import LOCAL, Settings, load_settings
from conversation_manager import Conversation, Message, SideCall, automatic_title
from exporters import from_json, to_json
from function_tools import default_registry
from llm_client import TITLE_MAX_TOKENS, clean_title, targets_for
from prompt_templates import title_messages
from records import CostRecord, SideCallRecord, UsageRecord, readable
from scripted_server import Reply
from store import Store
from titling import generate_title, wants_title
from token_tracker import PriceBook, Totals, Usage
from turn import TurnChoices, prepare

BOOK = PriceBook(usd_cny_rate=7.0)
QUESTION = "What is the capital of France? Answer in one word."
ANSWER = "Paris."
REPLY_USAGE, TITLE_USAGE = Usage(20, 2), Usage(64, 5)


@pytest.fixture
def titled(app_env, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The app's settings against the scripted server (gpt-4o-mini, priced in the catalog), AUTO_TITLE on."""
    monkeypatch.setenv("AUTO_TITLE", "on")
    return load_settings()


def first_reply(settings: Settings, server, reply: Reply | None = None, conversation: Conversation | None = None):
    """A chat after one turn run against the scripted server (by default: QUESTION answered with ANSWER)."""
    server.expect(reply or Reply(text=ANSWER, usage=(REPLY_USAGE.prompt_tokens, REPLY_USAGE.completion_tokens)))
    chat = conversation or Conversation()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)

    def save(messages: Sequence[Message]) -> bool:
        return True

    turn = prepare(chat, settings, TurnChoices("en", "default", ()), QUESTION, registry=registry, book=BOOK, save=save)
    list(turn.run())
    return chat


def alike(stored: Totals, expected: Totals) -> bool:
    """The same calls, tokens and flags, and the same amounts but for the order a database added them in."""
    same = (stored.calls, stored.usage, stored.cost.priced, stored.cost.local) == (
        expected.calls,
        expected.usage,
        expected.cost.priced,
        expected.cost.local,
    )
    return same and (stored.cost.usd, stored.cost.cny) == pytest.approx((expected.cost.usd, expected.cost.cny))


def name(chat: Conversation, settings: Settings) -> bool:
    """The chat named as the page does after its first reply: by the turn's model (its first target)."""
    return generate_title(chat, targets_for(settings)[0], settings, BOOK, "en")


def test_after_the_first_reply_one_short_request_names_the_chat_and_its_cost_is_booked(titled, server):
    chat = first_reply(titled, server)
    assert chat.title == automatic_title(QUESTION) and wants_title(chat, titled)
    server.expect(Reply(text='Title: "Capital of France."', usage=(64, 5)))

    assert name(chat, titled)

    body = server.chat_requests()[-1]
    transcript = f"user: {QUESTION}\nassistant: {ANSWER}"
    assert body == {
        "model": "gpt-4o-mini",
        "messages": title_messages("en", transcript),
        "stream": False,
        "temperature": 0.2,
        "max_tokens": TITLE_MAX_TOKENS,
    }
    assert chat.title == "Capital of France"
    (call,) = chat.side_calls
    cost = BOOK.cost("gpt-4o-mini", TITLE_USAGE)
    assert cost.usd > 0 and cost.priced
    assert (call.kind, call.model, call.usage, call.cost) == ("title", "gpt-4o-mini", TITLE_USAGE, cost)
    logged = chat.calls[-1]  # the usage log's row, under the side call's id: the log has it once
    assert (logged.id, logged.kind, logged.usage, logged.cost) == (call.id, "title", TITLE_USAGE, cost)
    reply = chat.messages[-1]
    assert chat.totals() == Totals.of([(REPLY_USAGE, reply.cost), (TITLE_USAGE, cost)])
    assert chat.totals().calls == 2
    assert not wants_title(chat, titled)  # asked once: the second reply asks nothing


def test_a_title_call_that_reports_no_usage_is_booked_and_logged_as_estimated(titled, server):
    chat = first_reply(titled, server)
    answer = {"model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}}]}
    server.expect(Reply(raw=json.dumps(answer).encode(), content_type="application/json"))
    assert name(chat, titled) and chat.title == "Paris"
    (call,) = chat.side_calls
    logged = chat.calls[-1]
    assert call.usage.estimated and call.usage.prompt_tokens > 0 and call.cost == BOOK.cost("gpt-4o-mini", call.usage)
    assert (logged.id, logged.usage, logged.cost) == (call.id, call.usage, call.cost)


def test_the_title_call_is_traced_with_the_first_reply(titled, server, tmp_path):
    chat = first_reply(titled, server)
    store = Store(tmp_path / "chats.db")
    store.save(chat)  # the reply's own traces are written and let go
    server.expect(Reply(text="Capital of France", usage=(64, 5)))
    assert name(chat, titled)
    store.save(chat, [])
    rounds = store.traces(chat.messages[1].id)
    assert [(r["round"], r["purpose"], r["status"]) for r in rounds] == [(1, "answer", 200), (0, "title", 200)]
    assert json.loads(rounds[-1]["request_body"])["max_tokens"] == TITLE_MAX_TOKENS


@pytest.mark.parametrize(
    "reply",
    [Reply.fail(500, "the server is down"), Reply(text="  \n "), Reply(text='""'), Reply(text="<think>a title")],
    ids=["server-error", "blank", "only-quotes", "only-thoughts"],
)
def test_a_failed_title_call_leaves_the_title_and_books_nothing(titled, server, reply):
    chat = first_reply(titled, server)
    before = chat.totals()
    server.expect(reply)
    assert not name(chat, titled)
    assert chat.title == automatic_title(QUESTION)
    assert chat.side_calls == [] and chat.totals() == before
    assert chat.calls[-1].kind == "title"  # the failed call is in the usage log all the same


def test_no_title_is_asked_for_off_the_demo_model_when_off_after_a_rename_a_second_reply_or_a_failed_reply(
    titled, server
):
    chat = first_reply(titled, server)
    assert wants_title(chat, titled)  # the same chat, each condition changed alone below
    assert not wants_title(chat, titled.with_overrides(provider=LOCAL))
    assert not wants_title(chat, titled.with_overrides(auto_title="off"))
    renamed = readable(chat.to_dict())
    renamed.title = "My trip"
    assert not wants_title(renamed, titled)
    second = first_reply(titled, server, conversation=readable(chat.to_dict()))
    assert len(second.turns()) == 2 and not wants_title(second, titled)
    failed = first_reply(titled, server, Reply.fail(400, "bad request"))
    assert failed.messages[-1].error is not None and not wants_title(failed, titled)


def test_an_edited_first_message_still_counts_as_not_renamed(titled, server):
    chat = first_reply(titled, server)
    chat.rewind_to(None)  # the first message edited: a new version of it, the chat's title kept
    first_reply(titled, server, conversation=chat)
    assert len(chat.turns()) == 1 and wants_title(chat, titled)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ('"Capital of France."', "Capital of France"),
        ("**Paris Trip**\n\nA title for a chat about Paris.", "Paris Trip"),
        ("# Title: 巴黎之旅。", "巴黎之旅"),
        ("标题：「法国首都」", "法国首都"),
        ("<think>the user asks about France</think>\nFrance's capital!", "France's capital"),
        ("  `snake_case` names  ", "snake_case names"),
        ("word " * 20, ("word " * 8)[:40].rstrip() + "…"),
    ],
)
def test_a_models_title_is_cleaned(text, title):
    assert clean_title(text, 40) == title


def test_side_calls_survive_save_and_load_and_count_in_todays_and_all_time_totals(
    titled, server, database_url, open_stores
):
    store = open_stores(database_url)
    chat = first_reply(titled, server)
    server.expect(Reply(text="Capital of France", usage=(64, 5)))
    assert name(chat, titled)
    older = SideCall("title", "gpt-4o-mini", Usage(10, 1), BOOK.cost("gpt-4o-mini", Usage(10, 1)))
    older.created_at = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds")
    (title,) = chat.side_calls
    chat.side_calls.insert(0, older)  # they load in the order they were made
    store.save(chat)

    loaded = open_stores(database_url).load(chat.id)
    assert loaded is not None and loaded.side_calls == chat.side_calls and loaded.title == "Capital of France"
    today, all_time = store.today_and_all_totals()
    reply = chat.messages[-1]
    assert alike(today, Totals.of([(REPLY_USAGE, reply.cost), (TITLE_USAGE, title.cost)]))
    assert alike(all_time, chat.totals()) and all_time.calls == 3
    by_day = {spend.day: spend.totals.calls for spend in store.spend_by_owner("")}  # the admins' view, per day
    assert by_day == {title.created_at[:10]: 2, older.created_at[:10]: 1}


def test_side_calls_travel_in_a_json_export_and_their_record_names_every_field(titled, server):
    assert set(SideCallRecord.model_fields) == {f.name for f in fields(SideCall)}
    assert SideCallRecord.model_fields["usage"].annotation is UsageRecord
    assert SideCallRecord.model_fields["cost"].annotation is CostRecord
    chat = first_reply(titled, server)
    server.expect(Reply(text="Capital of France", usage=(64, 5)))
    assert name(chat, titled)
    (imported,) = from_json(to_json([chat]).encode())
    assert imported.side_calls == chat.side_calls and imported.totals() == chat.totals()
    damaged = chat.to_dict() | {"side_calls": [{"kind": "title", "model": "m", "usage": "many"}, "x"]}
    assert readable(damaged).side_calls == []  # what does not read is left out when a stored chat loads


def test_a_title_calls_cost_is_counted_once_however_often_the_chat_is_saved_and_goes_with_it(
    titled, server, database_url, open_stores
):
    store = open_stores(database_url)
    chat = first_reply(titled, server)
    store.save(chat)
    server.expect(Reply(text="Capital of France", usage=(64, 5)))
    assert name(chat, titled)
    store.save(chat, [])
    store.save(chat)  # saved again (the next reply's saves): the call is the same one
    (call,) = chat.side_calls
    expected = Totals.of([(REPLY_USAGE, chat.messages[-1].cost), (TITLE_USAGE, call.cost)])
    today, all_time = store.today_and_all_totals()
    assert alike(today, expected) and alike(all_time, expected) and expected.calls == 2
    (spent,) = store.spend_by_owner("")
    assert alike(spent.totals, expected)
    loaded = open_stores(database_url).load(chat.id)
    assert loaded is not None and loaded.side_calls == [call]
    store.save(loaded)  # a loaded chat saved: still once
    assert alike(store.totals(), expected)
    store.delete(chat.id)
    with store.connection() as db:
        assert db.execute("SELECT COUNT(*) AS n FROM side_calls").fetchone()["n"] == 0
    assert store.totals() == Totals.of([]) and store.spend_by_owner("") == []


def test_an_imported_chat_books_its_side_calls_and_an_export_from_before_their_ids_still_reads(
    titled, server, tmp_path
):
    chat = first_reply(titled, server)
    server.expect(Reply(text="Capital of France", usage=(64, 5)))
    assert name(chat, titled)
    exported = json.loads(to_json([chat]))
    for call in exported["conversations"][0]["side_calls"]:
        del call["id"]  # as issue 16's first exports wrote them
    first, second = (from_json(json.dumps(exported).encode())[0] for _ in range(2))
    assert first.side_calls[0].id and first.side_calls[0].id != second.side_calls[0].id
    assert [replace(c, id="") for c in first.side_calls] == [replace(c, id="") for c in chat.side_calls]
    store = Store(tmp_path / "chats.db")
    store.add([first, second])  # the same export imported twice: two chats, each with its call
    each = chat.totals()
    assert alike(store.totals(), Totals(each.usage + each.usage, each.cost + each.cost, 2 * each.calls))
    assert store.load(second.id).side_calls == second.side_calls


def test_a_database_made_at_m011_gains_side_calls_and_its_chats_take_them(
    titled, database_url, open_stores, monkeypatch
):
    names = [function.__name__ for function in store_module.MIGRATIONS]
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[: names.index("m011_organize") + 1])
    old = open_stores(database_url)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with old.transaction() as db:  # as the code of m011 stored a chat
        db.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('c1', 'from before', ?, ?)",
            (stamp, stamp),
        )
    monkeypatch.undo()
    upgraded = open_stores(database_url)
    assert list(upgraded.migrations()) == names
    chat = upgraded.load("c1")
    assert chat is not None and chat.side_calls == []
    chat.side_calls.append(SideCall("title", "gpt-4o-mini", TITLE_USAGE, BOOK.cost("gpt-4o-mini", TITLE_USAGE)))
    upgraded.save(chat)
    assert upgraded.load("c1").side_calls == chat.side_calls
    assert upgraded.today_and_all_totals() == (chat.totals(), chat.totals())
