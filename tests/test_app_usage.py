"""The Usage page (AppTest against the scripted server): its rows are the calls the server received, with their
costs (a retry, a tool round and the title's call among them); the filters narrow them; the CSV holds the same rows;
the chat page still works beside it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import rendered, send, start
from config import display_url, load_settings
from conversation_manager import Conversation
from events import CallRecord, utc_iso
from scripted_server import Reply
from store import Store
from test_app_auth import visit
from token_tracker import Cost, Usage
from ui_usage import TABLE_ROWS
from usage_log import csv_text

USAGE_PAGE = "ui_usage.py"
ANN = {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "name": "Bob"}


def usage_page(at: AppTest) -> AppTest:
    at.switch_page(USAGE_PAGE).run()
    assert not at.exception, at.exception
    return at


def chat_page(at: AppTest) -> AppTest:
    """Back to the chat page, as its link in the sidebar's navigation does. AppTest.switch_page finds only file pages,
    and the chat page is a function (app.chat_page): its page is the one registered at the app's own address."""
    at._page_hash = next(page for page, info in at._registered_pages.items() if info.get("url_pathname") == "")
    at.run()
    assert not at.exception, at.exception
    return at


def shown_rows(at: AppTest) -> list[dict]:
    """The call table's rows, newest first."""
    return at.dataframe[0].value.to_dict("records")


