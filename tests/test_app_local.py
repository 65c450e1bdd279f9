"""The page with the embedded local model when its server dies mid-reply: explained, kept, restarted."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from app_driver import page_text, start

pytestmark = pytest.mark.local_model


def kill_on_next_generation(server, deadline: float = 120.0) -> threading.Thread:
    """SIGKILLs the server as soon as its log shows a generation beyond those already there."""
    assert server.log_path is not None
    seen = server.log_path.read_text().count("POST /v1/chat/completions")
    pid = server._process.pid

    def watch() -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if server.log_path.read_text().count("POST /v1/chat/completions") > seen:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_a_local_server_crash_mid_reply_is_explained_and_nothing_is_lost(monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "en")
    monkeypatch.setenv("MAX_RETRIES", "0")
    at = start(timeout=180)
    assert not at.exception, at.exception
    at.sidebar.number_input(key="max_tokens").set_value(400)
    at.sidebar.multiselect(key="tools").set_value([])
    at.run()
    server = at.session_state["session"].local_server
    restarts = server.restarts
    watcher = kill_on_next_generation(server)
    at.chat_input[0].set_value("Tell me a long story about a dragon and a knight.").run(timeout=180)
    watcher.join(5)
    assert not at.exception, at.exception
    conversation = at.session_state["session"].conversation
    question, reply = conversation.messages[-2:]
    assert question.role == "user" and question.content == "Tell me a long story about a dragon and a knight."
    assert reply.status == "interrupted" and reply.error["kind"] == "local_crashed"
    assert "SIGKILL" in reply.error["detail"]
    assert "The local model server stopped unexpectedly" in page_text(at)

    reopened = start(conversation.id, timeout=180)
    assert [m.content for m in reopened.session_state["session"].conversation.messages][0] == question.content

    at.chat_input[0].set_value("Say hello.").run(timeout=180)
    assert not at.exception, at.exception
    assert server.restarts == restarts + 1 and server.healthy()
    assert at.session_state["session"].conversation.messages[-1].status == "done"
