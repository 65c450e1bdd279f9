"""The response cache in the page (AppTest against the scripted server): a question asked again in a new chat is
answered without a request and marked "cached · $0 · saved $X"; above temperature 0 only the sidebar's switch asks
for that; clearing the cache (asked first) empties it, so the next request goes out again."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import refreshed, rendered, send, start
from scripted_server import Reply
from token_tracker import PriceBook, Usage

QUESTION = "What is the capital of France?"
BADGE = "cached · $0 · saved $"


def badges(at: AppTest) -> list[str]:
    return [shown for caption in at.main.caption if BADGE in (shown := rendered(caption.value))]


def sidebar_captions(at: AppTest) -> list[str]:
    return [caption.value for caption in at.sidebar.caption]


@pytest.fixture
def cache_on(app_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RESPONSE_CACHE", "on")
    return app_env


def test_the_same_question_in_a_new_chat_is_answered_from_the_cache_and_clearing_empties_it(cache_on, monkeypatch):
    monkeypatch.setenv("TEMPERATURE", "0")
    cache_on.expect(Reply(text="Paris.", usage=(20, 2)))
    at = send(start(), QUESTION)
    assert badges(at) == [] and "1 cached answers (yours only)" in sidebar_captions(at)

    again = start().chat_input[0].set_value(QUESTION).run()  # a new browser session: a new chat, the same request
    assert len(cache_on.chat_requests()) == 1  # nothing reached the server
    saved = PriceBook(usd_cny_rate=7.1).cost("gpt-4o-mini", Usage(20, 2)).usd
    assert saved > 0 and badges(again) == [f"⚡ {BADGE}{saved:.6f}"]  # as the reply was drawn live
    refreshed(again)
    assert badges(again) == [f"⚡ {BADGE}{saved:.6f}"]  # and from the history
    assert [md.value for md in again.main.markdown if md.value == "Paris."]
    reply = again.session_state["session"].conversation.messages[-1]
    assert reply.cost is not None and reply.cost.usd == 0  # booked at 0

    again.sidebar.button(key="cache_clear_yes").click().run()
    assert [s.value for s in again.sidebar.success] == ["Cache cleared: 1 answers deleted."]
    assert "0 cached answers (yours only)" in sidebar_captions(again)
    cache_on.expect(Reply(text="Paris, again."))
    fresh = send(start(), QUESTION)
    assert len(cache_on.chat_requests()) == 2 and badges(fresh) == []


def test_above_temperature_0_only_the_switch_asks_for_a_cached_answer(cache_on):
    cache_on.expect(Reply(text="Four."), Reply(text="Five."))
    assert badges(send(start(), "Pick a number.")) == []  # the switch is off: nothing kept
    asking = start()
    asking.toggle(key="use_cache").set_value(True).run()
    assert badges(send(asking, "Pick a number.")) == []  # asked, but nothing was cached yet: it goes out, and is kept
    assert len(cache_on.chat_requests()) == 2

    asking = start()
    asking.toggle(key="use_cache").set_value(True).run()
    answered = send(asking, "Pick a number.")
    assert len(cache_on.chat_requests()) == 2 and len(badges(answered)) == 1
    assert [md.value for md in answered.main.markdown if md.value == "Five."]


def test_with_the_cache_off_there_is_no_switch_and_nothing_is_cached(app_env, monkeypatch):
    monkeypatch.setenv("TEMPERATURE", "0")
    app_env.expect(Reply(text="One."), Reply(text="Two."))
    at = send(start(), "Say one.")
    assert not [toggle for toggle in at.toggle if toggle.key == "use_cache"]
    assert badges(send(start(), "Say one.")) == [] and len(app_env.chat_requests()) == 2


def test_the_count_is_read_again_after_a_reply_or_a_clearing_not_on_every_page_run(cache_on, monkeypatch):
    monkeypatch.setenv("TEMPERATURE", "0")
    cache_on.expect(Reply(text="Paris."), Reply(text="Berlin."))
    watching = start()
    assert "0 cached answers (yours only)" in sidebar_captions(watching)
    send(start(), QUESTION)  # another session keeps an answer
    assert "0 cached answers (yours only)" in sidebar_captions(watching.run())  # a page run does not count again
    assert "2 cached answers (yours only)" in sidebar_captions(send(watching, "And of Germany?"))
