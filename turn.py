"""A turn, from what was asked to the recorded reply, without Streamlit.

``prepare`` turns (conversation, settings, choices) into one ``Turn``: its request, targets, parameters
(the output cap applied once, in ``request_spec``), tools, rate limiter and runner. ``Turn.summarize`` is the
optional summary step; ``Turn.run`` streams the reply, records every event in the conversation and yields it
on, so the UI only draws. ``decide`` is the send decision (typed, pending, held, confirmed) as one pure
function; ``spending`` and ``reply_figures`` are the arithmetic the UI shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal, assert_never

import model_catalog
import reply_format
from attachments import Attachment, refusal
from budget import OVER, BudgetCheck, check_budgets
from chat_params import Extras, extras_from_dict
from config import Settings
from conversation_manager import (
    DONE,
    Conversation,
    Message,
    RequestSpec,
    ToolDecision,
    TurnRecorder,
    TurnRequest,
    awaiting_approval,
    build_request,
    shrinker,
    transcript,
    turns_to_summarize,
    unanswered,
)
from errors import ErrorInfo
from events import CallRecord, Finished, Notice, RoundTraced, StreamEvent
from function_tools import ToolCall, ToolExecutor, ToolRegistry
from i18n import t
from llm_client import (
    Approval,
    ChatParams,
    Health,
    ReplyCache,
    ReplyLimits,
    Target,
    TurnRunner,
    summarize,
    targets_for,
)
from model_router import AUTO, Route, RouteRules, route
from prompt_templates import summary_messages
from rate_limiter import RateLimiter
from retry_policy import RetryPolicy
from token_tracker import PriceBook, Totals
from wire_trace import RoundTrace, TraceBudget, TraceTape

SAVE_INTERVAL = 1.0  # seconds; a crash mid-reply loses at most this much
# A reply marked streaming in a chat saved this recently is still being written by another app process or tab (it
# saves every SAVE_INTERVAL while events come; the margin covers a slow first token, a retry's wait, a tool call).
STILL_WRITING_SECONDS = 10 * SAVE_INTERVAL

# Writes these messages of the chat (the chat's own fields always); False when the write failed.
Save = Callable[[Sequence[Message]], bool]


@dataclass(frozen=True)
class TurnChoices:
    """What the user chose besides the settings: UI language, template, enabled tools, own system prompt, and the
    optional request parameters they set."""

    lang: str
    template: str
    tools: tuple[str, ...]
    custom_system: str = ""
    extras: Extras = Extras()
    collections: tuple[str, ...] | None = None  # what search_knowledge_base may see; None: every collection
    approve_all: bool = False  # "ask before running" every tool
    approve_tools: tuple[str, ...] = ()  # ... or these
    images: tuple[Attachment, ...] = ()  # attached to the new message
    use_cache: bool = False  # "use a cached answer if there is one", also above temperature 0 (RESPONSE_CACHE=on)
    task: str = ""  # the task type picked for the "auto" model (model_router.TASKS); "": its rules decide
    anew: bool = False  # asked for a new answer (continue): never one from the response cache

    def asks(self, call: ToolCall) -> bool:
        """Whether this call waits for the user's approval before it runs."""
        return self.approve_all or call.name in self.approve_tools


