"""The learner's parameters in the UI (AppTest against the scripted server): a control set in the sidebar reaches
the request and nothing unset does, token shading, alternatives as tabs, the JSON check, a refused parameter
explained, and a chat's parameters restored when it is opened again."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from app_driver import send, start
from scripted_server import Reply

OPTIONAL = {
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "response_format",
    "tool_choice",
    "parallel_tool_calls",
}
CORPUS = Path(__file__).resolve().parent / "provider_streams"


def chunk(delta: dict[str, Any], logprobs: Any = None, finish: str | None = None, index: int = 0) -> str:
    """One chunk in OpenAI's documented format (https://platform.openai.com/docs/api-reference/chat-streaming)."""
    choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
    value = {"id": "chatcmpl-lp", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    return f"data: {json.dumps(value | {'choices': [choice]})}\n\n"


def logprob_stream(tokens: list[tuple[str, float, list[tuple[str, float]]]]) -> bytes:
    """A stream whose every token comes with its logprob and top alternatives."""
    body = chunk({"role": "assistant", "content": ""})
    for token, logprob, top in tokens:
        alternatives = [{"token": other, "logprob": lp, "bytes": list(other.encode())} for other, lp in top]
        entry = {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": alternatives}
        body += chunk({"content": token}, {"content": [entry], "refusal": None})
    return (body + chunk({}, finish="stop") + "data: [DONE]\n\n").encode()


def without_tools() -> AppTest:
    """A session with no tool enabled: with tools, tool_choice "auto" is always sent."""
    at = start()
    at.sidebar.multiselect(key="tools").set_value([]).run()
    return at


def sent_optional(server, index: int = 0) -> dict[str, Any]:
    return {name: value for name, value in server.chat_requests()[index].items() if name in OPTIONAL}


def test_a_parameter_set_in_the_sidebar_is_sent_and_unset_again_is_not(app_env):
    at = without_tools()
    at.sidebar.number_input(key="param_top_p").set_value(0.7).run()
    at.sidebar.text_area(key="param_stop").set_value("END\n\\n\\n").run()
    assert any("Also sent: `top_p`, `stop`" in caption.value for caption in at.sidebar.caption)
    app_env.expect(Reply(text="Hi."), Reply(text="Again."))
    send(at, "hello")
    assert sent_optional(app_env) == {"top_p": 0.7, "stop": ["END", "\n\n"]}
    assert [md.value for md in at.chat_message[-1].markdown] == ["Hi."]  # a single reply: no tabs, no extras
    assert not at.tabs and not at.get("html") and not at.main.json
    at.sidebar.number_input(key="param_top_p").set_value(None).run()
    at.sidebar.text_area(key="param_stop").set_value("").run()
    send(at, "again")
    assert sent_optional(app_env, 1) == {}


def test_each_token_is_shaded_by_its_probability_with_its_alternatives_on_hover(app_env):
    at = without_tools()
    at.sidebar.toggle(key="param_logprobs").set_value(True).run()
    at.sidebar.number_input(key="param_top_logprobs").set_value(2).run()
    tokens = [
        ("<b>", math.log(0.9), [("<b>", math.log(0.9)), ('"x"', math.log(0.05))]),
        (" & ", math.log(0.25), [(" and", math.log(0.5)), (" & ", math.log(0.25))]),
        ("\n</div>", math.log(0.999), []),
    ]
    app_env.expect(Reply(raw=logprob_stream(tokens)))
    send(at, "markup please")
    assert sent_optional(app_env) == {"logprobs": True, "top_logprobs": 2}
    (shaded,) = [element.proto.body for element in at.get("html")]
    spans = shaded.split("<span ")[1:]
    assert len(spans) == 3
    assert spans[0].endswith(">&lt;b&gt;</span>") and "<b>" not in shaded and "</div>\n" not in shaded
    hover = "&quot;&lt;b&gt;&quot;: 90.0%\n  &quot;&lt;b&gt;&quot;: 90.0%\n  &quot;\\&quot;x\\&quot;&quot;: 5.0%"
    assert f'title="{hover}"' in spans[0]
    assert "rgba(255, 140, 0, 0.08)" in spans[0]  # likely: light
    assert 'title="&quot; &amp; &quot;: 25.0%\n  &quot; and&quot;: 50.0%' in spans[1] and ">&#x27;" not in spans[1]
    assert "rgba(255, 140, 0, 0.60)" in spans[1] and spans[1].endswith("> &amp; </span>")  # unlikely: dark
    assert spans[2].endswith(">\n&lt;/div&gt;</span></div>")


def test_alternatives_show_as_tabs_from_an_n2_stream(app_env):
    at = without_tools()
    at.sidebar.number_input(key="param_n").set_value(2).run()
    app_env.expect(Reply(raw=(CORPUS / "openai_n2_choices.stream").read_bytes()))
    send(at, "say it twice")
    assert sent_optional(app_env) == {"n": 2}
    tabs = at.tabs
    assert [tab.label for tab in tabs] == ["Choice 1", "Choice 2"]
    assert [[md.value for md in tab.markdown] for tab in tabs] == [["Sure! Here it is."], ["Of course."]]


def test_a_picked_schema_is_sent_and_the_reply_checked_against_it(app_env):
    at = without_tools()
    at.sidebar.selectbox(key="param_response_format").select("json_schema").run()
    at.sidebar.selectbox(key="param_schema_example").select("sentiment").run()
    assert json.loads(at.sidebar.text_area(key="param_json_schema").value)["title"] == "sentiment"
    app_env.expect(Reply(text='{"label": "great", "confidence": 0.9}'))
    send(at, "How do I feel?")
    asked = sent_optional(app_env)["response_format"]
    assert asked["type"] == "json_schema" and asked["json_schema"]["name"] == "sentiment"
    assert "The reply does not follow the asked format (json_schema):" in [error.value for error in at.error]
    assert "$.label: 'great' is not one of ['positive', 'neutral', 'negative']" in [code.value for code in at.code]
    assert {"label": "great", "confidence": 0.9} in [json.loads(element.value) for element in at.main.json]


def test_an_unusable_schema_is_explained_and_not_sent(app_env):
    at = without_tools()
    at.sidebar.selectbox(key="param_response_format").select("json_schema").run()
    at.sidebar.text_area(key="param_json_schema").set_value('{"type": "objekt"}').run()
    assert "The schema is not usable, so response_format is not sent:" in [e.value for e in at.sidebar.error]
    assert any("not a valid JSON Schema" in code.value for code in at.sidebar.code)
    app_env.expect(Reply(text="Fine."))
    send(at, "hi")
    assert sent_optional(app_env) == {}


def test_a_refused_parameter_is_explained_by_its_name(app_env):
    at = without_tools()
    at.sidebar.number_input(key="param_seed").set_value(7).run()
    error = {"message": "Unsupported parameter: 'seed' is not supported with this model.", "param": "seed"}
    app_env.expect(Reply(status=400, error={"error": error | {"type": "invalid_request_error", "code": None}}))
    send(at, "hi")
    assert sent_optional(app_env) == {"seed": 7}
    assert any("rejected the parameter `seed`" in e.value and "Parameters and tools" in e.value for e in at.error)


def test_a_chat_brings_back_its_parameters_when_opened_again(app_env):
    at = without_tools()
    at.sidebar.number_input(key="param_presence_penalty").set_value(1.5).run()
    at.sidebar.selectbox(key="param_reasoning_effort").select("low").run()
    app_env.expect(Reply(text="Noted."))
    send(at, "first chat")
    at.sidebar.button(key="new_chat").click().run()
    at.sidebar.number_input(key="param_presence_penalty").set_value(None).run()
    at.sidebar.selectbox(key="param_reasoning_effort").select("").run()
    (first,) = [button for button in at.sidebar.button if (button.key or "").startswith("open_")]
    first.click().run()
    assert at.sidebar.number_input(key="param_presence_penalty").value == 1.5
    assert at.sidebar.selectbox(key="param_reasoning_effort").value == "low"


def test_tool_parameters_follow_the_enabled_tools(app_env):
    at = without_tools()
    assert at.sidebar.selectbox(key="param_tool_choice").disabled
    at.sidebar.multiselect(key="tools").set_value(["calculate"]).run()
    choice = at.sidebar.selectbox(key="param_tool_choice")
    assert not choice.disabled and choice.options[-1] == "calculate"
    choice.select("calculate").run()
    at.sidebar.selectbox(key="param_parallel_tool_calls").select("false").run()
    app_env.expect(Reply(text="12"), Reply(text="13"))
    send(at, "6+6?")
    assert sent_optional(app_env) == {
        "tool_choice": {"type": "function", "function": {"name": "calculate"}},
        "parallel_tool_calls": False,
    }
    at.sidebar.multiselect(key="tools").set_value(["get_current_time"]).run()  # the chosen tool is gone
    assert at.sidebar.selectbox(key="param_tool_choice").value == ""
    send(at, "6+7?")
    assert sent_optional(app_env, 1) == {"tool_choice": "auto", "parallel_tool_calls": False}
