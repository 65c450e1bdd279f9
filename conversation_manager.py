"""The conversation: its messages, how a turn's events are recorded, and what the next request sends.

Messages are stored as the API sees them (user, assistant with optional tool calls, tool
results), plus what the UI and exports need (status, model, usage, cost). The request for a turn
is: system prompt (and template examples), history trimmed to the token budget in whole turns,
so an assistant tool-call message is never separated from its results, then the new message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import takewhile
from typing import Any, Final, Literal, assert_never

import model_catalog
from attachments import Attachment, user_content
from events import (
    AlternativeDelta,
    AnsweredFromCache,
    ApprovalNeeded,
    CallLogged,
    CallRecord,
    ContextTrimmed,
    FallbackUsed,
    Finished,
    Interrupted,
    Notice,
    ProviderSkipped,
    ReasoningDelta,
    RefusalDelta,
    RequestSent,
    ResponseSampled,
    Retrying,
    RoundTraced,
    StreamEvent,
    TextDelta,
    TokenLogprobs,
    ToolCallStarted,
    ToolResult,
    UsageReported,
    Waiting,
    utc_iso,
)
from function_tools import ToolCall
from prompt_templates import prefix_messages, wrap_user
from provider_dialects import assistant_message
from token_tracker import (
    REPLY_PRIMING,
    Cost,
    PriceBook,
    Totals,
    Usage,
    count_messages,
    count_tools,
    estimate_usage,
)

MessageStatus = Literal["streaming", "done", "stopped", "interrupted", "awaiting_approval"]
STREAMING: Final = "streaming"
DONE: Final = "done"
STOPPED: Final = "stopped"
INTERRUPTED: Final = "interrupted"
AWAITING: Final = "awaiting_approval"  # its tool calls wait for the user: run, edit then run, or reject
ToolDecision = Literal["run", "edited", "rejected"]  # the user's, kept on a call that waited ("decision")
TITLE_LENGTH = 40
INTERRUPTED_TOOL_RESULT = '{"error": "the tool did not run: the reply was interrupted"}'


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Message:
    role: str
    content: str = ""
    id: str = field(default_factory=_new_id)
    reasoning: str = ""  # sent back only to providers that need it (provider_dialects)
    refusal: str = ""  # the model declined: shown as a refusal
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # {"id", "name", "arguments"}
    tool_call_extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # opaque fields by call id
    tool_call_id: str | None = None
    parent_id: str | None = None
    name: str | None = None
    is_error: bool = False
    status: MessageStatus = DONE
    finish_reason: str | None = None
    error: dict[str, Any] | None = None
    model: str | None = None
    template: str | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    fallback_from: str | None = None  # the primary model this reply replaces
    estimated_prompt_tokens: int | None = None  # counted here before sending, to compare with usage
    first_token_ms: int | None = None  # from sending the request to the first text of this message
    stream_ms: int | None = None  # from the first text to the end of the stream
    trimmed: int = 0  # messages left out after the provider said the context was too long
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # {"token", "logprob", "top": [[token, lp]]}
    alternatives: list[str] = field(default_factory=list)  # the texts of choices 1.. when n > 1 was asked
    validation: dict[str, Any] | None = None  # the reply checked against the asked response_format
    routed: dict[str, Any] | None = None  # "auto" chose its model: {"model", "rule", "why", "strong", "strong_cost"}
    skipped: list[dict[str, str]] = field(default_factory=list)  # providers passed over as down: {"model", ...}
    safety: dict[str, Any] | None = None  # flagged by the content check (content_safety.Verdict.to_dict); never deleted
    cache_saved: Cost | None = None  # answered from the response cache (booked at 0): what it cost when recorded
    attachments: list[Attachment] = field(default_factory=list)  # images sent with a user message
    created_at: str = field(default_factory=utc_iso)

    @property
    def is_empty(self) -> bool:
        return not self.content and not self.tool_calls and not self.refusal

    def to_api(self, images: bool = True) -> dict[str, Any]:
        """The message as the API takes it; ``images`` False leaves its images out (a model that reads none)."""
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}
        if self.role != "assistant":
            return {"role": self.role, "content": user_content(self.content, self.attachments if images else ())}
        calls = [ToolCall(c["id"], c["name"], c["arguments"]) for c in self.tool_calls]
        return assistant_message(self.content or self.refusal, calls, self.reasoning, self.tool_call_extras)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Summary:
    """Older turns replaced in requests by one model-written summary (its call is booked here)."""

    text: str
    covers: list[str]  # ids of every message the summary stands for
    model: str
    usage: Usage | None = None
    cost: Cost | None = None
    created_at: str = field(default_factory=utc_iso)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SideCallKind = Literal["title", "moderation", "transcription"]


@dataclass
class SideCall:
    """A call made for the chat beside its replies (a generated title), booked to it: what it was for, the model
    that answered, its usage and cost, when it was made (its day, for the daily totals); its id keeps the store from
    writing it twice."""

    kind: SideCallKind
    model: str
    usage: Usage
    cost: Cost
    created_at: str = field(default_factory=utc_iso)
    id: str = field(default_factory=_new_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def automatic_title(text: str) -> str:
    """The title a chat gets from its first message: that message's first line, cut to TITLE_LENGTH."""
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:TITLE_LENGTH] + ("…" if len(first_line) > TITLE_LENGTH else "")


