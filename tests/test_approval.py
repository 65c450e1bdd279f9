"""Tools you approve, without the UI: the runner pauses for approval and goes on from the user's word (run, edit
then run, reject), and a turn records the pause, keeps it through a reload and carries the decisions out. Against
the scripted server over HTTP, saved in a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from budget import BudgetCheck
from config import Settings
from conversation_manager import AWAITING, DONE, INTERRUPTED_TOOL_RESULT, Conversation, Message, build_request
from events import ApprovalNeeded, Finished, StreamEvent, ToolCallStarted, ToolResult
from function_tools import ToolCall, ToolExecutor, default_registry
from llm_client import REJECTED_TOOL_RESULT, Approval, ChatParams, LLMClient, Target, TurnRunner
from provider_dialects import assistant_message
from retry_policy import RetryPolicy
from scripted_server import Reply, ScriptedServer
from store import Store
from token_tracker import PriceBook
from turn import Action, ChatSettings, Go, Hold, SendState, Turn, TurnChoices, carry_out, decide, prepare, request_spec

KEY = "sk-test-SECRET-0123456789abcdef"
PARAMS = ChatParams("gpt-4o-mini", temperature=0.3, max_tokens=200)
ASKED = '{"expression": "2+3"}'
CALC = ToolCall("call_0", "calculate", ASKED)


@pytest.fixture
def executor() -> ToolExecutor:
    return ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=5)


def runner(server: ScriptedServer, stream_tools: bool = True) -> TurnRunner:
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    return TurnRunner([Target(client, PARAMS.model, stream_tools)], RetryPolicy(max_retries=0))


def asks_for_calculate(call: ToolCall) -> bool:
    return call.name == "calculate"


def of_type(events: Sequence[StreamEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


# --- the runner ---------------------------------------------------------------------------------------------


def test_a_call_that_needs_approval_ends_the_turn_after_the_others_ran(server, executor):
    server.expect(Reply(tool_calls=[("calculate", ASKED), ("get_current_time", '{"timezone": "Asia/Shanghai"}')]))
    question = [{"role": "user", "content": "2+3, and the time?"}]
    events = list(runner(server).run(question, PARAMS, executor, ask=asks_for_calculate))
    assert [e.name for e in of_type(events, ToolCallStarted)] == ["calculate", "get_current_time"]
    assert [r.name for r in of_type(events, ToolResult)] == ["get_current_time"]  # the free one ran
    assert events[-1] == ApprovalNeeded(("call_0",))
    assert len(server.chat_requests()) == 1  # nothing was sent on: the turn waits


def paused_messages() -> list[dict]:
    """The request up to a round that paused: the question and the model's call, unanswered."""
    return [{"role": "user", "content": "what is 2+3?"}, assistant_message("", [CALC])]


@pytest.mark.parametrize(
    ("approval", "answer", "is_error"),
    [
        (Approval(CALC, run=True), {"expression": "2+3", "result": 5}, False),
        (
            Approval(ToolCall("call_0", "calculate", '{"expression": "6*7"}'), run=True),
            {"expression": "6*7", "result": 42},
            False,
        ),
        (Approval(CALC, run=False), json.loads(REJECTED_TOOL_RESULT), True),
    ],
    ids=["run", "edit then run", "reject"],
)
def test_the_users_word_answers_the_call_and_the_loop_goes_on(server, executor, approval, answer, is_error):
    server.expect(Reply(text="Here you are."))
    events = list(runner(server).run(paused_messages(), PARAMS, executor, ask=asks_for_calculate, approvals=[approval]))
    (result,) = of_type(events, ToolResult)
    assert (result.call_id, json.loads(result.content), result.is_error) == ("call_0", answer, is_error)
    sent = server.chat_requests()[0]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_0", "content": result.content}
    assert isinstance(events[-1], Finished)


def test_rejected_means_the_model_is_told_so_in_words(server):
    server.expect(Reply(text="Understood, I will not calculate it."))
    events = list(runner(server).run(paused_messages(), PARAMS, None, approvals=[Approval(CALC, run=False)]))
    told = server.chat_requests()[0]["messages"][-1]["content"]
    assert "user rejected" in json.loads(told)["error"]
    assert isinstance(events[-1], Finished)


