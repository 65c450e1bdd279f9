"""The typed records of a conversation: what an export holds and what the store reads back.

Both the import (exporters.py) and the store (store.py) read through these pydantic models, so a
field added to Message needs its type here once (a test checks every field is named). ``readable``
turns a stored conversation back into objects as far as it reads: damaged parts are left out, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from attachments import MAX_NAME_CHARS, Attachment, Detail, Mime, verify
from config import bounds
from conversation_manager import Conversation, Message, MessageStatus, SideCall, SideCallKind, Summary, ToolDecision
from errors import ERROR_KINDS
from token_tracker import Cost, Usage

MAX_ID_CHARS = 200
MAX_COUNT = 10**9  # tokens, milliseconds, dollars: bounded so SQLite's integer sums cannot overflow
LATEST_TIMESTAMP = 253_402_200_000  # a day before the end of year 9999, the last a datetime holds


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None  # pydantic names the field; the value stays out
    return value


def _error_kind(kind: str) -> str:
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind[:40]!r}")
    return kind


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Amount = Annotated[float, Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)]
IsoTime = Annotated[str, AfterValidator(_iso_time)]
Seconds = Annotated[float, Field(ge=0, le=LATEST_TIMESTAMP, allow_inf_nan=False)]


class Record(BaseModel):
    """Strict types (no "1" for 1, no 1 for True); unknown keys, from a newer version, are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class UsageRecord(Record):
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    cached_tokens: Count = 0
    reasoning_tokens: Count = 0
    estimated: bool = False


class CostRecord(Record):
    usd: Amount = 0.0
    cny: Amount = 0.0
    priced: bool = True
    local: bool = False


class ToolCallRecord(Record):
    id: str
    name: str
    arguments: str  # as they ran: the user may have edited the model's before approving
    decision: ToolDecision | None = None  # the user's, on a call that waited for approval
    proposed: str | None = None  # the model's arguments, when the user edited them


def _pair(value: Any) -> Any:
    """JSON holds a pair as an array, and strict types read a tuple only from a tuple."""
    return tuple(value) if isinstance(value, list) else value


Logprob = Annotated[float, Field(allow_inf_nan=False)]  # stream_assembly keeps finite ones only: JSON holds no other
# A top alternative, [token, logprob]: checked as a pair, given back as the list a recorded reply holds.
TopLogprob = Annotated[tuple[str, Logprob], BeforeValidator(_pair), PlainSerializer(list)]


class LogprobRecord(Record):
    token: str
    logprob: Logprob
    top: list[TopLogprob] = []


class ErrorRecord(Record):
    kind: Annotated[str, AfterValidator(_error_kind)]
    detail: str = ""
    status: Annotated[int, Field(ge=0, le=999)] | None = None
    code: str | None = None
    retry_after: Amount | None = None
    param: str | None = None


class AttachmentRecord(Record):
    """An image on a user message, every field of attachments.Attachment: its data must be the image it names."""

    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""
    mime: Mime
    width: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    height: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    data: str  # base64
    detail: Detail = "auto"

    @model_validator(mode="after")
    def _is_what_it_says(self) -> AttachmentRecord:
        verify(self.mime, self.width, self.height, self.data)
        return self


class MessageRecord(Record):
    """One message as exported and stored: every field of conversation_manager.Message, typed."""

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    id: Id
    reasoning: str = ""
    refusal: str = ""
    tool_calls: list[ToolCallRecord] = []
    tool_call_extras: dict[str, dict[str, Any]] = {}  # opaque, by tool call id
    tool_call_id: str | None = None
    parent_id: Id | None = None
    name: str | None = None
    is_error: bool = False
    status: MessageStatus = "done"
    finish_reason: str | None = None
    error: ErrorRecord | None = None
    model: str | None = None
    template: str | None = None
    usage: UsageRecord | None = None
    cost: CostRecord | None = None
    fallback_from: str | None = None
    estimated_prompt_tokens: Count | None = None
    first_token_ms: Count | None = None
    stream_ms: Count | None = None
    trimmed: Count = 0
    logprobs: list[LogprobRecord] = []
    alternatives: list[str] = []
    validation: dict[str, Any] | None = None
    routed: dict[str, Any] | None = None
    skipped: list[dict[str, str]] = []
    safety: dict[str, Any] | None = None
    cache_saved: CostRecord | None = None
    attachments: list[AttachmentRecord] = []
    created_at: IsoTime = ""  # unset fields take Message's defaults: a default here is never used


class SummaryRecord(Record):
    text: str
    covers: list[Id]
    model: str = ""
    usage: UsageRecord | None = None
    cost: CostRecord | None = None
    created_at: IsoTime = ""


class SideCallRecord(Record):
    """A call booked to the chat beside its replies (conversation_manager.SideCall). An export from before side calls
    had ids has none: it gets a new one."""

    kind: SideCallKind
    model: str
    usage: UsageRecord
    cost: CostRecord
    created_at: IsoTime = ""
    id: Id | None = None


