"""The normaliser and the tolerant tool-call assembler, on the shapes providers really send."""

import json

from hypothesis import given
from hypothesis import strategies as st

from errors import Problem, from_provider
from events import TokenLogprob
from stream_assembly import (
    MAX_CHOICE_INDEX,
    Payload,
    Piece,
    ToolCallAssembler,
    ToolFragment,
    normalize,
    problem_of,
    read_payloads,
)


def values(body: str) -> list[object]:
    return [p.value if p.malformed is None else ("malformed", p.malformed) for p in read_payloads(body.splitlines())]


def test_sse_comments_crlf_named_events_and_done_are_handled():
    body = (
        ': OPENROUTER PROCESSING\r\n\r\nevent: error\r\ndata: {"a": 1}\r\n\r\n'
        'data: {"b": 2}\r\n\r\ndata: [DONE]\r\n\r\ndata: {"c": 3}\r\n'
    )
    payloads = list(read_payloads(body.splitlines()))
    assert [(p.event, p.value) for p in payloads] == [("error", {"a": 1}), ("", {"b": 2})]


def test_events_without_blank_lines_between_them_are_still_separate():
    assert values('data: {"a": 1}\ndata: {"b": 2}\n') == [{"a": 1}, {"b": 2}]


def test_a_plain_json_body_and_an_html_page_are_told_apart_by_content():
    assert values('\n\n{"error": {"message": "no"}}') == [{"error": {"message": "no"}}]
    assert values("<!DOCTYPE html>\n<html></html>") == [("malformed", "<!DOCTYPE html>\n<html></html>")]
    assert values('[{"error": {"code": 429}}]') == [[{"error": {"code": 429}}]]


def test_llama_cpp_error_lines_are_errors():
    (payload,) = read_payloads(['error: {"code":500,"message":"boom"}', ""])
    assert payload.event == "error" and normalize(payload).problem == Problem("boom", 500, None)


def test_every_error_shape_keeps_the_providers_words():
    shapes = [
        ({"error": {"message": "quota exceeded", "code": "insufficient_quota"}}, "quota"),
        ({"object": "error", "message": "no such model", "type": "NotFoundError", "code": 404}, "not_found"),
        ({"error": {"code": "server_error", "message": "Provider disconnected"}, "choices": []}, "server"),
        ([{"error": {"code": 400, "message": "Unknown name", "status": "INVALID_ARGUMENT"}}], "bad_request"),
        ({"error": "model 'x' not found"}, "not_found"),
        ({"error": {"status": "RESOURCE_EXHAUSTED", "message": "slow down"}}, "rate_limit"),
    ]
    for value, kind in shapes:
        problem = problem_of(value)
        assert problem is not None, value
        info = from_provider(problem, "sk-secret")
        assert info.kind == kind and problem.message in info.detail, value


def test_an_error_key_set_to_null_is_not_an_error():
    assert problem_of({"error": None, "choices": [{"index": 0, "delta": {"content": "hi"}}]}) is None


def test_an_azure_filter_chunk_gives_nothing_and_a_second_choice_only_its_text():
    filters = Payload({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]})
    other = Payload({"choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": "stop"}]})
    assert normalize(filters) == normalize(Payload({"choices": [{"index": 0}]})) == Piece()
    assert normalize(other) == Piece(alternatives={1: "other"})  # its finish is not the reply's


def test_choices_of_one_chunk_are_told_apart_and_odd_ones_skipped():
    chunk = {
        "choices": [
            {"index": 2, "delta": {"content": "third"}},
            {"index": 0, "delta": {"content": "first"}, "finish_reason": None},
            {"index": 1, "delta": {"content": [{"type": "text", "text": "second"}]}},
            {"index": True, "delta": {"content": "a bool is no index"}},
            {"index": "1", "delta": {"content": "neither is a string"}},
            {"index": 3, "delta": {}},
            "not a choice",
        ]
    }
    piece = normalize(Payload(chunk))
    assert (piece.text, piece.alternatives) == ("first", {1: "second", 2: "third"})
    whole = {"choices": [{"index": 0, "message": {"content": "a"}}, {"index": 1, "message": {"content": "b"}}]}
    assert normalize(Payload(whole)).alternatives == {1: "b"}


def test_a_choice_index_beyond_what_n_can_ask_for_is_ignored():
    """The recorder keeps a text per index up to the highest: a provider's index of 10**9 must not become that
    many texts."""
    chunk = {
        "choices": [
            {"index": MAX_CHOICE_INDEX, "delta": {"content": "last"}},
            {"index": MAX_CHOICE_INDEX + 1, "delta": {"content": "too far"}},
            {"index": 10**9, "delta": {"content": "far too far"}},
        ]
    }
    assert normalize(Payload(chunk)).alternatives == {MAX_CHOICE_INDEX: "last"}


def test_logprobs_that_are_not_finite_are_skipped_so_the_chat_still_exports_and_imports():
    line = (
        'data: {"choices": [{"index": 0, "delta": {"content": "ab"}, "logprobs": {"content": ['
        '{"token": "a", "logprob": -0.5, "top_logprobs": [{"token": "b", "logprob": -Infinity}, '
        '{"token": "c", "logprob": NaN}]}, {"token": "b", "logprob": -Infinity}]}}]}'
    )
    (payload,) = read_payloads([line])
    assert normalize(payload).logprobs == (TokenLogprob("a", -0.5),)