def test_after_approval_a_new_call_asks_again(server, executor):
    server.expect(Reply(tool_calls=[("calculate", '{"expression": "5*5"}')]))
    events = list(
        runner(server).run(
            paused_messages(), PARAMS, executor, ask=asks_for_calculate, approvals=[Approval(CALC, True)]
        )
    )
    assert [r.call_id for r in of_type(events, ToolResult)] == ["call_0"]
    assert isinstance(events[-1], ApprovalNeeded)  # the second round's call waits again
    assert len(server.chat_requests()) == 1


def test_a_target_that_cannot_stream_tools_pauses_in_its_decision_and_then_streams_the_answer(server, executor):
    server.expect(Reply(tool_calls=[("calculate", ASKED)]))
    question = [{"role": "user", "content": "what is 2+3?"}]
    paused = list(runner(server, stream_tools=False).run(question, PARAMS, executor, ask=asks_for_calculate))
    assert paused[-1] == ApprovalNeeded(("call_0",))
    server.expect(Reply(text="Five."))
    approvals = [Approval(CALC, True)]
    events = list(runner(server, stream_tools=False).run(paused_messages(), PARAMS, executor, approvals=approvals))
    answer = server.chat_requests()[-1]
    assert answer["stream"] is True and "tools" not in answer  # as after any decision of such a target
    assert isinstance(events[-1], Finished)


# --- a turn: recorded, saved, reloaded, carried out ----------------------------------------------------------

ASK_ALL = TurnChoices("en", "default", ("calculate", "get_current_time"), approve_all=True)
BOOK = PriceBook(usd_cny_rate=7.0)


def turn_for(conversation: Conversation, settings: Settings, store: Store, asked: str | None) -> Turn:
    def save(messages: Sequence[Message]) -> bool:
        store.save(conversation, messages)
        return True

    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    return prepare(conversation, settings, ASK_ALL, asked, registry=registry, book=BOOK, save=save)


def paused_turn(settings: Settings, store: Store, server: ScriptedServer) -> tuple[Conversation, Message]:
    server.expect(Reply(text="Let me work it out.", tool_calls=[("calculate", ASKED)]))
    conversation = Conversation()
    events = list(turn_for(conversation, settings, store, "what is 2+3?").run())
    assert isinstance(events[-1], ApprovalNeeded)
    waiting = conversation.messages[-1]
    return conversation, waiting


def test_a_paused_reply_is_saved_as_waiting_and_reloads_so(settings, store, server):
    conversation, waiting = paused_turn(settings, store, server)
    assert waiting.status == AWAITING and waiting.content == "Let me work it out."
    stored = store.load(conversation.id)
    assert stored is not None and stored.messages[-1].status == AWAITING
    assert stored.messages[-1].tool_calls == [{"id": "call_0", "name": "calculate", "arguments": ASKED}]


def test_while_a_call_waits_the_history_never_sends_it_unanswered(settings, store, server):
    conversation, _ = paused_turn(settings, store, server)
    spec = request_spec(settings, ASK_ALL, [])
    sent = build_request(conversation, spec).messages
    assert sent[-2]["tool_calls"][0]["id"] == "call_0"
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_0", "content": INTERRUPTED_TOOL_RESULT}


def approve(waiting: Message, arguments: str | None) -> Action:
    """The action the panel asks for: run with ``arguments`` (edited or not), or reject (None)."""
    call = ToolCall("call_0", "calculate", arguments or ASKED)
    return Action("approve", waiting.id, (Approval(call, run=arguments is not None),))