@dataclass(frozen=True)
class ChatSettings:
    """What a chat keeps of its controls, to restore them when it is opened again (never a key or a URL).

    Stored as the chat's ``settings`` JSON under these names (records.SettingsRecord checks them on
    import); a chat saved before a field existed leaves it None, and the control keeps its own value."""

    provider: str | None = None
    model: str | None = None
    template: str | None = None
    tools: tuple[str, ...] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str = ""
    extras: Extras | None = None  # saved as the parameters set (Extras.to_dict), read back leniently
    collections: tuple[str, ...] | None = None  # the knowledge collections this chat searches
    approve_all: bool | None = None  # "ask before running": every tool, or (approve_tools) these
    approve_tools: tuple[str, ...] | None = None

    @classmethod
    def of(cls, settings: Settings, choices: TurnChoices) -> ChatSettings:
        return cls(
            settings.provider,
            settings.model,
            choices.template,
            choices.tools,
            settings.temperature,
            settings.max_tokens,
            choices.custom_system,
            choices.extras,
            choices.collections,
            choices.approve_all,
            choices.approve_tools,
        )

    def to_dict(self) -> dict[str, Any]:
        saved = {name: value for name, value in asdict(self).items() if value is not None}
        saved |= {name: list(saved[name]) for name in _NAME_LISTS if name in saved}
        return saved | ({"extras": self.extras.to_dict()} if self.extras is not None else {})

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ChatSettings:
        known = {f.name for f in fields(cls)}
        values = {name: value for name, value in saved.items() if name in known and value is not None}
        if "tools" in values:
            values["tools"] = tuple(values["tools"])
        # Read leniently, as extras are (an import does not check them): a value of the wrong type is left out,
        # and the control keeps its own.
        values |= {name: _names(values[name]) for name in ("collections", "approve_tools") if name in values}
        if not isinstance(values.get("approve_all", False), bool):
            values["approve_all"] = None
        if "extras" in values:
            values["extras"] = extras_from_dict(values["extras"]) if isinstance(values["extras"], dict) else None
        return cls(**values)


_NAME_LISTS = ("tools", "collections", "approve_tools")  # tuples here, lists in the saved JSON


def _names(saved: Any) -> tuple[str, ...] | None:
    """A saved list of names: its strings; None when it is no list."""
    return tuple(name for name in saved if isinstance(name, str)) if isinstance(saved, list | tuple) else None


def request_spec(settings: Settings, choices: TurnChoices, schemas: Sequence[dict[str, Any]]) -> RequestSpec:
    """What shapes the next request. Its output room is max_tokens as the model can take it (the request asks
    for exactly that), so the history's budget leaves that room and no more."""
    room = model_catalog.lookup(settings.model).output_room(settings.max_tokens)
    images = refusal(settings.model, settings.is_local) is None  # a model known to read none gets the text only
    return RequestSpec(
        choices.template, choices.lang, list(schemas), settings.model, room, choices.custom_system, images=images
    )


