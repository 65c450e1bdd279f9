"""Small helpers shared by the UI modules (ui_chat and the helpers it draws with, which cannot import ui_chat
back): text from people and providers drawn exactly as written, and the browser's time zone."""

from __future__ import annotations

import re
from datetime import tzinfo

import streamlit as st

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
