"""The app's log: each request, retry decision with its reason, fallback, tool run and storage error; no key."""

import logging
import sqlite3
import sys

import pytest

import app_logging
import storage_postgres
from config import Secret, load_settings
from conftest import TEST_KEY
from function_tools import ToolCall, ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner
from retry_policy import RetryPolicy
from scripted_server import Reply
from storage_backend import StorageError
from store import Store

PARAMS = ChatParams("gpt-4o-mini", 0.2, 64)
HI = [{"role": "user", "content": "hi"}]


def run(runner: TurnRunner) -> None:
    list(runner.run(HI, PARAMS))


def test_a_retried_request_is_logged_with_its_reason_and_never_the_key(server, caplog):
    caplog.set_level(logging.INFO)
    server.expect(Reply.fail(503, f"overloaded; your key {TEST_KEY} is fine"), Reply(text="fine"))
    client = LLMClient(TEST_KEY, server.base_url, read_timeout=5)
    run(TurnRunner([Target(client, "gpt-4o-mini")], RetryPolicy(max_retries=2), sleep=lambda _: None))
    host = server.base_url.removesuffix("/v1")
    assert f"request round 1: gpt-4o-mini at {host} (attempt 1)" in caplog.messages
    assert f"request round 2: gpt-4o-mini at {host} (attempt 2)" in caplog.messages
    (retry,) = [r for r in caplog.records if "retry 1 in" in r.getMessage()]
    assert retry.levelno == logging.WARNING
    assert "gpt-4o-mini failed (server, HTTP 503: " in retry.getMessage() and "overloaded" in retry.getMessage()
    assert TEST_KEY not in caplog.text and "SECRET" not in caplog.text


def test_a_request_that_is_not_retried_says_why(server, caplog):
    server.expect(Reply.fail(401, f"Incorrect API key provided: {TEST_KEY}", code="invalid_api_key"))
    client = LLMClient(TEST_KEY, server.base_url, read_timeout=5)
    run(TurnRunner([Target(client, "gpt-4o-mini")], RetryPolicy(max_retries=2), sleep=lambda _: None))
    (message,) = [m for m in caplog.messages if "round 1" in m]
    assert "(auth, HTTP 401: " in message and message.endswith(", not retryable")
    assert TEST_KEY not in caplog.text


def test_a_fallback_is_logged_with_the_failure_that_caused_it(server, caplog):
    server.expect(Reply(text="from the backup"))
    unreachable = LLMClient(TEST_KEY, "http://127.0.0.1:9/v1", read_timeout=1, connect_timeout=1)
    backup = LLMClient(TEST_KEY, server.base_url, read_timeout=5)
    targets = [Target(unreachable, "gpt-4o-mini"), Target(backup, "deepseek-chat")]
    run(TurnRunner(targets, RetryPolicy(max_retries=0), sleep=lambda _: None))
    assert any(
        "gpt-4o-mini failed (connection" in m and m.endswith("falling back to deepseek-chat") for m in caplog.messages
    )


def test_each_tool_run_is_logged_with_its_duration(caplog):
    caplog.set_level(logging.INFO)
    executor = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=10)
    executor.run_all([ToolCall("c1", "calculate", '{"expression": "6*7"}'), ToolCall("c2", "no_such_tool", "{}")])
    ran = [r for r in caplog.records if r.getMessage().startswith("tool calculate ran in ")]
    failed = [r for r in caplog.records if r.getMessage().startswith("tool no_such_tool failed after ")]
    assert len(ran) == 1 and ran[0].levelno == logging.INFO and ran[0].getMessage().endswith(" ms")
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING and "unknown tool" in failed[0].getMessage()


def test_a_storage_error_is_logged_with_its_file(tmp_path, caplog):
    store = Store(tmp_path / "chats.db")
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE messages_fts")
    assert store.search("anything at all") == []
    (record,) = [r for r in caplog.records if r.name == "storage_backend"]
    assert record.levelno == logging.ERROR and "no such table: messages_fts" in record.getMessage()
    assert str(store.path) in record.getMessage()


@pytest.fixture
def root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_installs_one_redacting_handler_and_sets_the_level(root_logger):
    first = app_logging.configure("INFO", Secret("my-own-gateway-token"))
    again = app_logging.configure("ERROR", Secret("my-own-gateway-token"))
    assert first is again and [h for h in root_logger.handlers if h is first] == [first]
    assert root_logger.level == logging.ERROR
    try:
        raise RuntimeError("the gateway said sk-live-0123456789abcdef")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s at %s", None, sys.exc_info())
    record.args = ("my-own-gateway-token", "https://user:pass@gw.example/v1?key=abc")
    line = again.format(record)
    assert "my-own-gateway-token" not in line and "pass@" not in line and "key=abc" not in line
    assert "0123456789abcdef" not in line and "RuntimeError" in line and "https://gw.example/v1" in line


def test_a_database_password_a_driver_quotes_never_reaches_the_log(root_logger, monkeypatch, caplog):
    url = "postgresql://chat:pa%zz-word-7@127.0.0.1:9/chat"  # a bad %-escape: psycopg's pool quotes the password
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(storage_postgres, "WAIT_SECONDS", 1)
    handler = app_logging.configure("INFO", *load_settings().log_secrets)
    with pytest.raises(StorageError):
        Store.open(url)
    quoted = [r for r in caplog.records if r.name == "psycopg.pool" and "pa%zz-word-7" in r.getMessage()]
    assert quoted  # the driver did quote it
    logged = "\n".join(handler.format(record) for record in caplog.records)
    assert 'invalid percent-encoded token: "[redacted]"' in logged and "word-7" not in logged