@dataclass
class Turn:
    """One turn, prepared: run it once. The recorder is made when it starts (after any summary), because
    it opens the reply in the conversation."""

    conversation: Conversation
    settings: Settings
    choices: TurnChoices
    asked: str | None  # the user's new message; None: answer again from the current leaf
    spec: RequestSpec
    request: TurnRequest
    targets: list[Target]
    params: ChatParams
    executor: ToolExecutor
    runner: TurnRunner
    book: PriceBook
    save: Save
    older: list[Message]  # whole older turns the summary step would fold in; empty: no summary
    saving: bool = True  # after a failed save, the rest waits for the final one (each try may wait on a lock)
    approvals: tuple[Approval, ...] = ()  # a reply paused for approval goes on: these calls run or are rejected
    route: Route | None = None  # the "auto" model's choice for this turn
    recorder: TurnRecorder | None = field(default=None, init=False)
    opened: str | None = field(default=None, init=False)  # the id of the reply's first message
    summary_traces: list[RoundTrace] = field(default_factory=list, init=False)  # go with the reply when it starts

    @property
    def reply(self) -> list[Message]:
        """The messages of the reply so far: assistant messages and tool results (a resumed reply's from the
        message that waited for approval). Found from the newest back, so a long chat costs nothing per update."""
        return _since(self.conversation, self.opened) if self.opened is not None else []

    @property
    def notice(self) -> Notice | None:
        return self.recorder.notice if self.recorder else None

    @property
    def ended_cleanly(self) -> bool:
        """The reply ended as replies do: each of its assistant messages done and without an error (none waits for
        the user's approval, none was cut off or failed), so the page needs to ask nothing more."""
        answers = [message for message in self.reply if message.role == "assistant"]
        return bool(answers) and all(message.status == DONE and message.error is None for message in answers)

    def _save(self, messages: Sequence[Message]) -> None:
        if self.saving:
            self.saving = self.save(messages)

    def summarize(self) -> int:
        """One extra call folds the older turns into the conversation's summary; its cost is booked to the chat.
        Returns how many messages it covers; raises SummaryFailed (the turn goes on with plain trimming)."""
        conversation, older = self.conversation, self.older
        previous = conversation.summary.text if conversation.summary else None
        kb = self.runner.trace_kb
        tape = TraceTape(0, "summary", TraceBudget(kb * 1024)) if kb is not None else None
        log: list[CallRecord] = []
        try:
            text, reported = summarize(
                self.targets[0], summary_messages(self.choices.lang, previous, transcript(older)), tape=tape, log=log
            )
            cost = self.book.cost(reported.model, reported.usage)
            conversation.apply_summary(text, [m.id for m in older], reported.model, reported.usage, cost)
        finally:
            if tape is not None:
                self.summary_traces.append(tape.finish())
            conversation.log_calls(log, self.book)
            self._save([])
            self.request = build_request(conversation, self.spec)
        return len(older)

    def shrink(self) -> tuple[list[dict[str, Any]], int] | None:
        """After a context-length error: the same request with half the prompt budget, once."""
        return shrinker(self.conversation, self.spec, self.request)()

    def _check_format(self, message: Message) -> None:
        """The finished answer checked against the JSON format it was asked for, kept with it."""
        extras = self.params.extras
        message.validation = reply_format.check(message.content, extras.response_format, extras.json_schema)

    def events(self) -> Generator[StreamEvent, None, None]:
        """The runner's events for this turn, not started yet (compare drives each in a thread of its own)."""
        return self.runner.run(
            self.request.messages,
            self.params,
            self.executor,
            self.settings.max_tool_rounds,
            self.shrink,
            self.choices.asks,
            self.approvals,
        )

    def run(
        self, clock: Callable[[], float] = time.monotonic, source: Generator[StreamEvent, None, None] | None = None
    ) -> Generator[StreamEvent, None, None]:
        """Streams the reply, records each event, yields it on. Close it (the user's Stop) and the reply is
        still settled and saved whole. ``source``: the runner's events, when something else drives them; then
        ``clock`` tells when each came (the first token's time is the provider's, not the one who draws it)."""
        model, template = self.settings.model, self.choices.template
        resumed = awaiting_approval(self.conversation) if self.approvals else None
        self.recorder = TurnRecorder(self.conversation, model, template, self.book, clock, resumed)
        self.opened = unsaved = self.recorder.current.id
        for trace in self.summary_traces:
            self.recorder.apply(RoundTraced(trace))
        if self.route is not None:
            mark_routed(self.reply, self.route, self.book)
        events = self.events() if source is None else source
        last_save = 0.0
        try:
            for event in events:
                self.recorder.apply(event)
                if isinstance(event, Finished):
                    self._check_format(self.recorder.current)
                yield event
                now = clock()
                if now - last_save >= SAVE_INTERVAL:
                    # Only the recorder's messages change, and it moves on from one only to a newer one: what came
                    # before the one it wrote to at the last save is saved as it stays.
                    self._save(_since(self.conversation, unsaved))
                    unsaved, last_save = self.recorder.current.id, now
        finally:
            events.close()
            if (stopped := self.runner.unfinished_trace()) is not None:
                self.recorder.apply(RoundTraced(stopped))
            if (cut := self.runner.unfinished_call()) is not None:
                self.recorder.apply(cut)
            self.conversation.settle_unfinished(self.book)
            if self.route is not None:
                mark_routed(self.reply, self.route, self.book)
            self.save(self.reply)


def routed(conversation: Conversation, settings: Settings, choices: TurnChoices, asked: str | None) -> Route | None:
    """The "auto" model's choice for this turn's message (the last one asked, when answering again); None when the
    settings name a model."""
    if settings.model != AUTO:
        return None
    users = (message.content for message in reversed(conversation.messages) if message.role == "user")
    text = asked if asked is not None else next(users, "")
    return route(text, RouteRules.of(settings), choices.task, choices.tools, choices.lang)


