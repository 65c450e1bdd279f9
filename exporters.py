"""Conversation export (Markdown, JSON, a runnable Python script, a curl command) and import.

Settings never travel: no key, no base URL. JSON holds every message of the tree with its parent,
so importing an export restores every version (the round trip is lossless). ChatGPT's
``conversations.json`` imports too.
"""

from __future__ import annotations

import json
import pprint
import shlex
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from config import OPENAI_DEFAULT_URL
from conversation_manager import Conversation, Message
from i18n import t
from prompt_templates import get_template

EXPORT_FORMAT = "ai-chat-app/conversations"
EXPORT_VERSION = 2
MAX_IMPORT_BYTES = 50 * 1024 * 1024


class ImportFailed(ValueError):
    """The file is not an export this app can read; the message says why."""


def to_json(conversations: Iterable[Conversation]) -> str:
    items = []
    for conversation in conversations:
        totals = conversation.totals()
        items.append(
            conversation.to_dict()
            | {"totals": {"usage": asdict(totals.usage), "cost": asdict(totals.cost), "calls": totals.calls}}
        )
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "conversations": items,
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _fence(text: str, language: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text}\n{fence}"


def _message_markdown(message: Message, language: str) -> list[str]:
    heading = t(f"role_{message.role}", language)
    if message.role == "user" and message.template:
        heading += f" · {get_template(message.template).name[language]}"
    if message.role == "assistant" and message.model:
        heading += f" · {message.model}"
    if message.role == "tool":
        heading += f" · {message.name}"
    lines = [f"## {heading}", ""]
    if message.reasoning:
        lines += [f"> {t('reasoning', language)}: " + message.reasoning.replace("\n", "\n> "), ""]
    if message.role == "tool":
        lines += [_fence(message.content, "json"), ""]
    elif message.content:
        lines += [message.content, ""]
    for call in message.tool_calls:
        lines += [f"**{t('tool_call', language, name=call['name'])}**", "", _fence(call["arguments"], "json"), ""]
    if message.usage and message.cost:
        mark = f" {t('estimated', language)}" if message.usage.estimated else ""
        lines += [
            f"*{message.usage.prompt_tokens} + {message.usage.completion_tokens} = "
            f"{message.usage.total_tokens} tokens{mark} · ${message.cost.usd:.6f} · ¥{message.cost.cny:.6f}*",
            "",
        ]
    if message.error:
        lines += [f"*{t('interrupted_by', language)}: {message.error.get('kind')}*", ""]
    return lines


def to_markdown(conversations: Iterable[Conversation], language: str) -> str:
    """The active branch of each conversation as a readable transcript."""
    lines: list[str] = []
    for conversation in conversations:
        lines += [f"# {conversation.title or t('title', language)}", ""]
        for message in conversation.messages:
            if message.role == "assistant" and message.is_empty and not message.error:
                continue
            lines += _message_markdown(message, language)
        totals = conversation.totals()
        lines += [
            "---",
            f"{t('conversation', language)}: {totals.usage.total_tokens} tokens · "
            f"${totals.cost.usd:.6f} · ¥{totals.cost.cny:.6f}",
            "",
        ]
    return "\n".join(lines)


def to_python(request: dict[str, Any]) -> str:
    """A script that sends the same request with the openai SDK; the key comes from the environment."""
    literal = pprint.pformat(request, width=100, sort_dicts=False)
    return f'''"""Reproduces a request sent by ai-chat-app. Run: OPENAI_API_KEY=... python this_file.py"""

import os

from openai import OpenAI

client = OpenAI(
    api_key=os.environ["OPENAI_API_KEY"],
    base_url=os.environ.get("OPENAI_BASE_URL") or None,
)

request = {literal}

if request.get("stream"):
    with client.chat.completions.create(**request) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
            if chunk.usage:
                print("\\n", chunk.usage)
else:
    print(client.chat.completions.create(**request).model_dump_json(indent=2))
'''


def to_curl(request: dict[str, Any]) -> str:
    """The same request as a curl command; the key is read from $OPENAI_API_KEY, never written."""
    body = json.dumps(request, ensure_ascii=False, indent=2)
    delimiter = "JSON"
    while delimiter in body:
        delimiter += "_END"
    url = f'"${{OPENAI_BASE_URL:-{OPENAI_DEFAULT_URL}}}/chat/completions"'
    stream_flag = " -N" if request.get("stream") else ""
    return (
        f"curl{stream_flag} {url} \\\n"
        f"  -H {shlex.quote('Content-Type: application/json')} \\\n"
        '  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n'
        f"  -d @- <<'{delimiter}'\n{body}\n{delimiter}\n"
    )


# --- import ------------------------------------------------------------------------------------------


def _parse(data: bytes) -> Any:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFailed(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFailed(f"the file is not valid JSON ({exc})") from exc


def from_json(data: bytes) -> list[Conversation]:
    """Read this app's export, or ChatGPT's conversations.json."""
    document = _parse(data)
    if isinstance(document, dict) and document.get("format") == EXPORT_FORMAT:
        try:
            return [Conversation.from_dict(item) for item in document.get("conversations", [])]
        except (TypeError, KeyError, ValueError) as exc:
            raise ImportFailed(f"the export is damaged ({exc})") from exc
    if isinstance(document, list) and all(isinstance(item, dict) and "mapping" in item for item in document):
        return [_from_chatgpt(item) for item in document]
    raise ImportFailed("not an ai-chat-app export nor a ChatGPT conversations.json")


def _chatgpt_text(message: dict[str, Any]) -> str:
    content = message.get("content") or {}
    parts = content.get("parts") or ([content["text"]] if isinstance(content.get("text"), str) else [])
    return "\n".join(part for part in parts if isinstance(part, str)).strip()


def _from_chatgpt(item: dict[str, Any]) -> Conversation:
    created = item.get("create_time")
    conversation = Conversation(
        title=str(item.get("title") or ""),
        created_at=datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds") if created else None,
    )
    mapping: dict[str, dict[str, Any]] = item["mapping"]
    kept: dict[str, str] = {}  # ChatGPT node id -> our message id

    def nearest_kept(node_id: str | None) -> str | None:
        while node_id is not None and node_id not in kept:
            node_id = (mapping.get(node_id) or {}).get("parent")
        return kept.get(node_id) if node_id else None

    roots = [key for key, node in mapping.items() if not node.get("parent")]
    queue = list(roots)
    while queue:
        node_id = queue.pop(0)
        node = mapping.get(node_id) or {}
        message = node.get("message") or {}
        role = (message.get("author") or {}).get("role")
        text = _chatgpt_text(message) if message else ""
        if role in ("user", "assistant") and text:
            stamp = message.get("create_time")
            ours = Message(
                role,
                text,
                parent_id=nearest_kept(node.get("parent")),
                model=(message.get("metadata") or {}).get("model_slug") if role == "assistant" else None,
                created_at=datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
                if stamp
                else conversation.created_at,
            )
            conversation.nodes[ours.id] = ours
            kept[node_id] = ours.id
        queue.extend(node.get("children") or [])
    conversation.leaf_id = nearest_kept(item.get("current_node")) or next(reversed(conversation.nodes), None)
    return conversation