class Conversation:
    """A tree of messages (each points at its parent); the active path runs from the root to ``leaf_id``.

    Regenerating a reply or editing a message adds a sibling instead of overwriting, so every earlier
    version stays reachable (‹ 1/2 ›).
    """

    def __init__(
        self,
        id: str | None = None,
        title: str = "",
        created_at: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.id = id or _new_id()
        self.title = title
        self.created_at = created_at or utc_iso()
        self.settings: dict[str, Any] = settings or {}
        self.nodes: dict[str, Message] = {}
        self.leaf_id: str | None = None
        self.last_request: dict[str, Any] | None = None
        self.last_response: ResponseSampled | None = None  # this session only: not saved
        self.summary: Summary | None = None
        self.side_calls: list[SideCall] = []  # calls made for the chat beside its replies, booked to it
        # Wire traces of replies not yet saved, by the id of the reply's first assistant message (the store
        # keeps them in a table of their own and loads them only when asked).
        self.traces: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[CallRecord] = []  # API calls not yet saved, priced: the usage log's rows (store.api_calls)
        # Ids of the side calls the store has (it read or wrote them): a save writes only the others; not saved.
        self.stored_side_calls: set[str] = set()
        self.saved_at: str | None = None  # when the store last wrote it, as it was read (store.load); not saved

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "settings": self.settings,
            "leaf_id": self.leaf_id,
            "last_request": self.last_request,
            "summary": self.summary.to_dict() if self.summary else None,
            "side_calls": [call.to_dict() for call in self.side_calls],
            "messages": [m.to_dict() for m in self.nodes.values()],
        }

    def with_new_ids(self) -> Conversation:
        """A copy under fresh ids (an import that would collide with a stored conversation)."""
        new_ids = {old: _new_id() for old in self.nodes}
        clone = Conversation(None, self.title, self.created_at, dict(self.settings))
        for message in self.nodes.values():
            parent = new_ids.get(message.parent_id) if message.parent_id else None
            copy = replace(message, id=new_ids[message.id], parent_id=parent)
            clone.nodes[copy.id] = copy
        clone.leaf_id = new_ids.get(self.leaf_id) if self.leaf_id else None
        clone.last_request = self.last_request
        if self.summary:
            clone.summary = replace(self.summary, covers=[new_ids[i] for i in self.summary.covers if i in new_ids])
        clone.side_calls = list(self.side_calls)
        return clone

    @property
    def messages(self) -> list[Message]:
        """The active path, oldest first; it ends at a missing parent or one seen before (damaged data never hangs)."""
        path: list[Message] = []
        seen: set[str] = set()
        node_id = self.leaf_id
        while node_id is not None and node_id in self.nodes and node_id not in seen:
            seen.add(node_id)
            node = self.nodes[node_id]
            path.append(node)
            node_id = node.parent_id
        path.reverse()
        return path

    def append(self, message: Message) -> Message:
        message.parent_id = self.leaf_id
        self.nodes[message.id] = message
        self.leaf_id = message.id
        return message

    def add_user(self, text: str, template: str | None = None, images: Sequence[Attachment] = ()) -> Message:
        message = self.append(Message("user", text, template=template, attachments=list(images)))
        if not self.title:
            self.title = automatic_title(text)
        return message

    def children(self, parent_id: str | None) -> list[Message]:
        return [m for m in self.nodes.values() if m.parent_id == parent_id]

    def versions(self, message: Message) -> list[Message]:
        """The alternatives to a message: its siblings of the same role, oldest first."""
        return [m for m in self.children(message.parent_id) if m.role == message.role]

    def select(self, message_id: str) -> None:
        """Make a version current: follow its newest descendants down to a leaf (or to one seen before)."""
        node_id, seen = message_id, set()
        while node_id not in seen:
            seen.add(node_id)
            newer = self.children(node_id)
            if not newer:
                break
            node_id = newer[-1].id
        self.leaf_id = node_id

    def rewind_to(self, message_id: str | None) -> None:
        """Continue from ``message_id`` (None: the start); later messages stay as another branch."""
        self.leaf_id = message_id

    def turns(self) -> list[list[Message]]:
        """The active path grouped per turn: a user message and everything that answered it."""
        groups: list[list[Message]] = []
        for message in self.messages:
            if message.role == "user" or not groups:
                groups.append([])
            groups[-1].append(message)
        return groups

    def totals(self) -> Totals:
        """Everything this conversation cost, every version, any summary and every side call included."""
        entries = [(m.usage, m.cost) for m in self.nodes.values() if m.usage and m.cost]
        if self.summary and self.summary.usage and self.summary.cost:
            entries.append((self.summary.usage, self.summary.cost))
        entries += [(call.usage, call.cost) for call in self.side_calls]
        return Totals.of(entries)

    def log_calls(
        self, records: Iterable[CallRecord], book: PriceBook, side: SideCallKind | None = None
    ) -> list[SideCall]:
        """Calls' usage log rows priced by ``book`` (one that reported no usage cost nothing) and kept until the store
        writes them. With ``side``, each that has usage is also booked to the chat's cost as a side call of that kind,
        under its row's id (so the log has it once); returns those side calls."""
        booked = []
        for record in records:
            cost = book.cost(record.model, record.usage) if record.usage is not None else Cost()
            self.calls.append(replace(record, cost=cost))
            if side is not None and record.usage is not None:
                booked.append(SideCall(side, record.model, record.usage, cost, id=record.id))
        self.side_calls += booked
        return booked

    def apply_summary(self, text: str, covers: Sequence[str], model: str, usage: Usage, cost: Cost) -> None:
        """A new summary replaces the old one; the cost of every summary call stays booked."""
        previous = self.summary
        self.summary = Summary(
            text,
            [*(previous.covers if previous else []), *covers],
            model,
            usage + previous.usage if previous and previous.usage else usage,
            cost + previous.cost if previous and previous.cost else cost,
        )

    def per_reply(self) -> list[Totals]:
        """Usage and cost of each reply on the active branch, oldest first (for the chart)."""
        replies = [[m for m in turn if m.usage and m.cost] for turn in self.turns()]
        return [Totals.of((m.usage, m.cost) for m in reply if m.usage and m.cost) for reply in replies if reply]

    def last_reply_totals(self) -> Totals:
        turns = self.turns()
        last = turns[-1] if turns else []
        return Totals.of((m.usage, m.cost) for m in last if m.usage and m.cost)

    def unfinished(self) -> bool:
        """Whether a reply is still marked streaming (being written, or cut off without being settled)."""
        return any(m.status == STREAMING for m in self.nodes.values())

    def settle_unfinished(self, price_book: PriceBook) -> list[Message]:
        """Replies still marked streaming were stopped (or the app died): keep them, mark them, estimate them."""
        settled = [m for m in self.nodes.values() if m.status == STREAMING]
        for message in settled:
            message.status = STOPPED
            if message.usage is None and message.model and self.last_request:
                completion = message.content + "".join(c["name"] + c["arguments"] for c in message.tool_calls)
                usage = estimate_usage(
                    self.last_request["messages"], completion, message.model, self.last_request.get("tools") or []
                )
                message.usage, message.cost = usage, price_book.cost(message.model, usage)
        return settled


