"""The prompt tokens of a request by part, for learners: what the system prompt, the template's examples, the tool
definitions, a summary of older turns, the history and the new message each cost.

The parts add up to ``TurnRequest.prompt_tokens`` exactly: every message's tokens go to the part it belongs to,
and what the count adds around the messages (per message 3 tokens and its role, 1 for a name, and 3 that prime
the reply: token_tracker follows OpenAI's cookbook) is a part of its own, "framing".

The new message is the request's last message when it is a user message: the question a turn asks (in its
template's wording). The sidebar's plan, drawn before anything is typed, ends with one only when a question is
still waiting for its answer (after an error, say); otherwise its new message is 0 and what you type next adds
its own tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from conversation_manager import RequestSpec, TurnRequest
from prompt_templates import prefix_messages
from token_tracker import REPLY_PRIMING, TOKENS_PER_MESSAGE, TOKENS_PER_NAME, count_messages, count_text, count_tools

PartName = Literal["system", "examples", "tools", "summary", "trim_note", "history", "new_message", "framing"]
PARTS: tuple[PartName, ...] = (
    "system",
    "examples",
    "tools",
    "summary",
    "trim_note",
    "history",
    "new_message",
    "framing",
)


@dataclass(frozen=True)
class Part:
    name: PartName
    tokens: int


def breakdown(request: TurnRequest, spec: RequestSpec) -> tuple[Part, ...]:
    """Every part, in PARTS order (a part the request does not have is 0); their sum is the request's count."""
    totals = dict.fromkeys(PARTS, 0)
    totals["tools"] = count_tools(spec.tools, spec.model)
    totals["framing"] = REPLY_PRIMING
    for name, message in zip(_message_parts(request, spec), request.messages, strict=True):
        framing = _framing(message, spec.model)
        totals[name] += count_messages([message], spec.model) - REPLY_PRIMING - framing
        totals["framing"] += framing
    return tuple(Part(name, totals[name]) for name in PARTS)


def _message_parts(request: TurnRequest, spec: RequestSpec) -> list[PartName]:
    """The part of each message, in the order build_request puts them: the system prompt and the template's
    examples, the summary note (when turns are summarised), the note on left-out messages (when any were),
    then the history, ending with the new message."""
    tool_names = [tool["function"]["name"] for tool in spec.tools]
    prefix = prefix_messages(spec.template_key, spec.language, tool_names, spec.custom_system)
    examples: list[PartName] = ["examples"] * (len(prefix) - 1)
    names: list[PartName] = ["system", *examples]
    if request.summarized_ids:
        names.append("summary")
    if request.dropped_messages:
        names.append("trim_note")
    rest = len(request.messages) - len(names)
    new: list[PartName] = ["new_message"] if rest > 0 and request.messages[-1]["role"] == "user" else []
    history: list[PartName] = ["history"] * (rest - len(new))
    return [*names, *history, *new]


def _framing(message: Mapping[str, Any], model: str) -> int:
    """What the count adds to a message around its text: 3 tokens, its role, 1 for a name."""
    name = TOKENS_PER_NAME if "name" in message else 0
    return TOKENS_PER_MESSAGE + count_text(str(message["role"]), model) + name