def test_logprobs_of_choice_zero_are_read_with_their_alternatives_and_odd_entries_skipped():
    top = [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}, {"token": "Hey", "logprob": -2}, {"token": 5}]
    content = [
        {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": top},
        {"token": "!", "logprob": True},
        {"token": "!", "logprob": -1.5, "top_logprobs": None},
        {"logprob": -1.0},
        "odd",
    ]
    chunk = {"choices": [{"index": 0, "delta": {"content": "Hi!"}, "logprobs": {"content": content, "refusal": None}}]}
    assert normalize(Payload(chunk)).logprobs == (
        TokenLogprob("Hi", -0.1, (("Hi", -0.1), ("Hey", -2.0))),
        TokenLogprob("!", -1.5),
    )
    for odd in (None, [], {"content": None}, {"content": "x"}):
        assert normalize(Payload({"choices": [{"index": 0, "delta": {}, "logprobs": odd}]})).logprobs == ()
    other = {"choices": [{"index": 1, "delta": {"content": "x"}, "logprobs": {"content": content}}]}
    assert normalize(Payload(other)).logprobs == ()


def test_usage_is_found_where_each_provider_puts_it():
    usage = {"prompt_tokens": 3, "completion_tokens": 4}
    assert normalize(Payload({"choices": [], "usage": usage})).usage == usage
    assert normalize(Payload({"choices": [], "x_groq": {"id": "r", "usage": usage}})).usage == usage
    assert normalize(Payload({"choices": [{"index": 0, "delta": {}, "usage": usage}]})).usage == usage
    assert normalize(Payload({"choices": [], "usage": None})).usage is None


def test_reasoning_refusal_and_finish_are_read_and_null_like_finishes_ignored():
    piece = normalize(Payload({"choices": [{"delta": {"reasoning": "r", "refusal": "no"}, "finish_reason": "null"}]}))
    assert (piece.reasoning, piece.refusal, piece.finish_reason) == ("r", "no", None)
    parts = {"content": [{"type": "text", "text": "a"}]}
    piece = normalize(Payload({"choices": [{"delta": parts, "finish_reason": "STOP"}]}))
    assert (piece.text, piece.finish_reason) == ("a", "stop")
    assert normalize(Payload({"choices": [{"delta": {}, "finish_reason": "error"}]})).problem is not None


def assemble(*deltas: dict) -> list[tuple[str, str, str]]:
    assembler = ToolCallAssembler()
    for delta in deltas:
        for fragment in normalize(Payload({"choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]})).tool_calls:
            assembler.add(fragment)
    calls, _, nameless = assembler.result()
    assert not nameless
    return [(c.call_id, c.name, c.arguments) for c in calls]


def test_tool_calls_without_index_continue_the_call_last_opened():
    calls = assemble(
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"id": None, "type": None, "function": {"name": None, "arguments": '{"x": '}},
        {"function": {"arguments": "1}"}},
        {"id": "b", "function": {"name": "g", "arguments": "{}"}},
    )
    assert calls == [("a", "f", '{"x": 1}'), ("b", "g", "{}")]


def test_repeated_ids_and_names_are_not_concatenated_and_late_types_do_not_matter():
    calls = assemble(
        {"index": 0, "id": "a", "function": {"name": "read_file", "arguments": '{"p": '}},
        {"index": 0, "id": "a", "function": {"name": "read_file", "arguments": '"x"}'}, "type": "function"},
    )
    assert calls == [("a", "read_file", '{"p": "x"}')]


def test_one_index_reused_with_a_new_id_is_a_new_call_and_dict_arguments_become_json():
    calls = assemble(
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
        {"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}},
    )
    assert calls == [("a", "f", json.dumps({"x": 1})), ("b", "g", "{}")]


def test_a_call_without_a_name_is_reported_and_opaque_extras_are_kept_by_call_id():
    assembler = ToolCallAssembler()
    assembler.add(ToolFragment(0, "a", "f", "{}", {"google": {"thought_signature": "s"}}))
    assembler.add(ToolFragment(1, None, None, "{"))
    calls, extras, nameless = assembler.result()
    assert [c.call_id for c in calls] == ["a"] and extras == {"a": {"google": {"thought_signature": "s"}}}
    assert len(nameless) == 1 and "without a name" in nameless[0]


@given(
    arguments=st.text(min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
    repeat_name=st.booleans(),
    with_index=st.booleans(),
)
def test_any_split_of_the_arguments_assembles_to_the_same_call(arguments, cuts, repeat_name, with_index):
    bounds = sorted({0, len(arguments), *(c for c in cuts if c <= len(arguments))})
    pieces = [arguments[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    deltas = []
    for position, piece in enumerate(pieces):
        delta: dict = {"function": {"arguments": piece}}
        if with_index:
            delta["index"] = 0
        if position == 0 or repeat_name:
            delta["id"] = "call_1"
            delta["function"]["name"] = "lookup"
        deltas.append(delta)
    assert assemble(*deltas) == [("call_1", "lookup", arguments)]
