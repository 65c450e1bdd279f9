"""One question under 2–4 variants at once, side by side, without Streamlit.

A variant is a (template, model, parameters). ``prepare`` adds the question to the conversation once (saved) and
prepares one ``turn.Turn`` per variant, each on a working copy of the conversation: a recorder appends its reply
at the conversation's leaf, so two variants recording into one conversation would answer each other.
``Comparison.run`` drives each variant's runner in a thread of its own (the SDK is synchronous, so the requests
overlap only this way) and hands the events to the caller's thread through queues: only that thread records and
saves. At the end, or at Stop, each reply is settled and merged into the conversation as one version of the
answer (‹ 1/3 ›), its cost booked with it and its wire traces kept; ``keep`` makes one the current version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from queue import SimpleQueue

from chat_params import Extras
from config import Settings
from conversation_manager import DONE, STREAMING, Conversation, Message
from events import StreamEvent
from token_tracker import Totals
from turn import ChatSettings, Save, Turn, TurnChoices, reply_figures

MIN_VARIANTS, MAX_VARIANTS, DEFAULT_VARIANTS = 2, 4, 3
LABELS = "ABCD"
DEFAULT_TEMPLATES = ("standard", "chain_of_thought", "few_shot", "react")  # the natural first comparison

# Prepares a turn answering the conversation's current leaf (``turn.prepare`` with the session's tools, prices,
# rate limit and saving): (conversation, settings, choices, new message or None) -> Turn.
PrepareTurn = Callable[[Conversation, Settings, TurnChoices, str | None], Turn]


@dataclass(frozen=True)
class Variant:
    """One way of asking: a prompt template, a model and its parameters."""

    label: str
    template: str
    model: str
    temperature: float
    max_tokens: int
    extras: Extras = Extras()

    def settings(self, base: Settings) -> Settings:
        return base.with_overrides(model=self.model, temperature=self.temperature, max_tokens=self.max_tokens)

    def choices(self, base: TurnChoices) -> TurnChoices:
        return replace(base, template=self.template, extras=self.extras)


@dataclass(frozen=True)
class Figures:
    """What a variant's column shows under its answer."""

    totals: Totals | None  # tokens and cost; None: no usage known
    total: float | None  # seconds from its start to its end; None while it runs
    finish: str | None  # the finish reason, or how it ended without one (stopped, interrupted)


@dataclass
class Lane:
    """One variant's turn (on its own working copy of the conversation) and when it started and ended."""

    variant: Variant
    turn: Turn
    started: float | None = None
    ended: float | None = None
    arrived: float = 0.0  # when the event being recorded reached the caller's queue

    @property
    def reply(self) -> list[Message]:
        return self.turn.reply

    def arrival(self) -> float:
        """The recorder's clock: the variant's first token and stream time count from when its events came, not
        from when the caller's thread, drawing every column, got round to them."""
        return self.arrived

    def figures(self) -> Figures:
        reply = self.turn.reply
        counted = reply_figures(reply)
        total = self.ended - self.started if self.ended is not None and self.started is not None else None
        last = next((m for m in reversed(reply) if m.role == "assistant"), None)
        return Figures(counted.totals if counted else None, total, _finish(last))


def _finish(message: Message | None) -> str | None:
    """The finish reason; without one, how the reply ended (stopped, interrupted), or None while it runs."""
    if message is None:
        return None
    if message.finish_reason or message.status in (DONE, STREAMING):
        return message.finish_reason
    return message.status


