from hypothesis import given, settings, strategies

from conversation_manager import (
    DONE,
    INTERRUPTED,
    INTERRUPTED_TOOL_RESULT,
    STOPPED,
    TRIM_NOTE,
    Conversation,
    Message,
    RequestSpec,
    TurnRecorder,
    _first_kept,
    build_request,
    history_messages,
    transcript,
    turns_to_summarize,
)
from errors import ErrorInfo
from events import Finished, Interrupted, RequestSent, TextDelta, ToolCallStarted, ToolResult, UsageReported
from records import readable
from token_tracker import REPLY_PRIMING, PriceBook, Usage, count_messages, count_tools

BOOK = PriceBook(usd_cny_rate=7.0)
CALC = {"type": "function", "function": {"name": "calculate", "description": "math", "parameters": {}}}


def record(conversation, events, model="gpt-4o-mini"):
    recorder = TurnRecorder(conversation, model, "standard", BOOK)
    for event in events:
        recorder.apply(event)
    return recorder


def tool_turn(conversation, question, answer, call_id):
    conversation.add_user(question)
    record(
        conversation,
        [
            RequestSent({"model": "gpt-4o-mini", "messages": []}, 1),
            TextDelta("Let me compute. "),
            UsageReported(Usage(50, 10), "gpt-4o-mini"),
            ToolCallStarted(call_id, "calculate", '{"expression": "2*2"}'),
            ToolResult(call_id, "calculate", '{"result": 4}'),
            RequestSent({"model": "gpt-4o-mini", "messages": []}, 2),
            TextDelta(answer),
            UsageReported(Usage(70, 5), "gpt-4o-mini"),
            Finished("stop"),
        ],
    )


def test_recorder_turns_events_into_api_shaped_messages():
    conversation = Conversation()
    tool_turn(conversation, "What is 2*2?", "It is 4.", "call_a")
    roles = [m.role for m in conversation.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    first, tool, final = conversation.messages[1:]
    assert first.content == "Let me compute. " and first.tool_calls[0]["id"] == "call_a"
    assert tool.tool_call_id == "call_a" and tool.name == "calculate"
    assert final.content == "It is 4." and final.status == DONE
    assert conversation.title == "What is 2*2?"
    reply = conversation.last_reply_totals()
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.calls) == (120, 15, 2)
    assert reply.cost.usd > 0


def test_an_interrupted_reply_keeps_its_text():
    conversation = Conversation()
    conversation.add_user("Tell me a story")
    record(conversation, [TextDelta("Once upon"), Interrupted(ErrorInfo("stream_cut", "cut"))])
    reply = conversation.messages[-1]
    assert reply.content == "Once upon"
    assert reply.status == INTERRUPTED
    assert reply.error["kind"] == "stream_cut"


