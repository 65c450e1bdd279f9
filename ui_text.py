"""Small helpers shared by the UI modules (ui_chat and the helpers it draws with, which cannot import ui_chat
back): text from people and providers drawn exactly as written, the browser's time zone, and an expander whose
content is drawn only while open and can be drawn again in the same run."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import tzinfo

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chat_groups import zone

_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # CommonMark lets a backslash escape each of these
_SPACE_TO_KEEP = re.compile(r"^ | $|(?<= ) | (?= )")  # spaces Markdown would trim or HTML would collapse
_OTHER_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")  # trimmed by some parsers


def literal_markdown(text: str) -> str:
    """Markdown that shows ``text`` exactly as typed: every punctuation mark escaped (so ``123*456`` keeps its
    asterisk and ``<b>`` shows as written), each line break kept, and spaces as character references."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    return "  \n".join(_literal_line(line) for line in lines)


def _literal_line(line: str) -> str:
    line = _ASCII_PUNCTUATION.sub(r"\\\1", line)
    line = _OTHER_SPACE.sub(lambda space: f"&#x{ord(space[0]):x};", line)
    return _SPACE_TO_KEEP.sub("&nbsp;", line) or "&nbsp;"


def browser_zone() -> tzinfo:
    """The browser's time zone (UTC where it says none or one this machine does not know)."""
    return zone(st.context.timezone)


class LazyExpander:
    """A keyed expander whose content is drawn only while it is open (opening it reruns the page), so a closed one
    costs the page nothing; ``draw`` can be called again in the same run to show newer content (after a reply):
    the expander itself is drawn once per run (its key allows no second), its content in a place of its own."""

    def __init__(self, label: str, key: str, icon: str | None = None) -> None:
        self.label, self.key, self.icon = label, key, icon
        self.place = st.empty()  # where the expander goes, once there is something to show
        self.inside: DeltaGenerator | None = None
        self.open = False

    def draw(self, content: Callable[[], None]) -> None:
        if self.inside is None:
            with self.place.container():
                view = st.expander(self.label, icon=self.icon, key=self.key, on_change="rerun")
            self.open, self.inside = bool(view.open), view.empty()
        if self.open:
            with self.inside.container():
                content()