def awaiting_approval(conversation: Conversation) -> Message | None:
    """The assistant message whose tool calls wait for the user, when it ends the active path (only its tool
    results after it); None otherwise."""
    for message in reversed(conversation.messages):
        if message.role != "tool":
            return message if message.role == "assistant" and message.status == AWAITING else None
    return None


def unanswered(messages: Sequence[Message], message: Message) -> list[dict[str, str]]:
    """The tool calls of ``message`` that none of the tool results right after it in ``messages`` answers (a
    provider may give the calls of each round the same ids: an earlier round's result answers none of these)."""
    start = next((i + 1 for i, m in enumerate(messages) if m.id == message.id), len(messages))
    answered = {m.tool_call_id for m in takewhile(lambda m: m.role == "tool", messages[start:])}
    return [call for call in message.tool_calls if call["id"] not in answered]


class TurnRecorder:
    """Applies a turn's events to the conversation as they arrive, so a partial reply is never lost."""

    def __init__(
        self,
        conversation: Conversation,
        model: str,
        template: str,
        price_book: PriceBook,
        clock: Callable[[], float] = time.monotonic,
        resumed: Message | None = None,
    ) -> None:
        """``resumed``: the message a reply paused for approval at; the reply goes on from there."""
        self.conversation = conversation
        self.model = model
        self.template = template
        self.price_book = price_book
        self.clock = clock
        self.sent_at = self.first_at = 0.0
        self.notice: Notice | None = None  # a retry or a wait the reply is held up by, until its text goes on
        self.current = self._new_assistant() if resumed is None else resumed
        self.current.status = STREAMING
        # The reply's traces are kept under its first message (a resumed reply's began before the pause).
        self.reply_id = self.current.id if resumed is None else _first_of_reply(conversation, resumed)

    def _arrived(self) -> Message:
        """The message text goes to, noting when its first token came."""
        message = self._writable()
        if message.first_token_ms is None:
            self.first_at = self.clock()
            message.first_token_ms = round((self.first_at - self.sent_at) * 1000)
        return message

    def _new_assistant(self) -> Message:
        return self.conversation.append(
            Message("assistant", status=STREAMING, model=self.model, template=self.template)
        )

    def _writable(self) -> Message:
        if self.current.tool_calls:
            self.current = self._new_assistant()
        return self.current

    def apply(self, event: StreamEvent) -> None:
        """Every kind of event has its place; a new kind fails the type check until it gets one."""
        match event:
            case RequestSent():
                self._sent(event)
            case TextDelta():
                self.notice = None
                self._arrived().content += event.text
            case ReasoningDelta():
                self._arrived().reasoning += event.text
            case RefusalDelta():
                self._arrived().refusal += event.text
            case ToolCallStarted():
                self.current.tool_calls.append({"id": event.call_id, "name": event.name, "arguments": event.arguments})
                if event.extra:
                    self.current.tool_call_extras[event.call_id] = event.extra
            case ToolResult():
                self.current.status = DONE
                self.conversation.append(
                    Message("tool", event.content, tool_call_id=event.call_id, name=event.name, is_error=event.is_error)
                )
            case ApprovalNeeded():
                self.current.status = AWAITING
            case UsageReported():
                self._usage(event)
            case Finished():
                self._writable().status = DONE
                self.current.finish_reason = event.reason
            case Interrupted():
                self.current.status = INTERRUPTED
                self.current.error = asdict(event.error)
            case FallbackUsed():
                self.current.fallback_from = event.replaces
                self.current.model = event.model
            case ProviderSkipped():
                self.current.skipped.append({"model": event.model, "endpoint": event.endpoint, "since": event.since})
                self.current.model = event.instead
            case ContextTrimmed():
                self.current.trimmed += event.dropped_messages
            case ResponseSampled():
                self.conversation.last_response = event
            case Retrying() | Waiting():  # passing: shown until the text goes on, not kept with the reply
                self.notice = event
            case TokenLogprobs():
                self._arrived().logprobs.extend(
                    {"token": t.token, "logprob": t.logprob, "top": [list(pair) for pair in t.top]}
                    for t in event.tokens
                )
            case AlternativeDelta():
                message = self._arrived()
                message.alternatives.extend([""] * (event.index - len(message.alternatives)))
                message.alternatives[event.index - 1] += event.text
            case RoundTraced():
                self.conversation.traces.setdefault(self.reply_id, []).append(event.trace.to_dict())
            case CallLogged():
                self.conversation.log_calls([event.record], self.price_book)
            case AnsweredFromCache():  # no request went out: the first token's time counts from here
                self.sent_at = self.clock()
                self._writable().cache_saved = event.saved
                self.conversation.calls.append(_cache_hit(self.current.model or self.model))
            case _:
                assert_never(event)

    def _sent(self, event: RequestSent) -> None:
        self.conversation.last_request = event.body
        target = self._writable()
        target.estimated_prompt_tokens = count_messages(event.body["messages"], event.body["model"]) + count_tools(
            event.body.get("tools") or [], event.body["model"]
        )
        self.sent_at = self.clock()

    def _usage(self, event: UsageReported) -> None:
        if self.current.first_token_ms is not None:
            self.current.stream_ms = round((self.clock() - self.first_at) * 1000)
        self.current.usage = event.usage
        self.current.model = event.model
        self.current.cost = self.price_book.cost(event.model, event.usage)


