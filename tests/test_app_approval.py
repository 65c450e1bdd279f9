"""Tools you approve, in the page (AppTest, the scripted server over real HTTP): a call that waits shows its
arguments as editable JSON; Run, Edit then run and Reject each send the right tool result and the model's next
reply shows; a broken edit runs nothing; a reload keeps the waiting call."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from app_driver import page_text, refreshed, send, start, tool_steps
from llm_client import REJECTED_TOOL_RESULT
from scripted_server import Reply, ScriptedServer

ASKED = '{"expression": "2+3"}'


def waiting(app_env: ScriptedServer, at: AppTest | None = None) -> AppTest:
    """A chat with "ask before running" on for every tool, whose reply waits for approval of one calculation."""
    app_env.expect(Reply(text="Let me calculate.", tool_calls=[("calculate", ASKED)]))
    at = at or start()
    at.sidebar.toggle(key="approve_all").set_value(True).run()
    return send(at, "what is 2+3?")


def box(at: AppTest):
    (found,) = [area for area in at.text_area if str(area.key).startswith("approve_args_")]
    return found


def press(at: AppTest, verdict: str) -> AppTest:
    (button,) = [b for b in at.button if str(b.key).startswith(f"approve_{verdict}_")]
    return refreshed(button.click().run())


def sent_tool_result(app_env: ScriptedServer) -> dict:
    return app_env.chat_requests()[-1]["messages"][-1]


def test_a_waiting_call_shows_its_arguments_as_editable_json_and_the_message_box_waits(app_env):
    at = waiting(app_env)
    assert json.loads(box(at).value) == json.loads(ASKED) and box(at).value.startswith("{\n")  # laid out to edit
    assert "The model wants to call tools" in page_text(at) and "Tool call calculate" in page_text(at)
    assert "Let me calculate." in page_text(at)
    assert [b.label for b in at.button if str(b.key).startswith("approve_")] == ["Run", "Edit then run", "Reject"]
    assert at.chat_input[0].disabled
    assert not [s for s in tool_steps(at) if "calculate" in s.label]  # not drawn as running: it waits
    assert len(app_env.chat_requests()) == 1


def test_run_sends_the_tools_result_and_the_reply_goes_on(app_env):
    at = waiting(app_env)
    app_env.expect(Reply(text="2+3 = 5."))
    press(at, "run")
    assert sent_tool_result(app_env) == {
        "role": "tool",
        "tool_call_id": "call_0",
        "content": '{"expression": "2+3", "result": 5}',
    }
    assert at.chat_message[-1].markdown[-1].value == "2+3 = 5."
    assert "You approved this call" in [c.value for c in at.caption]
    assert not [a for a in at.text_area if str(a.key).startswith("approve_args_")]  # nothing waits any more
    assert not at.chat_input[0].disabled


def test_edit_then_run_runs_the_edited_arguments_and_keeps_what_the_model_proposed(app_env):
    at = waiting(app_env)
    box(at).set_value('{"expression": "6*7"}')
    app_env.expect(Reply(text="6*7 = 42."))
    press(at, "edit")
    request = app_env.chat_requests()[-1]["messages"]
    assert sent_tool_result(app_env)["content"] == '{"expression": "6*7", "result": 42}'
    assert request[-2]["tool_calls"][0]["function"]["arguments"] == '{"expression": "6*7"}'  # what ran
    assert at.chat_message[-1].markdown[-1].value == "6*7 = 42."
    assert "You edited the arguments, then ran it" in [c.value for c in at.caption]
    assert ASKED in [c.value for c in at.code]  # the model's proposal, kept beside what ran


def test_reject_tells_the_model_and_its_reply_shows(app_env):
    at = waiting(app_env)
    app_env.expect(Reply(text="Fine, I will not calculate it."))
    press(at, "reject")
    assert sent_tool_result(app_env) == {"role": "tool", "tool_call_id": "call_0", "content": REJECTED_TOOL_RESULT}
    assert at.chat_message[-1].markdown[-1].value == "Fine, I will not calculate it."
    assert "🚫 Tool call calculate" in [s.label for s in tool_steps(at)]


def test_an_edit_that_is_not_json_is_explained_and_runs_nothing(app_env):
    at = waiting(app_env)
    box(at).set_value('{"expression": ')
    press(at, "edit")
    assert "The arguments are not valid JSON: Expecting value (line 1, column 16). Nothing was run." in [
        e.value for e in at.error
    ]
    assert box(at).value == '{"expression": '  # what was typed stays, to fix
    box(at).set_value('["2+3"]')
    press(at, "edit")
    assert "The arguments must be a JSON object ({...}). Nothing was run." in [e.value for e in at.error]
    assert len(app_env.chat_requests()) == 1  # nothing ran, nothing was sent
    app_env.expect(Reply(text="5."))
    box(at).set_value('{"expression": "2 + 3"}')
    press(at, "edit")
    assert sent_tool_result(app_env)["content"] == '{"expression": "2 + 3", "result": 5}'
    assert not at.error


def test_a_reload_while_a_call_waits_keeps_it_waiting(app_env):
    at = waiting(app_env)
    reopened = start(at.session_state["session"].conversation.id)
    assert json.loads(box(reopened).value) == json.loads(ASKED)
    assert reopened.chat_input[0].disabled
    assert reopened.sidebar.toggle(key="approve_all").value  # the chat's choice came back with it
    app_env.expect(Reply(text="5."))
    press(reopened, "run")
    assert sent_tool_result(app_env)["content"] == '{"expression": "2+3", "result": 5}'
    assert reopened.chat_message[-1].markdown[-1].value == "5."


def test_only_the_chosen_tools_wait_and_two_waiting_calls_go_on_together(app_env):
    at = start()
    at.sidebar.multiselect(key="approve_tools").set_value(["calculate"]).run()
    app_env.expect(
        Reply(
            tool_calls=[
                ("calculate", ASKED),
                ("get_current_time", '{"timezone": "Asia/Shanghai"}'),
                ("calculate", '{"expression": "1+1"}'),
            ]
        )
    )
    send(at, "2+3, 1+1 and the time?")
    assert "🔧 Tool call get_current_time" in [s.label for s in tool_steps(at)]  # ran at once: it does not ask
    assert len([a for a in at.text_area if str(a.key).startswith("approve_args_")]) == 2
    first, second = [b for b in at.button if str(b.key).startswith("approve_run_")]
    refreshed(first.click().run())
    assert len(app_env.chat_requests()) == 1  # one call still waits
    assert "✅ Will run with the model's arguments" in [c.value for c in at.caption]
    app_env.expect(Reply(text="5, 2, and it is late."))
    press(at, "reject")
    results = [m for m in app_env.chat_requests()[-1]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], json.loads(m["content"]).get("result")) for m in results] == [
        ("call_1", None),
        ("call_0", 5),
        ("call_2", None),
    ]
    assert results[-1]["content"] == REJECTED_TOOL_RESULT
    assert at.chat_message[-1].markdown[-1].value == "5, 2, and it is late."
