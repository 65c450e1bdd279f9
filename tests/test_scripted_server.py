"""The scripted server itself: a test that leaves replies unused or asks for one it did not queue is told so."""

import json
import urllib.error
import urllib.request

import pytest

from scripted_server import NOTHING_QUEUED, Reply, ScriptedServer


@pytest.fixture
def fresh():
    """Its own server, not the shared one: the ``server`` fixture would fail these tests on purpose."""
    server = ScriptedServer().start()
    yield server
    server.stop()


def post(server: ScriptedServer, text: str) -> tuple[int, bytes]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(f"{server.base_url}/chat/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_request_with_nothing_queued_gets_a_500_and_is_reported(fresh):
    status, body = post(fresh, "hello")
    assert status == 500 and json.loads(body)["error"]["message"] == NOTHING_QUEUED
    assert fresh.problems() == ["a request found nothing queued: [{'role': 'user', 'content': 'hello'}]"]


def test_replies_left_unused_are_reported(fresh):
    fresh.expect(Reply(text="used"), Reply(text="never used"), Reply.fail(503, "busy"))
    assert post(fresh, "hi")[0] == 200
    assert fresh.problems() == ["2 queued replies were never requested: 'never used', HTTP 503"]


def test_a_reply_meant_for_one_question_waits_for_it(fresh):
    fresh.expect(Reply(text="to the left", answers="left"), Reply(text="to the right", answers="right"))
    assert b"to the right" in post(fresh, "right")[1]
    assert b"to the left" in post(fresh, "left")[1]
    assert fresh.problems() == []


def test_a_paced_stream_stamps_every_write_and_never_runs_ahead_of_its_rate(fresh):
    """Word i goes out no sooner than i / rate after the first: a lower bound, which a slow machine cannot break."""
    fresh.expect(Reply(text="a b c d e", tokens_per_second=50))
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "go"}]}).encode()
    request = urllib.request.Request(f"{fresh.base_url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    record = fresh.requests[-1]
    assert len(record["sent_at"]) == len(record["sent"])
    assert record["sent_at"] == sorted(record["sent_at"])
    stamps = [at for data, at in zip(record["sent"], record["sent_at"], strict=True) if b'"content": "' in data]
    assert len(stamps) == 6  # the role's empty content, then five words
    assert stamps[-1] - stamps[0] >= 4 / 50  # the role went out before word 1's start, word 5 is due 4 / 50 after it
