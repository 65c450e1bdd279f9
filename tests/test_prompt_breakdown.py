"""The prompt tokens of a request by part: the parts add up to the request's count, each where it belongs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_settings
from conversation_manager import (
    SUMMARY_NOTE,
    TRIM_NOTE,
    Conversation,
    Message,
    RequestSpec,
    build_request,
    history_messages,
)
from function_tools import default_registry
from prompt_breakdown import PARTS, breakdown
from prompt_templates import TEMPLATES, few_shot_messages, prefix_messages, wrap_user
from scripted_server import Reply
from token_tracker import (
    REPLY_PRIMING,
    TOKENS_PER_MESSAGE,
    PriceBook,
    Usage,
    count_messages,
    count_text,
    count_tools,
)
from turn import TurnChoices, prepare

REGISTRY = default_registry("http://127.0.0.1:9/weather", "http://127.0.0.1:9/geo")
SCHEMAS = REGISTRY.schemas()
BOOK = PriceBook(usd_cny_rate=7.0)


def tokens(request, spec) -> dict[str, int]:
    return {part.name: part.tokens for part in breakdown(request, spec)}


def add_turn(conversation: Conversation, question: str, answer: str, with_tool: bool) -> None:
    conversation.add_user(question)
    if with_tool:
        call_id = f"call_{len(conversation.nodes)}"
        call = {"id": call_id, "name": "calculate", "arguments": '{"expression": "2*2"}'}
        conversation.append(Message("assistant", "Let me compute.", tool_calls=[call]))
        conversation.append(Message("tool", '{"result": 4}', tool_call_id=call_id, name="calculate"))
    conversation.append(Message("assistant", answer))


@st.composite
def shapes(draw: st.DrawFn) -> tuple[Conversation, RequestSpec, int | None]:
    """A conversation of any shape (tool turns, a summary of older turns, a question waiting) and a spec (template,
    language, tools, custom system prompt, model), with a budget small enough to trim at times."""
    conversation = Conversation()
    words = st.text(st.sampled_from("ab 你好\n$"), max_size=60)
    for _ in range(draw(st.integers(0, 5))):
        add_turn(conversation, draw(words) or "q", draw(words), draw(st.booleans()))
    turns = conversation.turns()
    covered = draw(st.integers(0, max(len(turns) - 1, 0)))
    if covered:
        ids = [m.id for turn in turns[:covered] for m in turn]
        conversation.apply_summary(draw(words) or "summary", ids, "gpt-4o-mini", Usage(1, 1), BOOK.cost("x", Usage()))
    if draw(st.booleans()):
        conversation.add_user(draw(words) or "newest")
    spec = RequestSpec(
        draw(st.sampled_from(sorted(TEMPLATES))),
        draw(st.sampled_from(["zh", "en"])),
        draw(st.lists(st.sampled_from(SCHEMAS), unique_by=lambda s: s["function"]["name"])),
        draw(st.sampled_from(["gpt-4o-mini", "gpt-4"])),
        1000,
        draw(st.sampled_from(["", "Answer like a pirate.", "  "])),
    )
    budget = draw(st.none() | st.integers(0, 600))
    return conversation, spec, budget


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_the_parts_add_up_to_the_requests_count(shape):
    conversation, spec, budget = shape
    request = build_request(conversation, spec, budget)
    parts = breakdown(request, spec)
    assert [part.name for part in parts] == list(PARTS)
    assert sum(part.tokens for part in parts) == request.prompt_tokens
    assert all(part.tokens >= 0 for part in parts)


@settings(max_examples=150, deadline=None)
@given(shapes())
def test_each_part_counts_what_it_names(shape):
    conversation, spec, budget = shape
    request = build_request(conversation, spec, budget)
    model, messages = spec.model, request.messages
    names = [tool["function"]["name"] for tool in spec.tools]
    got = tokens(request, spec)
    system = prefix_messages(spec.template_key, spec.language, names, spec.custom_system)[0]["content"]
    assert got["system"] == count_text(system, model)
    assert got["tools"] == count_tools(spec.tools, model)
    framing = REPLY_PRIMING + sum(TOKENS_PER_MESSAGE + count_text(m["role"], model) for m in messages)
    assert got["framing"] == framing
    examples = few_shot_messages(spec.language, names) if TEMPLATES[spec.template_key].few_shot else []
    assert got["examples"] == count_messages(examples, model) - REPLY_PRIMING - sum(
        TOKENS_PER_MESSAGE + count_text(m["role"], model) for m in examples
    )
    summary = ""
    if request.summarized_ids:
        assert conversation.summary is not None
        summary = SUMMARY_NOTE[spec.language].format(summary=conversation.summary.text)
    assert got["summary"] == (count_text(summary, model) if summary else 0)
    note = TRIM_NOTE[spec.language].format(count=request.dropped_messages)
    assert got["trim_note"] == (count_text(note, model) if request.dropped_messages else 0)
    sent = history_messages(conversation.messages)  # an empty reply is left out: its question waits again
    if sent and sent[-1]["role"] == "user":
        wrapped = wrap_user(spec.template_key, spec.language, sent[-1]["content"])
        assert got["new_message"] == count_text(wrapped, model)
    else:
        assert got["new_message"] == 0


def test_a_template_with_examples_tools_a_summary_and_trimming():
    conversation = Conversation()
    for index in range(6):
        add_turn(conversation, f"question {index} " + "padding " * 300, f"answer {index}", index % 2 == 0)
    first = [m.id for m in conversation.turns()[0]]
    conversation.apply_summary("They asked six things.", first, "gpt-4", Usage(), BOOK.cost("gpt-4", Usage()))
    conversation.add_user("the newest question")
    calculate = [s for s in SCHEMAS if s["function"]["name"] == "calculate"]
    spec = RequestSpec("few_shot", "en", calculate, "gpt-4", 1000)
    request = build_request(conversation, spec, budget=1500)
    got = tokens(request, spec)
    assert request.summarized_ids and request.dropped_messages  # both notes are there
    assert all(got[name] > 0 for name in PARTS)
    assert got["new_message"] == count_text("the newest question", "gpt-4")
    assert sum(got.values()) == request.prompt_tokens


def test_without_a_waiting_question_the_new_message_is_empty_and_the_whole_last_turn_is_history():
    conversation = Conversation()
    add_turn(conversation, "hi", "hello", False)
    spec = RequestSpec("standard", "en", [], "gpt-4o-mini", 1000)
    request = build_request(conversation, spec)
    got = tokens(request, spec)
    assert got["new_message"] == 0
    assert got["history"] == count_text("hi", "gpt-4o-mini") + count_text("hello", "gpt-4o-mini")


def test_the_parts_add_up_to_what_the_wire_carried(app_env):
    """A real turn: the request the scripted server received, counted, equals the sum of the turn's parts."""
    app_env.expect(Reply(text="Conclusion: 4."))
    conversation = Conversation()
    add_turn(conversation, "first", "one", True)
    choices = TurnChoices("en", "few_shot", ("calculate", "get_current_time"), custom_system="Be brief.")
    chat_settings = load_settings()
    turn = prepare(
        conversation, chat_settings, choices, "What is 2+2?", registry=REGISTRY, book=BOOK, save=lambda _: True
    )
    list(turn.run())
    body = app_env.chat_requests()[0]
    wire = count_messages(body["messages"], body["model"]) + count_tools(body["tools"], body["model"])
    parts = tokens(turn.request, turn.spec)
    assert sum(parts.values()) == wire
    assert parts["system"] == count_text("Be brief.", body["model"])
    assert parts["new_message"] == count_text("What is 2+2?", body["model"])
