"""A reply drawn while it streams, at a cost per visible update that does not grow with the reply.

Each part of ui_chat.render_reply's layout (badges, reasoning, text, token probabilities, tool steps, how a message
ended; under the reply its sources, the notice of a retry or wait, the usage line) has a place of its own, drawn
again only when what it shows changes. The growing text is the one part sent at nearly every update, and of it only
the Markdown block still growing: finished blocks are frozen into elements of their own (``stream_pacing.settled``).
When the turn is over the reply stays as drawn, with its controls under it (app.run_turn), and what it changed
elsewhere is drawn in place (app.chat_area, the fragment a message sent reruns). Only a reply that leaves something
to ask (a comparison's pick, tool calls to approve, a failure) or that is a new branch of the chat (regenerate, edit,
continue, approve) has the whole page drawn again after it (``refresh_after_reply``), from the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from conversation_manager import Message
from formulas import normalize
from i18n import t
from stream_pacing import REFRESH_AFTER_REPLY, settled, timed_run
from ui_chat import figures_line, has_ending, render_badges, render_ending, render_tools, shown_calls, tool_results
from ui_reply_parts import render_reply_parts, reply_choices
from ui_sources import render_sources, reply_sources


class _Place:
    """One place in the page and what it shows: drawn again only when that changes (None: nothing)."""

    def __init__(self, slot: DeltaGenerator) -> None:
        self.slot = slot
        self.shown: Hashable = None

    def show(self, key: Hashable, draw: Callable[[], object]) -> None:
        if key == self.shown:
            return
        self.shown = key
        if key is None:
            self.slot.empty()
            return
        with self.slot.container():
            draw()


FREEZE_AT = 2_000  # characters of text not frozen yet before its settled blocks are frozen: sent again at each update,
# a tail this short costs about what the update of one more element would, and freezing it in smaller parts would
# only add elements


class _GrowingMarkdown:
    """Markdown that only grows: each settled block drawn once into an element of its own, then left alone; only
    the rest is sent again at each update (formulas normalised per part: a part is whole blocks)."""

    def __init__(self, slot: DeltaGenerator) -> None:
        self.slot = slot
        self.box: DeltaGenerator | None = None
        self.tail: DeltaGenerator | None = None
        self.frozen = 0  # characters of the text drawn in frozen elements
        self.shown = ""

    def show(self, text: str) -> None:
        if text == self.shown:
            return
        if self.box is None or self.tail is None or len(text) < len(self.shown):  # first text, or not the same text
            self.box = self.slot.container()
            self.tail, self.frozen, self.shown = self.box.empty(), 0, ""
        new, self.shown = text[len(self.shown) :], text
        if len(text) - self.frozen >= FREEZE_AT and "\n" in new:  # a block can settle only as a line ends
            cut = self.frozen + settled(text[self.frozen :])
            if cut > self.frozen:
                self.tail.markdown(normalize(text[self.frozen : cut]))  # the frozen part stays in this element
                self.tail, self.frozen = self.box.markdown(normalize(text[cut:])), cut  # the rest goes on in a new one
                return
        self.tail.markdown(normalize(text[self.frozen :]))


class _LiveMessage:
    """One assistant message of the reply, in render_reply's order, each part in its place."""

    def __init__(self, parent: DeltaGenerator, lang: str, base_url: str) -> None:
        self.lang, self.base_url = lang, base_url
        box = parent.container()
        self.badges = _Place(box.empty())
        self.reasoning_slot = box.empty()
        self.reasoning: _GrowingMarkdown | None = None
        self.text_slot = box.empty()
        self.text = _GrowingMarkdown(self.text_slot)
        self.choices: Hashable = None  # the texts drawn as tabs, where the reply has alternatives
        self.parts = _Place(box.empty())
        self.tools = _Place(box.empty())
        self.ending = _Place(box.empty())

    def draw(self, message: Message, messages: Sequence[Message], results: dict[str | None, Message]) -> None:
        lang = self.lang
        badges: tuple[Hashable, ...] = (message.trimmed, message.fallback_from, message.model, repr(message.error))
        badges += (repr(message.skipped), repr(message.routed), repr(message.cache_saved))
        shown = message.trimmed or message.fallback_from or message.skipped or message.routed or message.cache_saved
        self.badges.show(badges if shown else None, lambda: render_badges(message, lang))
        if message.reasoning:
            if self.reasoning is None:
                self.reasoning = _GrowingMarkdown(self.reasoning_slot.expander(t("reasoning", lang)).empty())
            self.reasoning.show(message.reasoning)
        self._text(message)
        parts = (len(message.logprobs), repr(message.validation)) if message.logprobs or message.validation else None
        self.parts.show(parts, lambda: render_reply_parts(message, lang))
        calls = shown_calls(message, messages)
        tools = tuple(_call_key(call, results.get(call["id"])) for call in calls) or None
        self.tools.show(tools, lambda: render_tools(message, messages, results, lang))
        ending = (message.status, repr(message.error), message.refusal, message.finish_reason)
        self.ending.show(ending if has_ending(message) else None, lambda: render_ending(message, lang, self.base_url))

    def _text(self, message: Message) -> None:
        """The growing text; with alternatives (``n``), the tabs drawn whole as render_reply draws them."""
        if not message.alternatives:
            if message.content:
                self.text.show(message.content)
            return
        choices = (message.content, *message.alternatives)
        if choices != self.choices:
            self.choices = choices
            self.text = _GrowingMarkdown(self.text_slot)  # the tabs take the slot: text drawn later starts anew
            with self.text_slot.container():
                for place, text in reply_choices(message, self.lang):
                    place.markdown(normalize(text))


