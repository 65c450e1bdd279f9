"""Conversation export (Markdown, JSON, a runnable Python script, a curl command) and import.

Settings never travel: no key, no base URL. JSON holds every message of the tree with its parent,
so importing an export restores every version (the round trip is lossless but for fresh ids), images included
(base64, checked on import to be the image each names), and how the user organised each chat (pinned, archived,
folder, tags: the store's, not the Conversation's); Markdown shows images inline as data URLs. ChatGPT's
``conversations.json`` imports too. The typed records an export is checked against live in records.py.
"""

from __future__ import annotations

import json
import math
import pprint
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

import records
from attachments import Attachment
from config import OPENAI_DEFAULT_URL, redact
from conversation_manager import STOPPED, STREAMING, Conversation, Message
from i18n import t
from prompt_templates import get_template
from records import ConversationRecord, Record, Seconds
from store import ConversationSummary, Organised, Store

EXPORT_FORMAT = "ai-chat-app/conversations"
TRACE_FORMAT = "ai-chat-app/trace"
EXPORT_VERSION = 3  # 3: each chat's pinned, archived, folder and tags
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def _scrubbed(message: dict[str, Any]) -> dict[str, Any]:
    """Error details stored by older versions may hold a base URL's user:password or query: never exported."""
    error = message.get("error")
    if isinstance(error, dict) and isinstance(error.get("detail"), str):
        message["error"] = error | {"detail": redact(error["detail"])}
    return message


def _organised(summary: ConversationSummary | None) -> dict[str, Any]:
    """How the user organised a chat, as an export holds it (a chat the store does not hold: not organised)."""
    found = summary or ConversationSummary("", "", "")
    return {"pinned": found.pinned, "archived": found.archived, "folder": found.folder, "tags": list(found.tags)}