def mark_routed(reply: Sequence[Message], chosen: Route, book: PriceBook) -> None:
    """The reply's first assistant message says which model "auto" chose, why, and (once usage came) what the strong
    model would have cost for the same usage."""
    answers = [message for message in reply if message.role == "assistant"]
    if not answers:
        return
    priced = [(message.usage, message.cost) for message in answers if message.usage and message.cost]
    cost = Totals.of(priced).cost if priced else None
    strong = Totals.of((usage, book.cost(chosen.strong, usage)) for usage, _ in priced).cost if priced else None
    answers[0].routed = {
        "model": chosen.model,
        "rule": chosen.rule,
        "why": chosen.why,
        "strong": chosen.strong,
        "cost": asdict(cost) if cost is not None else None,
        "strong_cost": asdict(strong) if strong is not None else None,
    }


def written_elsewhere(conversation: Conversation, now: datetime | None = None) -> bool:
    """Whether a chat read from the store has a reply that another app process (or tab) is still streaming: one
    marked streaming in a chat saved within STILL_WRITING_SECONDS. Such a reply is shown as it is, never settled
    here (the writer's next save would overwrite that); an older one was cut off (the app died) and is settled."""
    if conversation.saved_at is None or not conversation.unfinished():
        return False
    try:
        saved = datetime.fromisoformat(conversation.saved_at)
    except ValueError:
        return False
    return saved.tzinfo is not None and ((now or datetime.now(UTC)) - saved).total_seconds() < STILL_WRITING_SECONDS


def _since(conversation: Conversation, first: str) -> list[Message]:
    """The active path's messages from ``first`` to the newest (the whole path, where ``first`` is not on it; a
    damaged path ends where it would loop, as ``Conversation.messages`` does)."""
    found: list[Message] = []
    node = conversation.nodes.get(conversation.leaf_id or "")
    while node is not None and len(found) <= len(conversation.nodes):
        found.append(node)
        if node.id == first:
            break
        node = conversation.nodes.get(node.parent_id or "")
    found.reverse()
    return found


def prepare(
    conversation: Conversation,
    settings: Settings,
    choices: TurnChoices,
    asked: str | None,
    *,
    registry: ToolRegistry,
    book: PriceBook,
    save: Save,
    limiter: RateLimiter | None = None,
    explain: Callable[[ErrorInfo], ErrorInfo] | None = None,
    health: Health | None = None,
    cache: ReplyCache | None = None,
) -> Turn:
    """Adds the user's message (when there is one) and saves it, then builds everything the turn sends with.
    Without one, where the reply at the leaf waits for approval and the user has decided (``carry_out``), the
    turn carries the decisions out and the reply goes on.
    ``explain`` turns a failure of the local server into a better error (it crashed, with its log); ``health``: the
    providers' health record (provider_health), whose down providers the fallback chain skips. With the "auto"
    model, the model it routes this message to answers (model_router). ``cache``: the response cache, asked at
    temperature 0 or when the user wants a cached answer (``choices.use_cache``), never when answering again."""
    conversation.settings = ChatSettings.of(settings, choices).to_dict()
    chosen = routed(conversation, settings, choices, asked)
    if chosen is not None:
        settings = settings.with_overrides(model=chosen.model)
    saving = True
    if asked is not None:
        conversation.add_user(asked, template=choices.template, images=choices.images)
        saving = save(conversation.messages[-1:])
    scoped = registry.scoped(choices.collections)
    executor = ToolExecutor(scoped, timeout=settings.tool_timeout, enabled=list(choices.tools))
    spec = request_spec(settings, choices, executor.schemas())
    request = build_request(conversation, spec)
    approvals = decided(conversation) if asked is None else ()
    # A regenerate (nothing asked) or a continue wants a new answer, never the cached one
    answering_again = choices.anew or (asked is None and not approvals)
    if approvals:  # this turn answers those calls: not the stand-ins the history closes unanswered calls with
        answering = {approval.call.call_id for approval in approvals}
        kept = [m for m in request.messages if not (m["role"] == "tool" and m.get("tool_call_id") in answering)]
        request = replace(request, messages=kept)
    targets = targets_for(settings)
    if settings.is_local and explain is not None:
        targets[0] = replace(targets[0], explain=explain)
    limits = ReplyLimits(settings.max_reply_chars, settings.max_reply_seconds)
    trace_kb = settings.trace_max_kb if settings.trace == "on" else None
    runner = TurnRunner(
        targets,
        RetryPolicy(max_retries=settings.max_retries),
        limiter,
        limits=limits,
        trace_kb=trace_kb,
        health=health,
        cache=cache if (settings.temperature == 0 or choices.use_cache) and not answering_again else None,
    )
    return Turn(
        conversation,
        settings,
        choices,
        asked,
        spec,
        request,
        targets,
        ChatParams(settings.model, settings.temperature, spec.max_tokens, choices.extras),
        executor,
        runner,
        book,
        save,
        [] if approvals else turns_to_summarize(conversation, request, settings.model, settings.summarize_at),
        saving,
        approvals,
        chosen,
    )