def _call_key(call: dict[str, str], result: Message | None) -> Hashable:
    """What a tool step shows: the call as decided, and its result once there."""
    outcome = None if result is None else (result.content, result.is_error)
    return (tuple(sorted(call.items())), outcome)


class LiveReply:
    """A reply drawn as it streams, into the chat bubble (or compare column) it is made in. ``draw`` after each
    event, or each paced update: only the places whose content changed are sent to the browser."""

    def __init__(self, lang: str, base_url: str) -> None:
        self.lang, self.base_url = lang, base_url
        self.body = st.container()
        self.messages: dict[str, _LiveMessage] = {}
        self.sources = _Place(st.empty())
        self.answered: tuple[str | None, ...] = ()  # the tool results the sources were found in
        self.notice = _Place(st.empty())
        self.figures = _Place(st.empty())

    def draw(self, messages: Sequence[Message], notice: str | None) -> None:
        lang = self.lang
        results = tool_results(messages)
        for message in messages:
            if message.role == "assistant":
                live = self.messages.get(message.id)
                if live is None:
                    live = self.messages[message.id] = _LiveMessage(self.body, lang, self.base_url)
                live.draw(message, messages, results)
        answered = tuple(results)
        if answered != self.answered:  # the sources come from tool results: looked for again when one comes
            self.answered = answered
            cited = tuple(reply_sources(messages))
            self.sources.show(cited or None, lambda: render_sources(messages, lang))
        self.notice.show(notice, lambda: st.caption(notice or ""))
        line = figures_line(messages, lang)
        self.figures.show(line, lambda: st.caption(line or ""))


@st.fragment(run_every=REFRESH_AFTER_REPLY)
def refresh_after_reply(drawn: float) -> None:
    """The whole page drawn again (what the reply asks next, the chat list, the usage panel) once the reply's last
    update has gone out: the browser asks for it, after the updates it was sent. A run started at once, in the
    script, would drop the updates not yet sent, and the last words would show only after the whole page."""
    if timed_run(drawn, time.monotonic(), REFRESH_AFTER_REPLY):
        st.rerun()
