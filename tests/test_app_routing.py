"""The "auto" model in the app: picked in the model picker, it sends a short message to the cheap model and a code
message to the strong one, and the reply says which model answered, why, and its cost against the strong model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import rendered, send, start
from i18n import t
from scripted_server import Reply
from store import Store

USAGE = (1000, 100)  # cheap gpt-4o-mini: $0.000210; strong gpt-4o: $0.003500


@pytest.fixture
def auto_env(app_env, monkeypatch):
    monkeypatch.setenv("AUTO_CHEAP_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("AUTO_STRONG_MODEL", "gpt-4o")
    monkeypatch.setenv("AUTO_LONG_CHARS", "600")
    return app_env


def pick_auto(at: AppTest) -> AppTest:
    picker = at.sidebar.selectbox(key="model_custom")
    return picker.select_index(picker.options.index(t("auto_model", "en"))).run()


def routed_captions(at: AppTest) -> list[str]:
    return [shown for caption in at.main.caption if "auto →" in (shown := rendered(str(caption.value)))]


def test_auto_sends_a_short_message_to_the_cheap_model_and_code_to_the_strong_one(auto_env):
    at = pick_auto(start())
    assert not at.exception
    rules = at.sidebar.table[0].value
    assert list(rules["rule"]) == ["task", "length", "code", "tools", "default"]
    auto_env.expect(Reply(text="Hi!", usage=USAGE), Reply(text="It prints 1.", usage=USAGE))
    send(at, "Hello there")
    send(at, "What does this do?\n```python\nprint(1)\n```")
    assert [body["model"] for body in auto_env.chat_requests()] == ["gpt-4o-mini", "gpt-4o"]
    cheap, strong = routed_captions(at)
    assert "auto → gpt-4o-mini (rule default: a short plain message)" in cheap
    assert "cost $0.000210; with gpt-4o it would have been about $0.003500" in cheap
    assert "auto → gpt-4o (rule code: the message holds code (```))" in strong
    assert "cost $0.003500; with gpt-4o it would have been about $0.003500" in strong
    conversation = at.session_state["session"].conversation
    saved = Store.open(str(Path(os.environ["DATA_DIR"]) / "chats.db")).load(conversation.id)
    assert saved is not None
    replies = [m for m in saved.messages if m.role == "assistant"]
    assert [m.routed["rule"] for m in replies if m.routed] == ["default", "code"]
    assert [m.model for m in replies] == ["gpt-4o-mini", "gpt-4o"]


def test_a_picked_task_type_decides_before_the_rules(auto_env):
    at = pick_auto(start())
    at.sidebar.selectbox(key="auto_task").select_index(3).run()  # code
    auto_env.expect(Reply(text="Sure.", usage=USAGE))
    send(at, "hi")
    assert auto_env.chat_requests()[0]["model"] == "gpt-4o"
    (caption,) = routed_captions(at)
    assert "rule task: task type: code" in caption


def test_a_named_model_is_not_routed(auto_env):
    at = start()
    auto_env.expect(Reply(text="Hi!", usage=USAGE))
    send(at, "```\nprint(1)\n```")
    assert auto_env.chat_requests()[0]["model"] == "gpt-4o-mini"
    assert routed_captions(at) == []
