"""Conversation export as Markdown and JSON. Settings never travel: no key, no base URL."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from conversation_manager import Conversation, Message
from i18n import t
from prompt_templates import get_template

EXPORT_FORMAT = "ai-chat-app/conversation"
EXPORT_VERSION = 1


def _money(message: Message) -> dict[str, Any] | None:
    return asdict(message.cost) if message.cost else None


def to_json(conversation: Conversation) -> str:
    totals = conversation.totals()
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "reasoning": m.reasoning or None,
                "tool_calls": m.tool_calls or None,
                "tool_call_id": m.tool_call_id,
                "name": m.name,
                "is_error": m.is_error,
                "status": m.status,
                "finish_reason": m.finish_reason,
                "error": m.error,
                "model": m.model,
                "template": m.template,
                "usage": (asdict(m.usage) | {"total_tokens": m.usage.total_tokens}) if m.usage else None,
                "cost": _money(m),
                "created_at": m.created_at,
            }
            for m in conversation.messages
        ],
        "totals": {
            "usage": asdict(totals.usage) | {"total_tokens": totals.usage.total_tokens},
            "cost": asdict(totals.cost),
            "calls": totals.calls,
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _fence(text: str, language: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text}\n{fence}"


def to_markdown(conversation: Conversation, language: str) -> str:
    lines = [f"# {conversation.title or t('title', language)}", ""]
    for message in conversation.messages:
        if message.role == "assistant" and message.is_empty and not message.error:
            continue
        heading = t(f"role_{message.role}", language)
        if message.role == "user" and message.template:
            heading += f" · {get_template(message.template).name[language]}"
        if message.role == "assistant" and message.model:
            heading += f" · {message.model}"
        if message.role == "tool":
            heading += f" · {message.name}"
        lines += [f"## {heading}", ""]
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
    totals = conversation.totals()
    lines += [
        "---",
        f"{t('conversation', language)}: {totals.usage.total_tokens} tokens · "
        f"${totals.cost.usd:.6f} · ¥{totals.cost.cny:.6f}",
        "",
    ]
    return "\n".join(lines)