@pytest.mark.parametrize(
    ("arguments", "decision", "content"),
    [
        (ASKED, {"decision": "run"}, '{"expression": "2+3", "result": 5}'),
        ('{"expression": "6*7"}', {"decision": "edited", "proposed": ASKED}, '{"expression": "6*7", "result": 42}'),
        (None, {"decision": "rejected"}, REJECTED_TOOL_RESULT),
    ],
    ids=["run", "edit then run", "reject"],
)
def test_a_turn_carries_the_decision_out_and_the_reply_goes_on(settings, store, server, arguments, decision, content):
    conversation, waiting = paused_turn(settings, store, server)
    reloaded = store.load(conversation.id)  # a reload in between: the wait survives it
    assert reloaded is not None
    ask = carry_out(reloaded, approve(waiting, arguments), "", "en")
    assert ask is not None and ask.text is None
    server.expect(Reply(text="Done."))
    turn = turn_for(reloaded, settings, store, None)
    events = list(turn.run())
    assert isinstance(events[-1], Finished)
    sent = server.chat_requests()[-1]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_0", "content": content}  # the stand-in is gone
    assert json.loads(sent[-2]["tool_calls"][0]["function"]["arguments"]) == json.loads(arguments or ASKED)
    _, paused, result, answer = reloaded.messages
    assert paused.status == DONE
    assert paused.tool_calls == [{"id": "call_0", "name": "calculate", "arguments": arguments or ASKED} | decision]
    assert (result.role, result.content, answer.content) == ("tool", content, "Done.")
    assert turn.reply == [paused, result, answer]
    stored = store.load(conversation.id)
    assert stored is not None and [m.to_dict() for m in stored.messages] == [m.to_dict() for m in reloaded.messages]
    assert [trace["purpose"] for trace in store.traces(paused.id)] == ["tools", "answer"]  # one reply, two requests


def test_an_approval_that_does_not_answer_the_waiting_calls_does_nothing(settings, store, server):
    conversation, waiting = paused_turn(settings, store, server)
    another_call = Action("approve", waiting.id, (Approval(ToolCall("call_9", "calculate", ASKED), True),))
    assert carry_out(conversation, another_call, "", "en") is None
    another_message = Action("approve", "another message", approve(waiting, ASKED).approvals)
    assert carry_out(conversation, another_message, "", "en") is None
    conversation.rewind_to(conversation.messages[0].id)  # another version is current: nothing waits there
    assert carry_out(conversation, approve(waiting, ASKED), "", "en") is None
    assert "decision" not in waiting.tool_calls[0]


def test_an_approval_over_budget_is_held_like_any_action():
    over = [BudgetCheck("day", 2.0, 1.0, "USD")]
    approval = Action("approve", "m1", (Approval(CALC, True),))
    decision, state = decide(None, SendState(pending=approval), over)
    assert decision == Hold(approval, over[0]) and state == SendState(held=approval)
    decision, _ = decide(None, SendState(pending=approval, confirmed=True), over)
    assert decision == Go(approval)


def test_the_ask_before_running_choices_are_kept_with_the_chat():
    saved = ChatSettings(tools=("calculate",), approve_all=False, approve_tools=("calculate",))
    stored = saved.to_dict()
    assert stored["approve_tools"] == ["calculate"] and stored["approve_all"] is False
    assert ChatSettings.from_dict(json.loads(json.dumps(stored))) == saved
    assert ChatSettings.from_dict({"approve_all": "yes", "approve_tools": "calculate"}) == ChatSettings()


def test_a_reply_that_waits_in_a_later_round_keeps_every_rounds_trace_under_its_first_message(settings, store, server):
    server.expect(
        Reply(tool_calls=[("get_current_time", '{"timezone": "Asia/Shanghai"}')]),
        Reply(text="Now the sum.", tool_calls=[("calculate", ASKED)]),
    )
    conversation = Conversation()
    only_calculate = TurnChoices("en", "default", ASK_ALL.tools, approve_tools=("calculate",))
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)

    def turn(asked: str | None) -> Turn:
        def save(messages: Sequence[Message]) -> bool:
            store.save(conversation, messages)
            return True

        return prepare(conversation, settings, only_calculate, asked, registry=registry, book=BOOK, save=save)

    assert isinstance(list(turn("the time, then 2+3").run())[-1], ApprovalNeeded)
    first, clock, waiting = conversation.messages[1:]
    assert (first.tool_calls[0]["name"], clock.role, waiting.status) == ("get_current_time", "tool", AWAITING)
    assert carry_out(conversation, approve(waiting, ASKED), "", "en") is not None
    server.expect(Reply(text="It is late, and 2+3 = 5."))
    resumed = turn(None)
    assert isinstance(list(resumed.run())[-1], Finished)
    assert resumed.reply[0] is waiting  # the resumed part starts where it waited
    assert [trace["purpose"] for trace in store.traces(first.id)] == ["tools", "tools", "answer"]
    assert [m.role for m in conversation.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
