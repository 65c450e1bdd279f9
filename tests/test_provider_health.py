"""Providers' health from real GET /models checks against scripted servers, and the fallback chain skipping one
that is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chat_params import ChatParams
from config import display_url, load_settings
from conftest import TEST_KEY
from errors import ErrorInfo
from events import FallbackUsed, Finished, ProviderSkipped, UsageReported
from llm_client import LLMClient, Target, TurnRunner
from provider_health import Endpoint, HealthChecker, HealthRecord, endpoints, probe
from retry_policy import RetryPolicy
from scripted_server import Reply, ScriptedServer

PARAMS = ChatParams("gpt-4o-mini", 0.7, 256)
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def other() -> Iterator[ScriptedServer]:
    """A second provider: a scripted server of its own."""
    server = ScriptedServer().start()
    yield server
    server.stop()


def endpoint(server: ScriptedServer, model: str = "gpt-4o-mini") -> Endpoint:
    return endpoint_of(server.base_url, model)


def endpoint_of(url: str, model: str = "gpt-4o-mini") -> Endpoint:
    return Endpoint(url, display_url(url), (model,), LLMClient(TEST_KEY, url))


def checked(*servers: ScriptedServer) -> tuple[HealthRecord, list[Endpoint]]:
    """A record watching these servers, after one round of real checks."""
    record = HealthRecord()
    watched = [endpoint(server) for server in servers]
    record.watch(watched)
    HealthChecker(record, minutes=0).check_all()
    return record, watched


def test_a_provider_that_lists_its_models_is_up_with_its_latency(server):
    record, (watched,) = checked(server)
    status = record.status(watched.url)
    assert status.state == "up" and status.latency_ms is not None and status.checked_at is not None
    assert status.error_kind is None and status.down_since is None
    assert [r["path"] for r in server.requests] == ["/v1/models"]
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {TEST_KEY}"


def test_a_stopped_server_is_down_since_its_check_with_a_connection_error():
    stopped = ScriptedServer().start()
    stopped.stop()
    record, (watched,) = checked(stopped)
    status = record.status(watched.url)
    assert (status.state, status.error_kind, status.latency_ms) == ("down", "connection", None)
    assert status.down_since == status.checked_at == status.error_at
    assert record.down_since(watched.url + "/") == status.down_since  # the same provider, however its URL ends


def test_a_500_on_models_is_down_with_the_providers_error_and_never_the_key(server):
    body = b'{"error": {"message": "upstream exploded for key ' + TEST_KEY.encode() + b'"}}'
    server.models_raw = (500, "application/json", body)
    record, (watched,) = checked(server)
    status = record.status(watched.url)
    assert (status.state, status.error_kind) == ("down", "server")
    assert "upstream exploded" in (status.error or "") and TEST_KEY not in (status.error or "")


def test_a_refused_key_on_models_still_answers_so_it_is_up_with_the_error_shown(server):
    server.models_raw = (401, "application/json", b'{"error": {"message": "bad key"}}')
    record, (watched,) = checked(server)
    status = record.status(watched.url)
    assert (status.state, status.error_kind, status.down_since) == ("up", "auth", None)


def test_the_next_check_that_answers_brings_a_provider_up_again(server):
    server.models_raw = (503, "application/json", b'{"error": {"message": "overloaded"}}')
    record, (watched,) = checked(server)
    assert record.status(watched.url).state == "down"
    server.models_raw = None
    HealthChecker(record, minutes=0).check_all()
    status = record.status(watched.url)
    assert (status.state, status.down_since, status.error_kind) == ("up", None, "server")  # the last error stays shown


def test_real_calls_report_connection_errors_and_5xx_but_not_a_bad_request(server):
    record, (watched,) = checked(server)
    record.note_call(watched.url, ErrorInfo("bad_request", "no such parameter", 400))
    assert record.status(watched.url).state == "up"
    record.note_call(watched.url, ErrorInfo("server", "HTTP 502", 502))
    status = record.status(watched.url)
    assert (status.state, status.error_kind) == ("down", "server")
    record.note_call(watched.url, None)
    assert record.status(watched.url).state == "up"
    record.note_call("http://127.0.0.1:9/v1", ErrorInfo("connection", "refused"))  # nobody configured it: not kept
    assert [e.url for e, _ in record.statuses()] == [watched.url]


def test_the_configured_provider_and_fallbacks_are_checked_once_per_endpoint(server, other):
    settings = load_settings(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            "FALLBACK_MODELS": f"gpt-4o, deepseek-chat@{other.base_url}",
        }
    )
    found = endpoints(settings)
    assert [(e.url, e.models) for e in found] == [
        (server.base_url, ("gpt-4o-mini", "gpt-4o")),
        (other.base_url, ("deepseek-chat",)),
    ]
    assert endpoints(load_settings({})) == []  # the demo model: nothing to reach


def test_the_background_thread_checks_when_a_page_opens_and_never_blocks_it(server):
    record = HealthRecord()
    record.watch([endpoint(server)])
    done = threading.Event()

    def check(client: LLMClient) -> tuple[int, ErrorInfo | None]:
        found = probe(client)
        done.set()
        return found

    checker = HealthChecker(record, minutes=60, check=check).start()
    try:
        checker.page_opened()  # returns at once; the thread checks
        assert done.wait(10)
    finally:
        checker.stop()
    assert any(r["path"] == "/v1/models" for r in server.requests)


def test_checks_off_start_no_thread():
    checker = HealthChecker(HealthRecord(), minutes=0).start()
    checker.page_opened()
    assert not checker._thread.is_alive()


def ended(checker: HealthChecker) -> bool:
    """Waits (at most 10 s) for the check asked for to end; whether it did."""
    deadline = time.monotonic() + 10
    while checker.checking and time.monotonic() < deadline:
        time.sleep(0.01)
    return not checker.checking


@pytest.mark.parametrize("minutes", [60, 0])
def test_check_now_only_wakes_the_thread_and_says_checking_until_its_round_has_ended(server, minutes):
    record = HealthRecord()
    record.watch([endpoint(server)])
    record.last_check = time.monotonic()  # fresh: nothing but the request wakes the thread
    started, release = threading.Event(), threading.Event()
    checked_by: list[str] = []

    def check(client: LLMClient) -> tuple[int, ErrorInfo | None]:
        checked_by.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        return probe(client)

    checker = HealthChecker(record, minutes=minutes, check=check).start()
    try:
        checker.page_opened()
        assert not checker.checking
        checker.request_check()  # returns at once, the check waiting on ``release``
        assert checker.checking
        assert started.wait(10)
        assert checker.checking
        release.set()
        assert ended(checker)
    finally:
        checker.stop()
    assert checked_by == ["provider-health"]  # the thread's round, never the caller's
    assert record.status(server.base_url).state == "up"


def test_a_round_that_fails_still_counts_so_pages_do_not_wake_the_thread_again():
    def broken(client: LLMClient) -> tuple[int, ErrorInfo | None]:
        raise RuntimeError("surprise")

    record = HealthRecord()
    record.watch([endpoint_of("http://127.0.0.1:9/v1")])
    checker = HealthChecker(record, minutes=60, check=broken)
    with pytest.raises(RuntimeError):
        checker.check_all()
    assert record.last_check > 0
    checker.page_opened()
    assert not checker._wake.is_set()


def down_record(server: ScriptedServer, *others: ScriptedServer) -> HealthRecord:
    """A record where ``server`` is down: its GET /models answered 500 (it still answers chat requests)."""
    server.models_raw = (500, "application/json", b'{"error": {"message": "down"}}')
    record, _ = checked(server, *others)
    server.models_raw = None
    return record


def test_the_fallback_chain_skips_a_provider_known_to_be_down_and_says_so(server, other):
    record = down_record(server, other)
    since = record.down_since(server.base_url)
    runner = TurnRunner(
        [Target(LLMClient(TEST_KEY, server.base_url), "gpt-4o-mini"), Target(LLMClient(TEST_KEY, other.base_url), "b")],
        RetryPolicy(max_retries=0),
        health=record,
    )
    other.expect(Reply(text="From the other provider."))
    events = list(runner.run(HELLO, PARAMS))
    assert [e for e in events if isinstance(e, ProviderSkipped)] == [
        ProviderSkipped("gpt-4o-mini", display_url(server.base_url), since or "", "b")
    ]
    assert server.chat_requests() == []  # the down provider received no request
    assert other.chat_requests()[0]["model"] == "b"
    assert isinstance(events[-1], Finished)
    assert record.status(other.base_url).state == "up"


def test_the_last_target_is_tried_even_when_it_is_down(server):
    record = down_record(server)
    runner = TurnRunner([Target(LLMClient(TEST_KEY, server.base_url), "gpt-4o-mini")], health=record)
    server.expect(Reply(text="Still here."))
    events = list(runner.run(HELLO, PARAMS))
    assert not [e for e in events if isinstance(e, ProviderSkipped)]
    assert [e.model for e in events if isinstance(e, UsageReported)] == ["gpt-4o-mini"]
    assert record.status(server.base_url).state == "up"  # the real call answered


def test_a_call_that_cannot_connect_puts_the_provider_down_for_the_next_turn(server):
    stopped = ScriptedServer().start()
    stopped.stop()
    record = HealthRecord()
    record.watch([endpoint(stopped), endpoint(server)])
    targets = [Target(LLMClient(TEST_KEY, stopped.base_url), "a"), Target(LLMClient(TEST_KEY, server.base_url), "b")]
    server.expect(Reply(text="one"), Reply(text="two"))
    first = list(TurnRunner(targets, RetryPolicy(max_retries=0), health=record).run(HELLO, PARAMS))
    assert [type(e) for e in first if isinstance(e, FallbackUsed | ProviderSkipped)] == [FallbackUsed]
    assert record.status(stopped.base_url).state == "down"
    second = list(TurnRunner(targets, RetryPolicy(max_retries=0), health=record).run(HELLO, PARAMS))
    assert [type(e) for e in second if isinstance(e, FallbackUsed | ProviderSkipped)] == [ProviderSkipped]