def decided(conversation: Conversation) -> tuple[Approval, ...]:
    """The user's decisions on the calls the reply at the leaf waits with (``carry_out`` records them on the
    calls), as the runner carries them out; empty where no reply waits or nothing is decided."""
    message = awaiting_approval(conversation)
    calls = [c for c in unanswered(conversation.messages, message) if c.get("decision")] if message else []
    return tuple(Approval(ToolCall(c["id"], c["name"], c["arguments"]), c["decision"] != "rejected") for c in calls)


# --- what was asked, and whether to send it ---------------------------------------------------------------

ActionKind = Literal["prompt", "regenerate", "edit", "continue", "approve"]


@dataclass(frozen=True)
class Action:
    """Something the user asked for: a prompt (``value`` its text), or an action on a message (its id). To
    approve: the message whose tool calls wait, and the user's word on each of them."""

    kind: ActionKind
    value: str | None = None
    approvals: tuple[Approval, ...] = ()
    images: tuple[Attachment, ...] = ()  # sent with a prompt
    template: str | None = None  # a prompt's template for this send only (a welcome example's); None: the sidebar's


@dataclass(frozen=True)
class SendState:
    """What waits between reruns: an action a button asked for, one held over budget, a confirmation."""

    pending: Action | None = None  # asked by a button's callback, carried out by the next run
    held: Action | None = None  # over budget: waits for "send anyway" or "cancel"
    confirmed: bool = False  # "send anyway" was pressed: the pending action goes out over budget


@dataclass(frozen=True)
class Go:
    action: Action


@dataclass(frozen=True)
class Hold:
    """Over budget: show what was asked and ask before sending it."""

    action: Action
    check: BudgetCheck


Decision = Go | Hold | None  # None: nothing to do


def decide(
    typed: str | None, state: SendState, over: Sequence[BudgetCheck], images: Sequence[Attachment] = ()
) -> tuple[Decision, SendState]:
    """The send decision, and the state the next run starts from. Something asked (typed text, or images, win
    over a pending action) goes out unless a budget is spent and the user has not confirmed, or a hard one is spent
    (no confirming that); a held action is shown again while the budget stays spent, and never sent unasked."""
    typed_something = bool(typed and typed.strip()) or bool(images)
    asked = Action("prompt", typed or "", images=tuple(images)) if typed_something else state.pending
    holding = next((check for check in over if check.hard), over[0] if over else None)
    if asked is None:
        return (Hold(state.held, holding) if state.held and holding else None), state
    if holding is not None and (holding.hard or not state.confirmed):
        return Hold(asked, holding), SendState(held=asked)
    return Go(asked), SendState(held=state.held)


@dataclass(frozen=True)
class Ask:
    text: str | None  # the message to send; None: answer again from the current leaf
    images: tuple[Attachment, ...] = ()  # sent with it


