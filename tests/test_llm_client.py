"""The real client against the scripted server over HTTP: streaming, tools, usage, errors, cuts."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

import llm_client
from events import (
    ContextTrimmed,
    FallbackUsed,
    Finished,
    Interrupted,
    ReasoningDelta,
    RequestSent,
    ResponseSampled,
    Retrying,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    UsageReported,
    Waiting,
)
from function_tools import ToolExecutor, default_registry
from llm_client import (
    ChatParams,
    LLMClient,
    ModelListError,
    Target,
    TurnRunner,
    build_body,
    drain,
    model_list,
    targets_for,
)
from rate_limiter import RateLimiter
from retry_policy import RetryPolicy
from scripted_server import Reply

KEY = "sk-test-SECRET-0123456789abcdef"
PARAMS = ChatParams("gpt-4o-mini", temperature=0.3, max_tokens=200)


@pytest.fixture
def client(server):
    return LLMClient(KEY, server.base_url, read_timeout=5)


@pytest.fixture
def executor():
    return ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=2)


def runner(client, retries=0, stream_tools=True):
    return TurnRunner([Target(client, PARAMS.model, stream_tools)], RetryPolicy(max_retries=retries))


def run(client, executor=None, messages=None, max_rounds=5, stream_tools=True):
    messages = messages or [{"role": "user", "content": "hi"}]
    return list(runner(client, stream_tools=stream_tools).run(messages, PARAMS, executor, max_rounds))


def of_type(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_text_streams_as_deltas_with_usage_and_finish(client, server):
    server.expect(Reply(text="Hello there, friend.", usage=(12, 4)))
    events = run(client)
    assert [e.text for e in of_type(events, TextDelta)] == ["Hello ", "there, ", "friend."]
    usage = of_type(events, UsageReported)[0].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (12, 4, False)
    assert isinstance(events[-1], Finished) and events[-1].reason == "stop"
    sent = server.chat_requests()[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 200
    assert of_type(events, RequestSent)[0].body == sent
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_reasoning_content_is_its_own_event(client, server):
    server.expect(Reply(text="42", reasoning="thinking hard", usage=(5, 5)))
    events = run(client)
    assert "".join(e.text for e in of_type(events, ReasoningDelta)) == "thinking hard"
    assert "".join(e.text for e in of_type(events, TextDelta)) == "42"


def test_cached_tokens_are_read_from_usage(client, server):
    server.expect(Reply(text="ok", usage=(100, 2), cached_tokens=64))
    assert of_type(run(client), UsageReported)[0].usage.cached_tokens == 64


def test_parallel_tool_calls_are_assembled_run_and_sent_back(client, server, executor):
    server.expect(
        Reply(
            tool_calls=[
                ("calculate", '{"expression": "123*456"}'),
                ("get_current_time", '{"timezone": "Asia/Shanghai"}'),
            ],
            usage=(80, 20),
        ),
        Reply(text="123*456 = 56088.", usage=(150, 8)),
    )
    events = run(client, executor, [{"role": "user", "content": "北京时间几点？顺便算一下 123*456"}])
    started = of_type(events, ToolCallStarted)
    assert [(s.call_id, s.name) for s in started] == [("call_0", "calculate"), ("call_1", "get_current_time")]
    assert started[0].arguments == '{"expression": "123*456"}'
    results = of_type(events, ToolResult)
    assert json.loads(results[0].content)["result"] == 56088
    assert "+08:00" in json.loads(results[1].content)["datetime"]
    second = server.chat_requests()[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in second[1]["tool_calls"]] == ["call_0", "call_1"]
    assert [m["tool_call_id"] for m in second[2:]] == ["call_0", "call_1"]
    assert server.chat_requests()[0]["tools"][0]["function"]["name"] == "get_current_weather"
    assert len(of_type(events, UsageReported)) == 2
    assert isinstance(events[-1], Finished)


def test_malformed_tool_arguments_go_back_to_the_model_as_an_error(client, server, executor):
    server.expect(Reply(tool_calls=[("calculate", '{"expression": ')]), Reply(text="Sorry, let me retry."))
    events = run(client, executor)
    result = of_type(events, ToolResult)[0]
    assert result.is_error and "not valid JSON" in result.content
    assert server.chat_requests()[1]["messages"][-1]["content"] == result.content
    assert isinstance(events[-1], Finished)


def test_endless_tool_calls_stop_after_the_configured_rounds(client, server, executor):
    server.expect(*[Reply(tool_calls=[("calculate", '{"expression": "1+1"}')]) for _ in range(3)])
    events = run(client, executor, max_rounds=3)
    assert len(server.chat_requests()) == 3
    assert isinstance(events[-1], Interrupted) and events[-1].error.kind == "tool_rounds"


def test_a_provider_without_usage_gets_an_estimate(client, server):
    server.expect(Reply(text="no usage here", send_usage=False))
    usage = of_type(run(client), UsageReported)[0].usage
    assert usage.estimated and usage.completion_tokens == 3 and usage.prompt_tokens > 0


def test_a_connection_cut_mid_stream_is_an_interruption_not_an_ending(client, server):
    server.expect(Reply(text="one two three four five", cut_after=2))
    events = run(client)
    assert "".join(e.text for e in of_type(events, TextDelta)) == "one two "
    assert not of_type(events, Finished)
    assert isinstance(events[-1], Interrupted) and events[-1].error.kind == "stream_cut"
    assert of_type(events, UsageReported)[0].usage.estimated


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (Reply.fail(401, f"Incorrect API key provided: {KEY}"), "auth"),
        (Reply.fail(403, "not allowed"), "permission"),
        (Reply.fail(404, "The model `gpt-9` does not exist", code="model_not_found"), "not_found"),
        (Reply.fail(400, "maximum context length exceeded", code="context_length_exceeded"), "context_length"),
        (Reply.fail(429, "slow down", code="rate_limit_exceeded"), "rate_limit"),
        (Reply.fail(429, "You exceeded your current quota", code="insufficient_quota"), "quota"),
        (Reply.fail(500, "internal error"), "server"),
    ],
)
def test_http_errors_are_classified_and_never_leak_the_key(client, server, reply, kind):
    server.expect(reply)
    events = run(client)
    assert isinstance(events[-1], Interrupted)
    assert events[-1].error.kind == kind
    assert KEY not in events[-1].error.detail
    assert not of_type(events, UsageReported)


def test_connection_refused_is_a_connection_error():
    events = run(LLMClient(KEY, "http://127.0.0.1:9/v1", read_timeout=2, connect_timeout=2))
    assert events[-1].error.kind == "connection"


def test_a_read_timeout_is_reported_as_timeout(server):
    server.expect(Reply(text="slow reply", chunk_delay=2.0))
    events = run(LLMClient(KEY, server.base_url, read_timeout=0.5))
    assert isinstance(events[-1], Interrupted)
    assert events[-1].error.kind == "timeout"


def test_reasoning_models_get_max_completion_tokens_and_no_temperature():
    body = build_body([{"role": "user", "content": "x"}], ChatParams("o4-mini", 0.5, 100), [])
    assert "temperature" not in body and body["max_completion_tokens"] == 100 and "max_tokens" not in body


def test_without_streamed_tool_rounds_the_decision_is_a_plain_call_and_the_answer_streams(client, server, executor):
    server.expect(Reply(tool_calls=[("calculate", '{"expression": "2+2"}')], usage=(60, 9)), Reply(text="Four."))
    events = run(client, executor, [{"role": "user", "content": "2+2?"}], stream_tools=False)
    decision, answer = server.chat_requests()[-2:]
    assert decision["stream"] is False and decision["tool_choice"] == "auto" and "stream_options" not in decision
    assert answer["stream"] is True and "tools" not in answer
    assert answer["messages"][-2]["content"] == "" and answer["messages"][-2]["tool_calls"]
    assert "".join(e.text for e in of_type(events, TextDelta)) == "Four."
    assert of_type(events, UsageReported)[0].usage.prompt_tokens == 60


def test_no_tool_call_in_the_decision_means_a_streamed_answer_without_tools(client, server, executor):
    server.expect(Reply(text="discarded"), Reply(text="Hello!"))
    events = run(client, executor, stream_tools=False)
    assert "".join(e.text for e in of_type(events, TextDelta)) == "Hello!"
    assert [r["stream"] for r in server.chat_requests()] == [False, True]


def test_the_model_list_comes_from_get_models(client, server):
    assert client.list_models() == ["deepseek-chat", "gpt-4o", "gpt-4o-mini"]
    assert model_list(KEY, "http://127.0.0.1:9/v1", timeout=1).ids == []


def test_the_runner_retries_with_the_servers_retry_after_and_says_so(client, server):
    slept: list[float] = []
    server.expect(
        Reply.fail(429, "slow down", code="rate_limit_exceeded", **{"retry-after": "7"}),
        Reply.fail(502, "bad gateway"),
        Reply(text="finally"),
    )
    turn = TurnRunner(
        [Target(client, "gpt-4o-mini")], RetryPolicy(max_retries=2), sleep=slept.append, jitter=lambda: 1.0
    )
    events = list(turn.run([{"role": "user", "content": "hi"}], PARAMS))
    retries = of_type(events, Retrying)
    assert [(r.attempt, r.delay, r.error.kind) for r in retries] == [(1, 7.0, "rate_limit"), (2, 1.0, "server")]
    assert slept == [7.0, 1.0]
    assert "".join(e.text for e in of_type(events, TextDelta)) == "finally"


def test_text_already_shown_is_never_silently_restarted(client, server):
    slept: list[float] = []
    server.expect(Reply(text="one two three", cut_after=1))
    turn = TurnRunner([Target(client, "gpt-4o-mini")], RetryPolicy(max_retries=3), sleep=slept.append)
    events = list(turn.run([{"role": "user", "content": "hi"}], PARAMS))
    assert slept == [] and len(server.chat_requests()) == 1
    assert events[-1].error.kind == "stream_cut"


def test_the_fallback_answers_after_the_primary_exhausts_its_retries(server):
    primary = LLMClient(KEY, "http://127.0.0.1:9/v1", read_timeout=1, connect_timeout=1)
    backup = LLMClient(KEY, server.base_url, read_timeout=5)
    slept: list[float] = []
    turn = TurnRunner(
        [Target(primary, "gpt-4o-mini"), Target(backup, "deepseek-chat")],
        RetryPolicy(max_retries=1),
        sleep=slept.append,
    )
    server.expect(Reply(text="From the backup."))
    events = list(turn.run([{"role": "user", "content": "hi"}], PARAMS))
    (fallback,) = of_type(events, FallbackUsed)
    assert (fallback.model, fallback.replaces, fallback.error.kind) == ("deepseek-chat", "gpt-4o-mini", "connection")
    assert len(slept) == 1
    assert server.chat_requests()[0]["model"] == "deepseek-chat"
    assert of_type(events, UsageReported)[0].model == "deepseek-chat"


def test_the_rate_limiter_wait_is_an_event(client, server):
    slept: list[float] = []
    limiter = RateLimiter(requests_per_minute=1, clock=lambda: 0.0)
    limiter.reserve(1)
    turn = TurnRunner([Target(client, "gpt-4o-mini")], limiter=limiter, sleep=slept.append)
    server.expect(Reply(text="After the wait."))
    events = list(turn.run([{"role": "user", "content": "hi"}], PARAMS))
    assert of_type(events, Waiting) == [Waiting(60.0)] and slept == [60.0]
    assert isinstance(events[-1], Finished)


def test_a_context_overflow_is_retried_once_with_the_smaller_request(client, server):
    server.expect(
        Reply.fail(400, "maximum context length exceeded", code="context_length_exceeded"),
        Reply.fail(400, "maximum context length exceeded", code="context_length_exceeded"),
    )
    smaller = [{"role": "user", "content": "short"}]
    events = list(runner(client).run([{"role": "user", "content": "long"}], PARAMS, shrink=lambda: (smaller, 4)))
    assert of_type(events, ContextTrimmed) == [ContextTrimmed(4)]
    assert server.chat_requests()[1]["messages"] == smaller
    assert events[-1].error.kind == "context_length" and len(server.chat_requests()) == 2


def test_a_tool_call_that_never_gets_a_name_is_a_clear_interruption_not_a_crash(client, server):
    bad = json.dumps(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "{"}}]}}],
        }
    )
    server.expect(Reply(text="before ", raw_events=[bad]))
    events = run(client)
    assert "".join(e.text for e in of_type(events, TextDelta)) == "before "
    assert isinstance(events[-1], Interrupted)
    assert events[-1].error.kind == "bad_response" and "without a name" in events[-1].error.detail


def test_a_chunk_that_is_not_json_is_a_clear_interruption(client, server):
    server.expect(Reply(text="before ", raw_events=["{not json"]))
    events = run(client)
    assert "".join(e.text for e in of_type(events, TextDelta)) == "before "
    assert events[-1].error.kind == "bad_response" and "{not json" in events[-1].error.detail


def test_a_non_stream_reply_without_choices_is_a_clear_message(client, server, executor):
    empty = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
    server.expect(Reply(raw=json.dumps(empty).encode(), content_type="application/json"))
    events = run(client, executor, stream_tools=False)
    assert isinstance(events[-1], Interrupted)
    assert events[-1].error.kind == "bad_response" and "no choices" in events[-1].error.detail


def test_a_non_stream_reply_after_keep_alive_blank_lines_is_read(client, server):
    whole = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "deepseek-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    server.expect(Reply(raw=b"\n\n\n" + json.dumps(whole).encode(), content_type="application/json"))
    events, result = drain(client.complete_round(build_body([{"role": "user", "content": "hi"}], PARAMS, [], False)))
    assert (result.text, result.finish_reason, result.error) == ("Hi.", "stop", None)
    assert of_type(events, UsageReported)[0].usage.prompt_tokens == 4
    assert not of_type(events, TextDelta)


def test_a_model_list_answered_with_html_gives_a_clear_message(client, server):
    server.models_raw = (200, "text/html", b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>")
    with pytest.raises(ModelListError, match="did not answer JSON"):
        client.list_models()
    listing = model_list(KEY, server.base_url)
    assert listing.ids == [] and listing.problem is not None and "<!DOCTYPE html>" in listing.problem


def test_a_model_list_that_cannot_be_reached_says_why(client, server):
    listing = model_list(KEY, "http://127.0.0.1:9/v1", timeout=1)
    assert listing.ids == [] and listing.problem and "Connection" in listing.problem


def test_the_first_and_last_chunks_are_sampled_for_the_wire_view(client, server):
    server.expect(Reply(text=" ".join(f"w{i}" for i in range(30)), usage=(5, 30)))
    events = run(client)
    (sample,) = of_type(events, ResponseSampled)
    assert sample.total == 33  # role chunk, 30 words, finish chunk, usage chunk
    assert len(sample.chunks) == 11
    assert sample.chunks[0]["object"] == "chat.completion.chunk"
    assert sample.chunks[1]["choices"][0]["delta"]["content"] == "w0 "
    assert sample.chunks[-1]["usage"]["completion_tokens"] == 30 and sample.chunks[-1]["choices"] == []


def test_turns_on_the_same_provider_share_one_sdk_client_and_its_connections(settings, server):
    """A new SDK client per turn meant a new httpx client and SSL context (18-37 ms of CPU per reply)."""
    server.expect(Reply(text="one"), Reply(text="two"))
    first, second = targets_for(settings)[0], targets_for(settings)[0]
    assert first.client._client is second.client._client
    for target, text in ((first, "one"), (second, "two")):
        events = list(TurnRunner([target], RetryPolicy(max_retries=0)).run([{"role": "user", "content": "hi"}], PARAMS))
        assert "".join(e.text for e in of_type(events, TextDelta)) == text


def test_another_key_provider_or_timeout_gets_its_own_sdk_client(server):
    shared = LLMClient(KEY, server.base_url, read_timeout=5)._client
    assert LLMClient(KEY, server.base_url, read_timeout=5)._client is shared
    others = [
        LLMClient(KEY + "x", server.base_url, read_timeout=5),
        LLMClient(KEY, server.base_url + "/other", read_timeout=5),
        LLMClient(KEY, server.base_url, read_timeout=6),
        LLMClient(KEY, server.base_url, read_timeout=5, connect_timeout=3),
    ]
    assert len({id(shared), *(id(other._client) for other in others)}) == 5
    assert others[0]._client.api_key == KEY + "x"
    assert str(others[1]._client.base_url).rstrip("/") == server.base_url + "/other"


def test_the_shared_clients_are_bounded_and_never_keyed_by_the_key(server):
    for n in range(llm_client.MAX_SHARED_CLIENTS + 5):
        LLMClient(f"{KEY}-{n}", server.base_url, read_timeout=5)
    assert len(llm_client._SHARED) <= llm_client.MAX_SHARED_CLIENTS
    assert not any(KEY in repr(key) for key in llm_client._SHARED)


def test_sessions_starting_at_once_get_one_sdk_client():
    base_url = "http://127.0.0.1:9/concurrent"
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: LLMClient(KEY, base_url)._client, range(32)))
    assert all(client is clients[0] for client in clients)


def test_the_body_on_the_wire_is_build_bodys_with_the_messages_as_they_are(client, server):
    """The messages bypass the SDK's typed walk (extra_body): nothing in them changes, nor the body's field order."""
    server.expect(Reply(text="ok"))
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this? ünïcödé"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "{}"},
        {"role": "user", "content": "and now?"},
    ]
    body = build_body(messages, PARAMS, [])
    drain(client.stream_round(body))
    assert server.chat_requests() == [body]
    fields = ["model", "stream", "messages", "max_tokens", "stream_options", "temperature"]  # the SDK's order
    assert list(server.chat_requests()[0]) == fields