@dataclass
class Comparison:
    """A question asked under several variants: run it once, then keep one answer."""

    conversation: Conversation
    question: Message
    lanes: list[Lane]
    save: Save
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        for lane in self.lanes:
            lane.turn.save = self._save_reply

    @property
    def is_open(self) -> bool:
        """Its question is still the newest on the chat's active path, so keeping an answer means something."""
        asked = [m for m in self.conversation.messages if m.role == "user"]
        return bool(asked) and asked[-1].id == self.question.id

    def run(self) -> Generator[tuple[int, StreamEvent | None], None, None]:
        """Runs every variant at once; yields (variant's index, event) as events come, and (index, None) when a
        variant has ended. Close it (the user's Stop) and each reply is still settled, merged and saved."""
        ready: SimpleQueue[int] = SimpleQueue()
        runs = [
            lane.turn.run(lane.arrival, _relay(index, lane, ready, self.clock)) for index, lane in enumerate(self.lanes)
        ]
        try:
            # Each variant's first event opens its reply, in the variants' order (the order of the versions);
            # each variant's first mark in ``ready`` stood for that event, taken already.
            opened = [next(run, None) for run in runs]
            taken = set(range(len(runs)))
            running = {index for index, event in enumerate(opened) if event is not None}
            for index, event in enumerate(opened):
                yield index, event
            while running:
                index = ready.get()
                if index in taken:
                    taken.discard(index)
                    continue
                event = next(runs[index], None)
                if event is None:
                    running.discard(index)
                yield index, event
        finally:
            self._settle(runs)

    def keep(self, index: int) -> None:
        """This variant's answer becomes the chat's current version (the others stay as its siblings); saved."""
        self._select(index)
        self.save([])

    def _save_reply(self, messages: Sequence[Message]) -> bool:
        """A variant's turn saves its reply as part of the conversation (so the stored order is the versions')."""
        self._adopt()
        return self.save(messages)

    def _adopt(self) -> None:
        """Every reply's messages so far into the conversation, variant by variant: versions of the answer."""
        for lane in self.lanes:
            for message in lane.reply:
                self.conversation.nodes.setdefault(message.id, message)

    def _settle(self, runs: Sequence[Generator[StreamEvent, None, None]]) -> None:
        for lane, run in zip(self.lanes, runs, strict=True):
            if lane.turn.recorder is None:  # never begun (another failed first): its first event opens its reply
                next(run, None)
            run.close()
            if lane.ended is None:
                lane.ended = self.clock()
        self._merge()

    def _merge(self) -> None:
        """Every reply becomes a version of the answer to the question, its cost booked with it and its traces
        kept; the first variant's is current until another is kept."""
        self._adopt()
        for lane in self.lanes:
            self.conversation.traces.update(lane.turn.conversation.traces)
            self.conversation.calls.extend(lane.turn.conversation.calls)
        self._select(0)
        self.save([message for lane in self.lanes for message in lane.reply])

    def _select(self, index: int) -> None:
        lane = self.lanes[index]
        self.conversation.select(lane.reply[0].id)
        self.conversation.last_request = lane.turn.conversation.last_request
        self.conversation.last_response = lane.turn.conversation.last_response


def prepare(
    conversation: Conversation,
    question: str,
    variants: Sequence[Variant],
    settings: Settings,
    choices: TurnChoices,
    prepare_turn: PrepareTurn,
    save: Save,
) -> Comparison:
    """Adds the question once and saves it, then prepares each variant's turn on a working copy of the
    conversation. No summary step: it would be one more call per variant, so older turns are trimmed instead."""
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise ValueError(f"a comparison takes {MIN_VARIANTS} to {MAX_VARIANTS} variants, not {len(variants)}")
    conversation.settings = ChatSettings.of(settings, choices).to_dict()
    asked = conversation.add_user(question, template=choices.template, images=choices.images)
    save([asked])
    lanes = []
    for variant in variants:
        copy = working_copy(conversation)
        lanes.append(Lane(variant, prepare_turn(copy, variant.settings(settings), variant.choices(choices), None)))
    return Comparison(conversation, asked, lanes, save)


def working_copy(conversation: Conversation) -> Conversation:
    """The conversation's active path under the same id, for one variant to record its reply into."""
    copy = Conversation(conversation.id, conversation.title, conversation.created_at, dict(conversation.settings))
    copy.nodes = {message.id: message for message in conversation.messages}
    copy.leaf_id = conversation.leaf_id
    copy.last_request = conversation.last_request
    copy.summary = conversation.summary
    return copy


Handed = StreamEvent | Exception | None  # an event, the runner's failure, or None at its end


def _relay(
    index: int, lane: Lane, ready: SimpleQueue[int], clock: Callable[[], float]
) -> Generator[StreamEvent, None, None]:
    """Starts the lane's runner in a thread of its own and returns its events as the caller's thread takes them
    (``ready`` names the lane once per waiting event). Closing it asks the thread to stop: it does at its next
    event, closing the request (a provider gone silent holds it until the read timeout)."""
    inbox: SimpleQueue[tuple[float, Handed]] = SimpleQueue()
    stop = threading.Event()

    def hand(item: Handed) -> None:
        inbox.put((clock(), item))
        ready.put(index)

    def pump(events: Generator[StreamEvent, None, None]) -> None:
        try:
            with closing(events):
                for event in events:
                    if stop.is_set():
                        break
                    hand(event)
        except Exception as error:  # noqa: BLE001 - raised again in the caller's thread
            hand(error)
        finally:
            hand(None)

    def received() -> Generator[StreamEvent, None, None]:
        try:
            while True:
                at, item = inbox.get()
                lane.arrived = at
                if item is None:
                    lane.ended = at
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    lane.started = clock()
    threading.Thread(target=pump, args=(lane.turn.events(),), name=f"compare-{lane.variant.label}", daemon=True).start()
    return received()