def carry_out(conversation: Conversation, action: Action, edited: str, lang: str) -> Ask | None:
    """Turns an action into what to send (moving the conversation's leaf where it answers from); None when
    there is nothing to send. ``edited`` is the edit box's text, for an edit."""
    match action.kind:
        case "prompt":
            return Ask(action.value, action.images)
        case "regenerate":
            conversation.rewind_to(action.value)
            return Ask(None)
        case "edit":
            if action.value not in conversation.nodes or not edited.strip():
                return None
            edited_message = conversation.nodes[action.value]
            conversation.rewind_to(edited_message.parent_id)
            return Ask(edited.strip(), tuple(edited_message.attachments))  # the new version keeps the images
        case "continue":
            return Ask(t("continue_prompt", lang))
        case "approve":
            return Ask(None) if record_decisions(conversation, action) else None
        case _:
            assert_never(action.kind)


def record_decisions(conversation: Conversation, action: Action) -> bool:
    """Keeps the user's word on each waiting call with the call (``decision``; edited arguments replace the
    model's, kept as ``proposed``), for the next turn to carry out. False when the reply at the leaf no longer
    waits (another chat, another version) or the approvals do not answer exactly its waiting calls."""
    message = awaiting_approval(conversation)
    waiting = unanswered(conversation.messages, message) if message is not None and message.id == action.value else []
    given = {approval.call.call_id: approval for approval in action.approvals}
    if not waiting or set(given) != {call["id"] for call in waiting}:
        return False
    for call in waiting:
        approval = given[call["id"]]
        proposed = call.pop("proposed", call["arguments"])  # the model's, also where an earlier try was edited
        decision: ToolDecision = "rejected" if not approval.run else "run"
        if approval.run and approval.call.arguments != proposed:
            decision, call["proposed"] = "edited", proposed
        call["arguments"] = approval.call.arguments if approval.run else proposed
        call["decision"] = decision
    return True


# --- what the UI shows of spending and replies ------------------------------------------------------------


@dataclass(frozen=True)
class Spending:
    """This chat's and today's totals and the budget checks against them: worked out once per run."""

    chat: Totals
    today: Totals
    checks: list[BudgetCheck]

    @property
    def over(self) -> list[BudgetCheck]:
        return [check for check in self.checks if check.level == OVER]


def spending(chat: Totals, today: Totals, settings: Settings, day_hard: bool = False) -> Spending:
    """What was spent against each budget set; ``day_hard``: the daily budget is a hard limit (budget.py)."""
    checks = check_budgets(
        chat.cost, today.cost, settings.budget_per_chat, settings.budget_per_day, settings.budget_currency, day_hard
    )
    return Spending(chat, today, checks)


@dataclass(frozen=True)
class ReplyFigures:
    """A reply's usage and cost, how the prompt estimate compares with what the provider counted, and speed."""

    totals: Totals
    estimate: tuple[int, int, float] | None = None  # (estimated, actual prompt tokens, difference in %)
    speed: tuple[float, float] | None = None  # (seconds to the first token, completion tokens per second)


def reply_figures(messages: Sequence[Message]) -> ReplyFigures | None:
    """None for a reply without usage."""
    priced = [(m, m.usage, m.cost) for m in messages if m.usage and m.cost]
    if not priced:
        return None
    totals = Totals.of((usage, cost) for _, usage, cost in priced)
    measured = [(m.estimated_prompt_tokens, usage) for m, usage, _ in priced if not usage.estimated]
    counted = [(estimate, usage.prompt_tokens) for estimate, usage in measured if estimate]
    estimate = None
    if counted:
        guessed, actual = sum(e for e, _ in counted), sum(a for _, a in counted)
        estimate = (guessed, actual, (guessed - actual) / actual * 100 if actual else 0.0)
    timed = [(m, usage) for m, usage, _ in priced if m.first_token_ms is not None and m.stream_ms]
    speed = None
    if timed:
        last, usage = timed[-1]
        speed = ((last.first_token_ms or 0) / 1000, usage.completion_tokens / max((last.stream_ms or 0) / 1000, 0.001))
    return ReplyFigures(totals, estimate, speed)
