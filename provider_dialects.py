"""What each provider needs sent back, in one table: reasoning and opaque per-call fields.

Stored assistant messages keep a reply's reasoning and each tool call's opaque ``extra_content``
(``Message.to_api`` and the runner's tool round both write them with ``assistant_message``). The
request body then keeps them only where the provider asks for them (``outgoing``), and nowhere else:

- DeepSeek's thinking mode answers 400 unless every assistant message that carries tool calls
  brings back its ``reasoning_content`` (even an empty one); on other messages it is ignored or
  rejected, so it is never sent there.
- Gemini's OpenAI compatibility needs each tool call's ``extra_content`` (the thought signature)
  back unchanged.

Rules are matched on the model name, which stays the same behind gateways and proxies.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from function_tools import ToolCall

REASONING_KEY = "reasoning_content"
EXTRA_KEY = "extra_content"


@dataclass(frozen=True)
class Dialect:
    reasoning_on_tool_calls: bool = False  # send reasoning_content back on assistant tool-call messages
    tool_call_extras: bool = False  # send each tool call's extra_content back


PLAIN = Dialect()

# (substring of the lower-cased model name, dialect); the first match wins.
DIALECTS: tuple[tuple[str, Dialect], ...] = (
    ("deepseek", Dialect(reasoning_on_tool_calls=True)),
    ("gemini", Dialect(tool_call_extras=True)),
)


def dialect_for(model: str) -> Dialect:
    lowered = model.lower()
    return next((dialect for key, dialect in DIALECTS if key in lowered), PLAIN)


def assistant_message(
    content: str, calls: Sequence[ToolCall], reasoning: str = "", extras: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An assistant message with everything any provider may want back (``outgoing`` trims it)."""
    # content stays a string even beside tool calls: llama.cpp's server rejects null
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        params = []
        for call in calls:
            param = call.to_param()
            if extras and call.call_id in extras:
                param[EXTRA_KEY] = copy.deepcopy(extras[call.call_id])
            params.append(param)
        message["tool_calls"] = params
        message[REASONING_KEY] = reasoning
    return message


def outgoing(messages: Sequence[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Copies of the messages with only the fields this model's provider takes back."""
    dialect = dialect_for(model)
    result = []
    for message in copy.deepcopy(list(messages)):
        if not (dialect.reasoning_on_tool_calls and message.get("tool_calls")):
            message.pop(REASONING_KEY, None)
        if not dialect.tool_call_extras:
            for call in message.get("tool_calls") or []:
                call.pop(EXTRA_KEY, None)
        result.append(message)
    return result