def _cache_hit(model: str) -> CallRecord:
    """The usage log's row of an answer from the response cache: no request went out, nothing was spent."""
    return CallRecord(utc_iso(), "cache_hit", "", model, Usage(), None, 0, "ok", Cost())


def _first_of_reply(conversation: Conversation, message: Message) -> str:
    """The id of the first assistant message of the turn ``message`` is in."""
    turn = next(turn for turn in conversation.turns() if any(m.id == message.id for m in turn))
    return next(m.id for m in turn if m.role == "assistant")


def history_messages(messages: Sequence[Message], images: bool = True) -> list[dict[str, Any]]:
    """API messages for the history: empty placeholders left out, unanswered tool calls closed (images only
    where ``images``)."""
    result: list[dict[str, Any]] = []
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    open_calls: set[str] = set()
    for message in messages:
        if message.role == "assistant" and message.is_empty:
            continue
        if message.role == "tool":
            if message.tool_call_id not in open_calls:
                continue
            open_calls.discard(message.tool_call_id)
        result.append(message.to_api(images))
        if message.role == "assistant":
            for call in message.tool_calls:
                open_calls.add(call["id"])
                if call["id"] not in answered:
                    result.append({"role": "tool", "tool_call_id": call["id"], "content": INTERRUPTED_TOOL_RESULT})
    return result