def test_a_reply_left_streaming_is_settled_as_stopped_with_an_estimate():
    conversation = Conversation()
    conversation.add_user("hi")
    record(conversation, [RequestSent({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 1)])
    conversation.messages[-1].content = "partial answer"
    conversation.settle_unfinished(BOOK)
    reply = conversation.messages[-1]
    assert reply.status == STOPPED
    assert reply.usage.estimated and reply.usage.completion_tokens == 2
    assert reply.cost.usd > 0


def test_history_closes_tool_calls_that_never_got_a_result_and_skips_empty_placeholders():
    messages = [
        Message("user", "q"),
        Message("assistant", "", tool_calls=[{"id": "c1", "name": "calculate", "arguments": "{}"}]),
        Message("assistant", ""),
        Message("tool", "orphan", tool_call_id="zzz"),
    ]
    api = history_messages(messages)
    assert [m["role"] for m in api] == ["user", "assistant", "tool"]
    assert api[2] == {"role": "tool", "tool_call_id": "c1", "content": INTERRUPTED_TOOL_RESULT}


def test_request_is_system_prompt_then_history_then_wrapped_new_message():
    conversation = Conversation()
    conversation.add_user("first")
    record(conversation, [TextDelta("one"), Finished("stop")])
    conversation.add_user("second")
    request = build_request(conversation, RequestSpec("chain_of_thought", "en", [], "gpt-4o-mini", 1000))
    contents = [m["content"] for m in request.messages]
    assert request.messages[0]["role"] == "system"
    assert contents[1:] == ["first", "one", "second\n\nLet's think step by step."]
    assert request.dropped_messages == 0
    assert request.prompt_tokens == count_messages(request.messages, "gpt-4o-mini")


def test_trimming_drops_whole_old_turns_keeps_tool_pairs_and_system_and_tells_the_model():
    conversation = Conversation()
    for index in range(6):
        tool_turn(conversation, f"question {index} " + "padding " * 400, f"answer {index}", f"call_{index}")
    conversation.add_user("the newest question")
    # gpt-4 has an 8,192-token window; leave room for about two old turns
    request = build_request(conversation, RequestSpec("standard", "en", [CALC], "gpt-4", 6000))
    messages = request.messages
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are a helpful")
    assert request.dropped_messages > 0 and request.dropped_messages % 4 == 0
    assert "were left out to fit the context window" in messages[1]["content"]
    assert messages[-1]["content"] == "the newest question"
    assert count_messages(messages, "gpt-4") <= request.budget
    call_ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
    result_ids = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert call_ids == result_ids and call_ids
    first_kept = messages[2]
    assert first_kept["role"] == "user"


def test_the_newest_turn_is_kept_even_when_it_alone_is_too_big():
    conversation = Conversation()
    conversation.add_user("old")
    record(conversation, [TextDelta("reply"), Finished("stop")])
    conversation.add_user("huge " * 9000)
    request = build_request(conversation, RequestSpec("standard", "zh", [], "gpt-4", 1000))
    assert request.messages[-1]["content"].startswith("huge")
    assert request.dropped_messages == 2
    assert "条消息未发送" in request.messages[1]["content"]


def test_regenerate_and_edit_add_versions_instead_of_overwriting():
    conversation = Conversation()
    question = conversation.add_user("first question")
    record(conversation, [TextDelta("answer one"), Finished("stop")])
    first_reply = conversation.messages[-1]
    conversation.rewind_to(question.id)
    record(conversation, [TextDelta("answer two"), Finished("stop")])
    second_reply = conversation.messages[-1]
    assert [m.content for m in conversation.messages] == ["first question", "answer two"]
    assert conversation.versions(second_reply) == [first_reply, second_reply]
    conversation.select(first_reply.id)
    assert [m.content for m in conversation.messages] == ["first question", "answer one"]

    conversation.rewind_to(question.parent_id)
    edited = conversation.add_user("edited question")
    record(conversation, [TextDelta("answer three"), Finished("stop")])
    assert [m.content for m in conversation.messages] == ["edited question", "answer three"]
    assert conversation.versions(edited) == [question, edited]
    conversation.select(question.id)
    assert [m.content for m in conversation.messages] == ["first question", "answer two"]
    assert len(conversation.nodes) == 5
    assert conversation.totals().calls == 0


def test_select_follows_the_newest_descendants_down_to_a_leaf():
    conversation = Conversation()
    tool_turn(conversation, "q", "a", "call_1")
    root = conversation.messages[0]
    conversation.rewind_to(None)
    conversation.add_user("other")
    conversation.select(root.id)
    assert [m.role for m in conversation.messages] == ["user", "assistant", "tool", "assistant"]
    assert conversation.messages[-1].content == "a"


def test_dict_round_trip_keeps_the_whole_tree():
    conversation = Conversation(settings={"model": "gpt-4o"})
    tool_turn(conversation, "q", "a", "call_1")
    tool_call_message = conversation.messages[1]
    conversation.rewind_to(conversation.messages[0].id)
    record(conversation, [TextDelta("b"), Interrupted(ErrorInfo("stream_cut", "cut"))])
    copy = readable(conversation.to_dict())  # as the store reads it back
    assert copy.to_dict() == conversation.to_dict()
    assert copy.messages[-1].error["kind"] == "stream_cut"
    assert copy.nodes[tool_call_message.id].usage == Usage(50, 10)
    fresh = conversation.with_new_ids()
    assert not set(fresh.nodes) & set(conversation.nodes)
    assert [m.content for m in fresh.messages] == [m.content for m in conversation.messages]


def test_older_whole_turns_are_summarised_and_replaced_by_the_summary():
    conversation = Conversation()
    tool_turn(conversation, "first " + "long " * 300, "four", "call_1")
    tool_turn(conversation, "second", "also four", "call_2")
    tool_turn(conversation, "third", "still four", "call_3")
    conversation.add_user("newest")
    request = build_request(conversation, RequestSpec("standard", "en", [], "gpt-4", 1000))
    assert turns_to_summarize(conversation, request, "gpt-4", 0) == []
    assert turns_to_summarize(conversation, request, "gpt-4", 99) == []
    older = turns_to_summarize(conversation, request, "gpt-4", 1)
    assert [m.role for m in older] == ["user", "assistant", "tool", "assistant"] * 2  # whole turns, tool pairs kept
    text = transcript(older)
    assert "assistant called calculate" in text and "tool calculate result" in text
    conversation.apply_summary(
        "They asked about 2*2 twice.",
        [m.id for m in older],
        "gpt-4o-mini",
        Usage(300, 20),
        BOOK.cost("gpt-4o-mini", Usage(300, 20)),
    )
    summarized = build_request(conversation, RequestSpec("standard", "en", [], "gpt-4", 1000))
    assert summarized.messages[1]["content"].startswith("Summary of the earlier part of this conversation:")
    assert "They asked about 2*2 twice." in summarized.messages[1]["content"]
    assert [m["content"] for m in summarized.messages if m["role"] == "user"] == ["third", "newest"]
    assert summarized.summarized_ids == {m.id for m in older}
    assert conversation.totals().usage.prompt_tokens == 50 * 3 + 70 * 3 + 300
    assert turns_to_summarize(conversation, summarized, "gpt-4", 1) == []
    conversation.apply_summary("Shorter.", [], "gpt-4o-mini", Usage(10, 5), BOOK.cost("gpt-4o-mini", Usage(10, 5)))
    assert conversation.summary.usage == Usage(310, 25)
    assert readable(conversation.to_dict()).summary == conversation.summary


def test_the_request_records_which_messages_are_left_out():
    conversation = Conversation()
    for index in range(4):
        tool_turn(conversation, f"question {index} " + "padding " * 400, f"answer {index}", f"call_{index}")
    conversation.add_user("newest")
    request = build_request(conversation, RequestSpec("standard", "en", [], "gpt-4", 6000))
    assert len(request.left_out_ids) == request.dropped_messages
    sent = {m["content"] for m in request.messages}
    for message in conversation.messages:
        if message.id in request.left_out_ids and message.role == "user":
            assert message.content not in sent


def test_each_request_records_its_own_estimate():
    conversation = Conversation()
    conversation.add_user("hi")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tools": [CALC]}
    record(conversation, [RequestSent(body, 1), TextDelta("hello"), UsageReported(Usage(99, 1), "gpt-4o")])
    expected = count_messages(body["messages"], "gpt-4o") + count_tools([CALC], "gpt-4o")
    assert conversation.messages[-1].estimated_prompt_tokens == expected


def test_time_to_first_token_and_stream_time_are_recorded_per_message():
    ticks = iter([10.0, 10.4, 12.4])
    conversation = Conversation()
    conversation.add_user("hi")
    recorder = TurnRecorder(conversation, "gpt-4o", "standard", BOOK, clock=lambda: next(ticks))
    recorder.apply(RequestSent({"model": "gpt-4o", "messages": []}, 1))
    recorder.apply(TextDelta("a"))
    recorder.apply(TextDelta("b"))
    recorder.apply(UsageReported(Usage(5, 80), "gpt-4o"))
    reply = conversation.messages[-1]
    assert (reply.first_token_ms, reply.stream_ms) == (400, 2000)


def first_kept_by_trying_each(turns, prefix, language, model, budget):
    """The rule as first written: try each start from the oldest turn on, counting every turn."""
    sizes = [count_messages(turn, model) - REPLY_PRIMING for turn in turns]
    start = 0
    while start < len(turns) - 1:
        dropped = sum(len(turn) for turn in turns[:start])
        note = [{"role": "system", "content": TRIM_NOTE[language].format(count=dropped)}] if dropped else []
        opening = prefix + note
        if count_messages(opening, model) + sum(sizes[start:]) <= budget:
            break
        start += 1
    return start


@settings(max_examples=200, deadline=None)
@given(
    lengths=strategies.lists(strategies.lists(strategies.integers(0, 60), min_size=1, max_size=4), max_size=12),
    budget=strategies.integers(-5, 700),
    language=strategies.sampled_from(["en", "zh"]),
)
def test_counting_newest_first_keeps_the_same_turns_as_trying_each_start(lengths, budget, language):
    turns = [[{"role": "user", "content": "word " * length} for length in turn] for turn in lengths]
    prefix = [{"role": "system", "content": "You are a helpful assistant."}]
    expected = first_kept_by_trying_each(turns, prefix, language, "gpt-4o-mini", budget)
    assert _first_kept(turns, prefix, language, "gpt-4o-mini", budget) == expected
