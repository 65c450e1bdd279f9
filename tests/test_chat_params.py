"""Every optional parameter reaches the request only when it is set: sent by the real client to the scripted
server, and read back from what the server received."""

from __future__ import annotations

from typing import Any

import pytest

from chat_params import BOUNDS, ChatParams, Extras, extras_from_dict, stop_sequences
from function_tools import ToolExecutor, default_registry
from llm_client import LLMClient, build_body, drain
from records import SettingsRecord
from reply_format import EXAMPLE_SCHEMAS
from scripted_server import Reply
from turn import ChatSettings

KEY = "sk-test-SECRET-0123456789abcdef"
ALWAYS = {"model", "messages", "stream", "stream_options", "temperature", "max_tokens"}
TOOLS = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=2).schemas()


def received(server, extras: Extras, model: str = "gpt-4o-mini", tools: list[dict[str, Any]] | None = None) -> dict:
    """The body the server received for one request with ``extras``, less what is always there."""
    server.expect(Reply(text="ok"))
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    body = build_body([{"role": "user", "content": "hi"}], ChatParams(model, 0.3, 100, extras), tools or [])
    _, result = drain(client.stream_round(body))
    assert result.error is None, result.error
    sent = server.chat_requests()[-1]
    return {name: value for name, value in sent.items() if name not in ALWAYS | {"tools"}}


SCHEMA = EXAMPLE_SCHEMAS["person"]


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        (Extras(), {}),
        (Extras(top_p=0.0), {"top_p": 0.0}),  # zero is a value, not "unset"
        (Extras(top_p=0.9), {"top_p": 0.9}),
        (Extras(stop=("END", "\n\n")), {"stop": ["END", "\n\n"]}),
        (Extras(seed=42), {"seed": 42}),
        (Extras(presence_penalty=-1.5), {"presence_penalty": -1.5}),
        (Extras(frequency_penalty=0.5), {"frequency_penalty": 0.5}),
        (Extras(n=3), {"n": 3}),
        (Extras(logprobs=True), {"logprobs": True}),
        (Extras(logprobs=True, top_logprobs=5), {"logprobs": True, "top_logprobs": 5}),
        (Extras(top_logprobs=5), {}),  # without logprobs it means nothing: not sent
        (Extras(reasoning_effort="low"), {"reasoning_effort": "low"}),
        (Extras(response_format="text"), {"response_format": {"type": "text"}}),
        (Extras(response_format="json_object"), {"response_format": {"type": "json_object"}}),
        (
            Extras(response_format="json_schema", json_schema=SCHEMA),
            {"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}},
        ),
        (Extras(response_format="json_schema"), {}),  # no usable schema: nothing asked
        (Extras(tool_choice="required", parallel_tool_calls=False), {}),  # no tools: nothing about them
    ],
    ids=lambda value: repr(value.to_dict() if isinstance(value, Extras) else value)[:60],
)
def test_each_parameter_is_sent_only_when_set(server, extras, expected):
    assert received(server, extras) == expected


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        (Extras(), {"tool_choice": "auto"}),  # always with tools: llama.cpp offers none without it
        (Extras(tool_choice="none"), {"tool_choice": "none"}),
        (Extras(tool_choice="required"), {"tool_choice": "required"}),
        (
            Extras(tool_choice="calculate"),
            {"tool_choice": {"type": "function", "function": {"name": "calculate"}}},
        ),
        (Extras(parallel_tool_calls=False), {"tool_choice": "auto", "parallel_tool_calls": False}),
        (Extras(parallel_tool_calls=True), {"tool_choice": "auto", "parallel_tool_calls": True}),
    ],
    ids=["default", "none", "required", "one-tool", "not-parallel", "parallel"],
)
def test_tool_parameters_are_sent_with_tools(server, extras, expected):
    assert received(server, extras, tools=TOOLS) == expected


def test_a_reasoning_model_gets_its_output_cap_under_its_own_name_and_no_temperature(server):
    server.expect(Reply(text="ok"))
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    params = ChatParams("o4-mini", 0.3, 100, Extras(reasoning_effort="high"))
    drain(client.stream_round(build_body([{"role": "user", "content": "hi"}], params, [])))
    sent = server.chat_requests()[0]
    assert "temperature" not in sent and "max_tokens" not in sent
    assert (sent["max_completion_tokens"], sent["reasoning_effort"]) == (100, "high")


def test_what_a_chat_keeps_comes_back_the_same():
    extras = Extras(0.5, ("a", "\n"), 7, -1.0, 2.0, 2, True, 3, "calculate", False, "low", "json_schema", SCHEMA)
    saved = extras.to_dict()
    assert saved["stop"] == ["a", "\n"] and "json_schema" in saved
    assert extras_from_dict(saved) == extras
    assert Extras().to_dict() == {} and extras_from_dict({}) == Extras()


def test_a_kept_value_of_the_wrong_type_or_range_is_left_unset():
    saved = {
        "top_p": 1.5,
        "n": "2",
        "seed": 7,
        "stop": ["ok", 3],
        "logprobs": "yes",
        "reasoning_effort": "max",
        "frequency_penalty": -2,
        "top_logprobs": BOUNDS["top_logprobs"][1] + 1,
        "json_schema": ["not", "an", "object"],
        "unknown": 1,
    }
    assert extras_from_dict(saved) == Extras(seed=7, frequency_penalty=-2.0)


def test_stop_sequences_are_typed_one_per_line_with_written_line_breaks():
    assert stop_sequences("END\n\nObservation:\n\\n\\n") == ("END", "Observation:", "\n\n")
    assert stop_sequences("") == ()


def test_a_chat_keeps_the_parameters_set_through_an_export_and_reads_them_back_leniently():
    saved = ChatSettings(template="coder", extras=Extras(seed=3, parallel_tool_calls=False))
    stored = saved.to_dict()
    assert stored["extras"] == {"seed": 3, "parallel_tool_calls": False}
    assert SettingsRecord.model_validate(stored).model_dump()["extras"] == stored["extras"]  # an import keeps them
    assert ChatSettings.from_dict(stored) == saved
    assert ChatSettings.from_dict({"extras": {"seed": "3", "n": 2}}).extras == Extras(n=2)
    assert ChatSettings.from_dict({"extras": 5}).extras is None  # from a damaged file: the controls stay as they are