TRIM_NOTE = {
    "zh": "（注意：为适应上下文窗口，本对话中较早的 {count} 条消息未发送。）",
    "en": "(Note: {count} earlier messages of this conversation were left out to fit the context window.)",
}


SUMMARY_NOTE = {
    "zh": "以下是本对话较早部分的摘要：\n{summary}",
    "en": "Summary of the earlier part of this conversation:\n{summary}",
}
KEEP_RECENT_TURNS = 2  # never summarised: the newest turn and the one before it


@dataclass(frozen=True)
class RequestSpec:
    """What shapes a request besides the conversation: template, language, tools, model, room for output."""

    template_key: str
    language: str
    tools: Sequence[dict[str, Any]]
    model: str
    max_tokens: int
    custom_system: str = ""  # the user's own system prompt for this chat, replacing the template's
    images: bool = True  # whether user messages send their images (False: the model reads none)


@dataclass(frozen=True)
class TurnRequest:
    messages: list[dict[str, Any]]
    dropped_messages: int
    prompt_tokens: int
    budget: int
    left_out_ids: frozenset[str] = frozenset()
    summarized_ids: frozenset[str] = frozenset()


def build_request(conversation: Conversation, spec: RequestSpec, budget: int | None = None) -> TurnRequest:
    """System prompt and template first, any summary of older turns, then as many whole recent turns as
    fit, the newest message wrapped by its template.

    ``budget`` (prompt tokens for messages) defaults to what the model's context window leaves.
    """
    template_key, language, tools, model = spec.template_key, spec.language, spec.tools, spec.model
    prefix = prefix_messages(template_key, language, [t["function"]["name"] for t in tools], spec.custom_system)
    if budget is None:
        window = model_catalog.lookup(model).context_window
        budget = max(window - spec.max_tokens - count_tools(tools, model), 0)
    sendable = [(turn, api) for turn in conversation.turns() if (api := history_messages(turn, spec.images))]
    covered = set(conversation.summary.covers) if conversation.summary else set()
    skip = 0
    while skip < len(sendable) - 1 and all(m.id in covered for m in sendable[skip][0]):
        skip += 1
    summarized = [turn for turn, _ in sendable[:skip]]
    if summarized and conversation.summary:
        note = SUMMARY_NOTE[language].format(summary=conversation.summary.text)
        prefix = [*prefix, {"role": "system", "content": note}]
    groups = [turn for turn, _ in sendable[skip:]]
    turns = [api for _, api in sendable[skip:]]
    if turns and turns[-1][0]["role"] == "user":
        newest = dict(turns[-1][0], content=_wrapped(template_key, language, turns[-1][0]["content"]))
        turns[-1] = [newest, *turns[-1][1:]]
    start = _first_kept(turns, prefix, language, model, budget)
    dropped = sum(len(turn) for turn in turns[:start])
    messages = _opening(prefix, dropped, language) + [m for turn in turns[start:] for m in turn]
    return TurnRequest(
        messages,
        dropped,
        count_messages(messages, model) + count_tools(tools, model),
        budget,
        frozenset(m.id for turn in groups[:start] for m in turn),
        frozenset(m.id for turn in summarized for m in turn),
    )