class SettingsRecord(Record):
    """What a chat restores into the sidebar's widgets, typed and within the widgets' ranges."""

    model_config = ConfigDict(strict=True, extra="allow")
    provider: str = ""
    model: str = ""
    template: str = ""
    tools: list[str] = []
    temperature: Annotated[
        float, Field(ge=bounds("TEMPERATURE")[0], le=bounds("TEMPERATURE")[1], allow_inf_nan=False)
    ] = 0.0
    max_tokens: Annotated[int, Field(ge=bounds("MAX_TOKENS")[0], le=bounds("MAX_TOKENS")[1])] = 1
    system_prompt: str = ""


class ConversationRecord(Record):
    id: Id | None = None
    title: str = ""
    created_at: IsoTime | None = None
    settings: SettingsRecord = SettingsRecord()
    leaf_id: Id | None = None
    last_request: dict[str, Any] | None = None
    summary: SummaryRecord | None = None
    side_calls: list[SideCallRecord] = []
    messages: list[MessageRecord] = []


def message(record: MessageRecord) -> Message:
    """The Message a record describes; fields the record left unset take Message's defaults."""
    values = record.model_dump(exclude={"usage", "cost", "cache_saved", "attachments"}, exclude_unset=True)
    usage = Usage(**record.usage.model_dump()) if record.usage else None
    cost = Cost(**record.cost.model_dump()) if record.cost else None
    saved = Cost(**record.cache_saved.model_dump()) if record.cache_saved else None
    images = [Attachment(**image.model_dump()) for image in record.attachments]
    return Message(**values, usage=usage, cost=cost, cache_saved=saved, attachments=images)


def summary(record: SummaryRecord) -> Summary:
    values = record.model_dump(exclude={"usage", "cost"}, exclude_unset=True)
    usage = Usage(**record.usage.model_dump()) if record.usage else None
    cost = Cost(**record.cost.model_dump()) if record.cost else None
    return Summary(**values, usage=usage, cost=cost)


def side_call(record: SideCallRecord) -> SideCall:
    """The SideCall a record describes; fields it left unset (or an id of None) take SideCall's defaults."""
    values = record.model_dump(exclude={"usage", "cost"}, exclude_unset=True, exclude_none=True)
    return SideCall(**values, usage=Usage(**record.usage.model_dump()), cost=Cost(**record.cost.model_dump()))


def settle_leaf(conversation: Conversation, leaf: object) -> None:
    """The current message: ``leaf`` when it is one of the chat's, else the latest message (as loading does)."""
    known = leaf if isinstance(leaf, str) and leaf in conversation.nodes else None
    conversation.leaf_id = known or next(reversed(conversation.nodes), None)


def readable(record: Mapping[str, Any]) -> Conversation:
    """A stored conversation (the export's shape) as far as it reads, ids kept: a damaged message or field
    is left out, and a parent that is missing or leads round in a loop is cut (that message becomes a root),
    so opening a chat never hangs or raises. A damaged image is left out, its message kept."""
    messages = [m for item in record.get("messages") or [] if (m := _readable_message(item))]
    _cut_to_a_tree(messages)
    settings = _lenient(SettingsRecord, record.get("settings"))
    conversation = Conversation(
        record.get("id"),
        record.get("title") or "",
        record.get("created_at"),
        settings.model_dump(exclude_unset=True) if settings else {},
    )
    conversation.nodes = {item.id: item for item in messages}
    settle_leaf(conversation, record.get("leaf_id"))
    last_request = record.get("last_request")
    conversation.last_request = last_request if isinstance(last_request, dict) and last_request else None
    stored_summary = _lenient(SummaryRecord, record.get("summary"))
    conversation.summary = summary(stored_summary) if stored_summary else None
    stored_calls = record.get("side_calls")
    calls = [_lenient(SideCallRecord, item) for item in stored_calls] if isinstance(stored_calls, list) else []
    conversation.side_calls = [side_call(call) for call in calls if call]
    return conversation


def _readable_message(item: Any) -> Message | None:
    """A stored message as far as it reads: None when it is damaged; of its images, those that read."""
    if not isinstance(item, dict):
        return None
    record = _lenient(MessageRecord, {key: value for key, value in item.items() if key != "attachments"})
    if record is None:
        return None
    stored = item.get("attachments")
    values = stored if isinstance(stored, list) else []
    images = [image for value in values if (image := _lenient(AttachmentRecord, value))]
    return message(record.model_copy(update={"attachments": images}))


RecordT = TypeVar("RecordT", bound=Record)


def _lenient(model: type[RecordT], value: Any) -> RecordT | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _cut_to_a_tree(messages: list[Message]) -> None:
    """Drop each parent link that points nowhere or back into its own chain, so every walk up ends."""
    by_id = {item.id: item for item in messages}
    settled: set[str] = set()  # messages whose way up is known to end at a root
    for start in messages:
        chain: set[str] = set()
        node: Message | None = start
        while node is not None and node.id not in settled:
            chain.add(node.id)
            parent = by_id.get(node.parent_id) if node.parent_id is not None else None
            if node.parent_id is not None and (parent is None or parent.id in chain):
                node.parent_id, parent = None, None
            node = parent
        settled |= chain