def to_json(conversations: Iterable[Conversation], store: Store | None = None) -> str:
    """Every message of each chat, its totals, and how ``store`` (the owner's view) has it organised."""
    items = []
    for conversation in conversations:
        totals = conversation.totals()
        record = conversation.to_dict()
        record["messages"] = [_scrubbed(message) for message in record["messages"]]
        organised = _organised(store.summary(conversation.id) if store is not None else None)
        items.append(
            record
            | organised
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
    lines += [line for image in message.attachments for line in (_markdown_image(image), "")]
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


def _markdown_image(image: Attachment) -> str:
    """The image inside the transcript as a data URL (one file that needs nothing beside it); its name, the alt
    text, with Markdown's brackets escaped."""
    alt = re.sub(r"([\\\[\]])", r"\\\1", " ".join(image.name.split()))
    return f"![{alt}]({image.data_url})"


def to_markdown(conversations: Iterable[Conversation], language: str) -> str:
    """The active branch of each conversation as a readable transcript, images inline."""
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


def _base(base_url: str | None) -> str | None:
    """A base URL fit to print in code: no user:password, no query string, no key."""
    if not base_url:
        return None
    return redact(base_url).rstrip("/") or None


def to_python(request: dict[str, Any], base_url: str | None = None) -> str:
    """A script that sends the same request with the openai SDK; the key comes from the environment, the base
    URL too when set there (else ``base_url``, else OpenAI's)."""
    literal = pprint.pformat(request, width=100, sort_dicts=False)
    return f'''"""Reproduces a request sent by ai-chat-app. Run: OPENAI_API_KEY=... python this_file.py"""

import os

from openai import OpenAI

client = OpenAI(
    api_key=os.environ["OPENAI_API_KEY"],
    base_url=os.environ.get("OPENAI_BASE_URL") or {_base(base_url)!r},
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


def to_curl(request: dict[str, Any], base_url: str | None = None) -> str:
    """The same request as a curl command; the key is read from $OPENAI_API_KEY, never written."""
    body = json.dumps(request, ensure_ascii=False, indent=2)
    delimiter = "JSON"
    while delimiter in body:
        delimiter += "_END"
    base = re.sub(r"([$`\"\\}])", r"\\\1", _base(base_url) or OPENAI_DEFAULT_URL)  # literal inside "${...:-...}"
    url = f'"${{OPENAI_BASE_URL:-{base}}}/chat/completions"'
    stream_flag = " -N" if request.get("stream") else ""
    return (
        f"curl{stream_flag} {url} \\\n"
        f"  -H {shlex.quote('Content-Type: application/json')} \\\n"
        '  -H "Authorization: Bearer $OPENAI_API_KEY" \\\n'
        f"  -d @- <<'{delimiter}'\n{body}\n{delimiter}\n"
    )


def to_javascript(request: dict[str, Any], base_url: str | None = None) -> str:
    """The same request with the official ``openai`` npm package (an ES module, Node 18 or later), streamed
    deltas printed as they come; the key comes from the environment, never written."""
    literal = json.dumps(request, ensure_ascii=False, indent=2)
    base = json.dumps(_base(base_url) or OPENAI_DEFAULT_URL)
    return f"""// Reproduces a request sent by ai-chat-app with the official openai npm package.
// Run: npm install openai && OPENAI_API_KEY=... node this_file.mjs
import OpenAI from "openai";

const client = new OpenAI({{
  apiKey: process.env.OPENAI_API_KEY,
  baseURL: process.env.OPENAI_BASE_URL || {base},
}});

const request = {literal};

if (request.stream) {{
  const stream = await client.chat.completions.create(request);
  for await (const chunk of stream) {{
    const delta = chunk.choices[0]?.delta?.content;
    if (delta) process.stdout.write(delta);
    if (chunk.usage) console.log("\\n", chunk.usage);
  }}
}} else {{
  const completion = await client.chat.completions.create(request);
  console.log(JSON.stringify(completion, null, 2));
}}
"""


CHAT_PATH = "/chat/completions"
CODE_LANGUAGES = {"python": to_python, "curl": to_curl, "javascript": to_javascript}


def round_code(trace: Mapping[str, Any]) -> dict[str, str]:
    """One traced request (wire_trace.RoundTrace as a dict) as code in each of CODE_LANGUAGES, sent where it went;
    empty when the trace holds no readable JSON body (a request that never went out)."""
    try:
        body = json.loads(trace.get("request_body") or "")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    url = str(trace.get("url") or "")
    base = url.removesuffix(CHAT_PATH) if url.endswith(CHAT_PATH) else None
    return {language: make(body, base) for language, make in CODE_LANGUAGES.items()}


def traces_to_json(reply_id: str, traces: Sequence[Mapping[str, Any]]) -> str:
    """A reply's wire traces as one JSON document (no key is ever in a trace)."""
    document = {"format": TRACE_FORMAT, "version": 1, "reply_id": reply_id, "rounds": list(traces)}
    return json.dumps(document, ensure_ascii=False, indent=2)


# --- import ------------------------------------------------------------------------------------------
# Every file is checked whole before anything is stored: JSON that nothing downstream can hold (deep
# nesting, NaN, lone surrogates), then each field's type (pydantic, strict), then the tree (ids unique,
# parents present, no loops). Imports get fresh ids, so they can never touch a stored chat.

MAX_DEPTH = 100  # nesting of JSON values; an export needs about 15


class ImportFailed(ValueError):
    """The file is not an export this app can read; the message says why."""


class ExportedConversation(ConversationRecord):
    """A chat as exported: its record and how the user organised it (exports before version 3 say nothing: none)."""

    pinned: bool = False
    archived: bool = False
    folder: str = ""  # the store trims and cuts it, as it does a folder named in the app
    tags: list[str] = []


class AppExport(Record):
    format: Literal["ai-chat-app/conversations"]
    version: Annotated[int, Field(ge=1)]
    conversations: list[ExportedConversation]


class ChatGptAuthor(Record):
    role: str


class ChatGptContent(Record):
    parts: list[Any] | None = None
    text: str | None = None


class ChatGptMetadata(Record):
    model_slug: str | None = None


class ChatGptMessage(Record):
    author: ChatGptAuthor
    content: ChatGptContent | None = None
    create_time: Seconds | None = None
    metadata: ChatGptMetadata | None = None


class ChatGptNode(Record):
    message: ChatGptMessage | None = None
    parent: str | None = None
    children: list[str] = []


class ChatGptConversation(Record):
    title: str | None = None
    create_time: Seconds | None = None
    current_node: str | None = None
    mapping: dict[str, ChatGptNode]


_CHATGPT = TypeAdapter(list[ChatGptConversation])


def _parse(data: bytes) -> Any:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFailed(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and integers too long to read
        raise ImportFailed(f"the file is not valid JSON ({str(exc)[:200]})") from exc
    except RecursionError as exc:
        raise ImportFailed(f"the file nests deeper than {MAX_DEPTH} levels") from exc
    _check_values(document)
    return document


def _check_values(document: Any) -> None:
    """Refuse what JSON allows but nothing downstream can hold: deep nesting, NaN or infinity, lone surrogates."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ImportFailed(f"the file nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack += [(key, depth) for key in value] + [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
        elif isinstance(value, float) and not math.isfinite(value):
            raise ImportFailed("the file holds a number that is not finite (NaN or Infinity)")
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ImportFailed("the file holds text that is not valid Unicode (a lone surrogate)") from exc


def _refusal(error: ValidationError) -> ImportFailed:
    """The first problem pydantic found, where it is and what it is; one line, without the value (a key from the file
    that a line break or another unprintable character is part of is shown escaped)."""
    first = error.errors()[0]
    where = ".".join(str(part) if str(part).isprintable() else repr(part) for part in first["loc"]) or "the top level"
    more = error.error_count() - 1
    return ImportFailed(f"the export is damaged at {where}: {first['msg']}" + (f" (and {more} more)" if more else ""))


def from_json(data: bytes) -> list[Conversation]:
    """Read this app's export, or ChatGPT's conversations.json: every chat under fresh ids, or ImportFailed."""
    return [conversation for conversation, _ in _read(data)]


def import_into(store: Store, data: bytes) -> int:
    """Store every chat of an export (``from_json``), organised as the file says, in one transaction: how many.
    ImportFailed and nothing stored for a file it refuses; a database error stores no chat of it."""
    read = _read(data)
    organised = {
        conversation.id: Organised(record.pinned, record.archived, record.folder, tuple(record.tags))
        for conversation, record in read
        if record is not None
    }
    store.add([conversation for conversation, _ in read], organised)
    return len(read)


def _read(data: bytes) -> list[tuple[Conversation, ExportedConversation | None]]:
    """Each chat of the file under fresh ids, with its record where it is this app's export (None: ChatGPT's)."""
    document = _parse(data)
    read: list[tuple[Conversation, ExportedConversation | None]]
    try:
        if isinstance(document, dict) and document.get("format") == EXPORT_FORMAT:
            stored = AppExport.model_validate(document).conversations
            read = [(_from_record(record, f"conversation {n}"), record) for n, record in enumerate(stored, 1)]
        elif isinstance(document, list) and all(isinstance(item, dict) and "mapping" in item for item in document):
            items = _CHATGPT.validate_python(document)
            read = [(_from_chatgpt(item, f"conversation {n}"), None) for n, item in enumerate(items, 1)]
        else:
            raise ImportFailed("not an ai-chat-app export nor a ChatGPT conversations.json")
    except ValidationError as exc:
        raise _refusal(exc) from exc
    if not read:
        raise ImportFailed("the file holds no conversations")
    return read


def _depths(parents: Mapping[str, str | None], where: str) -> dict[str, int]:
    """How far each node is from its root; refuses a parent that is not in the file, or parents that loop."""
    depth: dict[str, int] = {}
    for start in parents:
        chain: dict[str, None] = {}  # the walk up from ``start``, in order
        node: str | None = start
        while node is not None and node not in depth:
            if node in chain:
                raise ImportFailed(f"{where}: the messages' parents form a loop (at {node[:40]!r})")
            if node not in parents:
                raise ImportFailed(f"{where}: {next(reversed(chain))[:40]!r} has a parent that is not in the file")
            chain[node] = None
            node = parents[node]
        base = -1 if node is None else depth[node]
        for step, item in enumerate(reversed(chain), 1):
            depth[item] = base + step
    return depth


def _from_record(record: ConversationRecord, where: str) -> Conversation:
    """A conversation of this app's export, its tree checked, under fresh ids; a reply left streaming is stopped."""
    ids = [message.id for message in record.messages]
    if len(set(ids)) != len(ids):
        raise ImportFailed(f"{where}: two messages share one id")
    _depths({message.id: message.parent_id for message in record.messages}, where)
    if record.leaf_id is not None and record.leaf_id not in ids:
        raise ImportFailed(f"{where}: the current message is not in the file")
    if record.summary and not set(ids).issuperset(record.summary.covers):
        raise ImportFailed(f"{where}: the summary stands for messages that are not in the file")
    conversation = Conversation(None, record.title, record.created_at, record.settings.model_dump(exclude_unset=True))
    for item in record.messages:
        message = records.message(item)
        if message.status == STREAMING:
            message.status = STOPPED
        conversation.nodes[message.id] = message
    records.settle_leaf(conversation, record.leaf_id)
    conversation.last_request = record.last_request or None
    conversation.summary = records.summary(record.summary) if record.summary else None
    conversation.side_calls = [records.side_call(call) for call in record.side_calls]
    return conversation.with_new_ids()


def _stamp(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds") if seconds else None


def _chatgpt_text(message: ChatGptMessage) -> str:
    content = message.content or ChatGptContent()
    parts = content.parts or ([content.text] if content.text else [])
    return "\n".join(part for part in parts if isinstance(part, str)).strip()


def _from_chatgpt(item: ChatGptConversation, where: str) -> Conversation:
    """The user and assistant messages of a ChatGPT conversation, with its branches (its parent links)."""
    parents = {key: node.parent for key, node in item.mapping.items()}
    depth = _depths(parents, where)
    conversation = Conversation(title=item.title or "", created_at=_stamp(item.create_time))
    nearest: dict[str, str | None] = {}  # ChatGPT node id -> our message at or above it
    for node_id in sorted(parents, key=depth.__getitem__):  # parents first; siblings keep their order
        node = item.mapping[node_id]
        nearest[node_id] = nearest[node.parent] if node.parent is not None else None
        message = node.message
        text = _chatgpt_text(message) if message else ""
        if message is None or not text or message.author.role not in ("user", "assistant"):
            continue
        ours = Message(
            message.author.role,
            text,
            parent_id=nearest[node_id],
            model=(message.metadata or ChatGptMetadata()).model_slug if message.author.role == "assistant" else None,
            created_at=_stamp(message.create_time) or conversation.created_at,
        )
        conversation.nodes[ours.id] = ours
        nearest[node_id] = ours.id
    current = nearest.get(item.current_node) if item.current_node is not None else None
    records.settle_leaf(conversation, current)
    return conversation