def _first_kept(
    turns: Sequence[Sequence[dict[str, Any]]], prefix: list[dict[str, Any]], language: str, model: str, budget: int
) -> int:
    """The oldest turn sent: the first from which on the opening and the turns fit the budget (the newest turn is
    always sent). Turns are counted newest first and only while they fit, so a long chat's older turns are not
    counted on every script run: a start before them cannot fit (every count is positive)."""
    newest = max(len(turns) - 1, 0)
    fitted = [0] * (len(turns) + 1)  # fitted[i]: the tokens of turns[i:] (from ``counted`` on)
    counted = len(turns)
    while counted > 0 and fitted[counted] <= budget:
        counted -= 1
        fitted[counted] = fitted[counted + 1] + count_messages(turns[counted], model) - REPLY_PRIMING
    start = min(counted if fitted[counted] <= budget else counted + 1, newest)
    dropped = sum(len(turn) for turn in turns[:start])
    while start < newest:
        if count_messages(_opening(prefix, dropped, language), model) + fitted[start] <= budget:
            break
        dropped += len(turns[start])
        start += 1
    return start


def _wrapped(template_key: str, language: str, content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """The newest message's text in its template's wording; its image parts stay as they are."""
    if isinstance(content, str):
        return wrap_user(template_key, language, content)
    return [
        part | {"text": wrap_user(template_key, language, part["text"])} if part["type"] == "text" else part
        for part in content
    ]


def _opening(prefix: list[dict[str, Any]], dropped: int, language: str) -> list[dict[str, Any]]:
    if not dropped:
        return prefix
    return [*prefix, {"role": "system", "content": TRIM_NOTE[language].format(count=dropped)}]


def turns_to_summarize(conversation: Conversation, request: TurnRequest, model: str, percent: int) -> list[Message]:
    """When the request fills more than ``percent`` of the window: the older whole turns not yet covered.

    Whole turns only, so an assistant tool-call message and its results are summarised together.
    """
    if percent <= 0 or request.prompt_tokens <= model_catalog.lookup(model).context_window * percent / 100:
        return []
    covered = set(conversation.summary.covers) if conversation.summary else set()
    older = conversation.turns()[:-KEEP_RECENT_TURNS]
    return [m for turn in older for m in turn if m.id not in covered]


def transcript(messages: Sequence[Message]) -> str:
    """Plain text of messages for the summariser: roles, text, images by name, tool calls and results."""
    lines = []
    for message in messages:
        if message.role == "tool":
            lines.append(f"tool {message.name} result: {message.content}")
            continue
        if message.content:
            lines.append(f"{message.role}: {message.content}")
        if message.attachments:
            lines.append(f"{message.role} attached images: {', '.join(image.name for image in message.attachments)}")
        for call in message.tool_calls:
            lines.append(f"{message.role} called {call['name']}({call['arguments']})")
    return "\n".join(lines)


def shrinker(
    conversation: Conversation, spec: RequestSpec, sent: TurnRequest
) -> Callable[[], tuple[list[dict[str, Any]], int] | None]:
    """After a context-length error: the same request with half the prompt budget, once."""

    def shrink() -> tuple[list[dict[str, Any]], int] | None:
        smaller = build_request(conversation, spec, count_messages(sent.messages, spec.model) // 2)
        extra = smaller.dropped_messages - sent.dropped_messages
        return (smaller.messages, extra) if extra > 0 else None

    return shrink