@pytest.fixture
def usage_env(app_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUTO_TITLE", "on")
    monkeypatch.setenv("MAX_RETRIES", "1")
    return app_env


def test_the_usage_page_lists_each_call_the_server_received_with_its_cost(usage_env):
    usage_env.expect(
        Reply.fail(500, "The server had an error"),
        Reply(tool_calls=[("calculate", '{"expression": "6*7"}')], usage=(30, 8)),
        Reply(text="6 × 7 = 42", usage=(50, 6)),
        Reply(text="Multiplication", usage=(64, 3)),
    )
    at = send(start(), "What is 6*7?")
    conversation: Conversation = at.session_state["session"].conversation
    rows = shown_rows(usage_page(at))
    received = usage_env.chat_requests()
    assert len(rows) == len(received) == 4
    oldest_first = rows[::-1]
    assert [row["kind"] for row in oldest_first] == ["chat", "retry", "tool_round", "title"]
    assert [row["outcome"] for row in oldest_first] == ["server", "ok", "ok", "ok"]
    assert [row["model"] for row in oldest_first] == [body["model"] for body in received]
    assert {row["provider"] for row in rows} == {display_url(usage_env.base_url)}
    assert [(row["prompt"], row["completion"]) for row in oldest_first] == [(0, 0), (30, 8), (50, 6), (64, 3)]
    replies = [m.cost.usd for m in conversation.messages if m.role == "assistant" and m.cost]
    (title,) = conversation.side_calls
    assert all(cost > 0 for cost in [*replies, title.cost.usd])
    assert [row["cost"] for row in oldest_first] == pytest.approx([0.0, *replies, title.cost.usd])
    assert sum(row["cost"] for row in rows) == pytest.approx(conversation.totals().cost.usd)
    assert {row["chat"] for row in rows} == {f"./?chat={conversation.id}"}

    (button,) = at.download_button
    assert button.label == "Download CSV"
    store = Store.open(load_settings().database)  # the rows the button's CSV is written from: the page's own
    written = list(csv.DictReader(io.StringIO(csv_text(store.api_calls()))))
    assert [(r["kind"], r["model"], int(r["prompt_tokens"]), int(r["completion_tokens"])) for r in written] == [
        (row["kind"], row["model"], row["prompt"], row["completion"]) for row in rows
    ]
    assert [float(r["cost_usd"]) for r in written] == pytest.approx([row["cost"] for row in rows])


def test_the_filters_narrow_the_calls_and_the_chat_page_comes_back(app_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FALLBACK_MODELS", "deepseek-chat")
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    first = send(start(), "Capital of France?")
    first_id = first.session_state["session"].conversation.id
    app_env.expect(Reply.fail(503, "Service unavailable"), Reply(text="From the fallback.", usage=(40, 4)))
    at = send(start(), "hello")
    second_id = at.session_state["session"].conversation.id

    rows = shown_rows(usage_page(at))
    assert [(row["model"], row["kind"], row["chat"]) for row in rows[::-1]] == [
        ("gpt-4o-mini", "chat", f"./?chat={first_id}"),
        ("gpt-4o-mini", "chat", f"./?chat={second_id}"),
        ("deepseek-chat", "fallback", f"./?chat={second_id}"),
    ]
    assert rows[1]["outcome"] != "ok"  # the primary's 503

    at.selectbox(key="usage_model").select("deepseek-chat").run()
    assert [(row["model"], row["kind"]) for row in shown_rows(at)] == [("deepseek-chat", "fallback")]
    at.selectbox(key="usage_model").select("").run()
    at.selectbox(key="usage_chat").select(first_id).run()
    assert [row["title"] for row in shown_rows(at)] == ["Capital of France?"]
    assert at.selectbox(key="usage_chat").options == ["All", "hello", "Capital of France?"]

    first_day = at.date_input(key="usage_dates").value[0]
    last_year = first_day.replace(year=first_day.year - 1)
    at.date_input(key="usage_dates").set_value((last_year, last_year)).run()
    assert not at.dataframe and "No API calls in this range." in [info.value for info in at.info]

    chat_page(at)
    assert rendered(at.title[0].value) == "hello"
    assert [m.content for m in at.session_state["session"].conversation.messages] == ["hello", "From the fallback."]
    app_env.expect(Reply(text="Hi again.", usage=(60, 3)))
    send(at, "and now?")
    assert at.session_state["session"].conversation.id == second_id
    assert len(shown_rows(usage_page(at))) == 4


def test_the_chat_pages_choices_are_kept_while_the_usage_page_is_shown(app_env):
    app_env.expect(Reply(text="Paris."), Reply(text="Bonjour."))
    at = send(start(), "hi")
    at.sidebar.selectbox(key="template").select("chain_of_thought").run()
    at.toggle(key="approve_all").set_value(True).run()
    at.sidebar.radio(key="ui_language").set_value("zh").run()
    assert usage_page(at).title[0].value == "API 调用记录"
    chat_page(at)
    assert at.sidebar.selectbox(key="template").value == "chain_of_thought"
    assert at.toggle(key="approve_all").value is True
    assert at.sidebar.radio(key="ui_language").value == "zh"
    assert not at.warning
    send(at, "again")
    assert (
        app_env.chat_requests()[-1]["messages"][-1]["content"] == "again\n\n请一步一步地思考。"
    )  # the template, in Chinese


def test_signed_in_each_person_sees_only_their_own_calls_and_signed_out_none(app_env, monkeypatch):
    monkeypatch.setenv("AUTH", "oidc")
    app_env.expect(Reply(text="For Ann.", usage=(11, 1)), Reply(text="For Bob.", usage=(22, 2)))
    ann = send(visit(ANN), "hi from Ann")
    bob = send(visit(BOB), "hi from Bob")
    assert [(row["title"], row["prompt"]) for row in shown_rows(usage_page(ann))] == [("hi from Ann", 11)]
    assert [(row["title"], row["prompt"]) for row in shown_rows(usage_page(bob))] == [("hi from Bob", 22)]
    stranger = usage_page(visit({"is_logged_in": False}))
    assert not stranger.dataframe and not stranger.download_button


def test_an_answer_from_the_response_cache_is_a_row_that_cost_nothing(app_env, monkeypatch):
    monkeypatch.setenv("RESPONSE_CACHE", "on")
    monkeypatch.setenv("TEMPERATURE", "0")
    app_env.expect(Reply(text="Paris.", usage=(20, 2)))
    send(start(), "Capital of France?")
    again = send(start(), "Capital of France?")  # a new chat, the same request: answered from the cache
    rows = shown_rows(usage_page(again))
    assert len(app_env.chat_requests()) == 1
    assert [(row["kind"], row["model"], row["prompt"], row["outcome"]) for row in rows] == [
        ("cache_hit", "gpt-4o-mini", 0, "ok"),
        ("chat", "gpt-4o-mini", 20, "ok"),
    ]
    assert rows[0]["cost"] == 0 and rows[1]["cost"] > 0


def test_the_table_lists_the_newest_thousand_calls_and_the_sums_count_them_all(app_env):
    at = usage_page(start())
    assert "No API calls in this range." in [info.value for info in at.info]
    chat = Conversation(title="busy")
    now = datetime.now(UTC)
    chat.calls = [
        CallRecord(
            utc_iso(now - timedelta(milliseconds=n)), "chat", "", "gpt-4o-mini", Usage(10, 1), 5, 9, "ok", Cost(0.01)
        )
        for n in range(TABLE_ROWS + 1)
    ]
    store = Store.open(load_settings().database)
    store.save(chat)
    store.close()
    rows = shown_rows(usage_page(at))
    assert len(rows) == TABLE_ROWS and rows[0]["time"] > rows[-1]["time"]
    captions = [caption.value for caption in at.caption]
    assert f"{TABLE_ROWS + 1} calls, $10.0100 in all" in captions
    assert f"The table lists the newest {TABLE_ROWS} (the CSV has them all)." in captions
    assert at.metric[2].value == str(TABLE_ROWS + 1)  # this month's calls
