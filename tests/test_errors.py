"""A provider's refusal of one request parameter, in every shape seen, becomes ``bad_parameter`` naming it.

Each body is a provider's own (the issue thread it was reported in is named), served over real HTTP by the
scripted server and read by the real client; a refusal of a field the parameters panel does not set stays
``bad_request`` (the advice to unset it there would be wrong).
"""

from __future__ import annotations

import json

import pytest

from chat_params import PANEL_PARAMETERS
from errors import ErrorInfo, Problem, from_provider, refused_parameter
from llm_client import ChatParams, LLMClient, build_body, drain
from retry_policy import RETRYABLE_KINDS
from scripted_server import Reply
from stream_assembly import Payload, normalize

KEY = "sk-test-SECRET-0123456789abcdef"


def openai_error(message: str, param: str | None = None, code: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json.dumps({"error": error}).encode()


def vllm_error(message: str) -> bytes:
    error = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
    return json.dumps(error).encode()


SHAPES = [
    pytest.param(  # https://github.com/microsoft/clarity-agent/issues/59
        400,
        openai_error(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' "
            "instead.",
            "max_tokens",
            "unsupported_parameter",
        ),
        "max_tokens",
        id="openai-unsupported-parameter",
    ),
    pytest.param(  # https://github.com/owndev/Open-WebUI-Functions/issues/98
        400,
        openai_error(
            "Unsupported value: 'temperature' does not support 0.01 with this model. Only the default (1) value is "
            "supported.",
            "temperature",
            "unsupported_value",
        ),
        "temperature",
        id="openai-unsupported-value",
    ),
    pytest.param(  # https://github.com/Upsonic/Upsonic/issues/323 (the param field alone names it)
        400,
        openai_error(
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are "
            "specified.",
            "parallel_tool_calls",
        ),
        "parallel_tool_calls",
        id="openai-param-field",
    ),
    pytest.param(  # https://github.com/formulahendry/wechat-acp/issues/16 (no param field)
        400,
        openai_error("Unrecognized request argument supplied: reasoning_effort"),
        "reasoning_effort",
        id="azure-unrecognized-argument",
    ),
    pytest.param(  # https://github.com/fanenr/chatbot/issues/21, with a parameter of ours
        400,
        json.dumps({"error": {"message": "property 'seed' is unsupported", "type": "invalid_request_error"}}).encode(),
        "seed",
        id="groq-property-unsupported",
    ),
    pytest.param(  # https://github.com/XCNXNXNX/dsh-portable-tavern/issues/1 (Kimi)
        400,
        b'{"message": "invalid temperature: only 1 is allowed for this model", "type": "invalid_request_error"}',
        "temperature",
        id="moonshot-invalid-value",
    ),
    pytest.param(  # https://github.com/vllm-project/vllm/issues/10078
        400,
        vllm_error(
            "[{'type': 'extra_forbidden', 'loc': ('body', 'max_completion_tokens'), 'msg': 'Extra inputs are not "
            "permitted', 'input': 64}]"
        ),
        "max_completion_tokens",
        id="vllm-extra-forbidden",
    ),
    pytest.param(  # the text form of https://github.com/vllm-project/vllm/issues/12864, with a parameter of ours
        400,
        openai_error(
            "1 validation error for ChatCompletionRequest\ntop_logprobs\n  Extra inputs are not permitted "
            "[type=extra_forbidden, input_value=3, input_type=int]"
        ),
        "top_logprobs",
        id="pydantic-text-form",
    ),
    pytest.param(  # serde's words, as in https://github.com/BerriAI/litellm/issues/13959, with a field of ours
        422,
        b"Failed to deserialize the JSON body into the target type: unknown field `logprobs`, expected one of "
        b"`messages`, `model`, `max_tokens` at line 1 column 120",
        "logprobs",
        id="serde-unknown-field",
    ),
]


def refusal(server, status: int, body: bytes) -> ErrorInfo:
    """The error the real client makes of ``body`` answered with ``status``."""
    content_type = "application/json" if body.startswith(b"{") else "text/plain"
    server.expect(Reply(status=status, raw=body, content_type=content_type))
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    request = build_body([{"role": "user", "content": "hi"}], ChatParams("gpt-4o-mini", 0.3, 100), [])
    _, result = drain(client.stream_round(request))
    assert result.error is not None
    return result.error


@pytest.mark.parametrize(("status", "body", "param"), SHAPES)
def test_each_shape_of_a_refused_parameter_names_it(server, status, body, param):
    error = refusal(server, status, body)
    assert (error.kind, error.param, error.status) == ("bad_parameter", param, status)
    assert error.kind not in RETRYABLE_KINDS


@pytest.mark.parametrize(
    "body",
    [
        # https://github.com/vllm-project/vllm/issues/3657: a field we never send
        vllm_error(
            "[{'type': 'extra_forbidden', 'loc': ('body', 'prompt_logprobs'), 'msg': 'Extra inputs are not "
            "permitted', 'input': True}]"
        ),
        # https://github.com/partITech/php-mistral/issues/76: the tools list, not a parameter of the panel
        json.dumps(
            {
                "object": "Error",
                "message": [
                    {"type": "extra_forbidden", "loc": ["body", "tools"], "msg": "Extra inputs are not permitted"}
                ],
                "type": "invalid_request_error",
                "code": 3001,
            }
        ).encode(),
        openai_error("Invalid 'messages[1].content': string too long.", "messages.[1].content", "string_too_long"),
        json.dumps({"error": {"message": "property 'store' is unsupported, did you mean 'stop'?"}}).encode(),
    ],
    ids=["vllm-unsent-field", "mistral-tools", "openai-messages", "groq-unsent-field"],
)
def test_a_refused_field_the_panel_does_not_set_stays_a_bad_request(server, body):
    error = refusal(server, 400, body)
    assert (error.kind, error.param) == ("bad_request", None)


def test_a_server_error_naming_a_parameter_is_still_a_server_error(server):
    error = refusal(server, 500, openai_error("Unsupported parameter: 'seed' made us crash", "seed"))
    assert (error.kind, error.param) == ("server", None)


def test_an_error_inside_a_reply_names_the_parameter_too():
    chunk = {"error": {"message": "Unsupported parameter: 'n' is not supported here.", "param": "n", "code": None}}
    problem = normalize(Payload(chunk)).problem
    assert problem is not None and problem.param == "n"
    assert from_provider(problem) == ErrorInfo("bad_parameter", problem.message, param="n")
    words_only = from_provider(Problem("unknown field `top_p`, expected one of `model`"))
    assert (words_only.kind, words_only.param) == ("bad_parameter", "top_p")


def test_only_parameters_of_the_panel_are_named_and_nested_ones_by_their_field():
    assert refused_parameter("", "response_format.json_schema.schema") == "response_format"
    assert refused_parameter("", "tools[0].function.name") is None
    assert refused_parameter("Unsupported parameter: 'stream_options'") is None
    assert {"top_p", "logprobs", "response_format", "tool_choice"} <= PANEL_PARAMETERS
    assert "json_schema" not in PANEL_PARAMETERS and "messages" not in PANEL_PARAMETERS
