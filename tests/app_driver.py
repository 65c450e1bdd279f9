"""Driving app.py with streamlit.testing's AppTest: shared by the UI test modules."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Expander

from ui_chat import STATUS_ICONS

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# CommonMark with GitHub's tables and strikethrough and no raw HTML, as Streamlit's st.markdown renders it
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def start(chat_id: str | None = None, timeout: float = 60) -> AppTest:
    """A fresh browser session (optionally opened on ?chat=ID), after its first run."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if chat_id:
        at.query_params["chat"] = chat_id
    return at.run()


def send(at: AppTest, text: str) -> AppTest:
    """Types ``text`` and sends it; then the page runs again, as the next click would run it (and as the browser's
    refresh does after a reply that leaves something to ask)."""
    return refreshed(at.chat_input[0].set_value(text).run())


def refreshed(at: AppTest) -> AppTest:
    """The page drawn again, as the browser asks after a reply that leaves something to ask
    (ui_stream.refresh_after_reply: a timed fragment, which AppTest does not run by itself)."""
    assert not at.exception, at.exception
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> list[Any]:
    """The sidebar's Vega-Lite charts (the per-reply usage charts, drawn while their expander is open)."""
    return list(at.sidebar.get("arrow_vega_lite_chart")) + list(at.sidebar.get("vega_lite_chart"))


def tool_steps(at: AppTest) -> list[Expander]:
    """The tool calls drawn in the chat: expanders with st.status's icon for their state (ui_chat.STATUS_ICONS)."""
    return [e for e in at.main.expander if e.icon in STATUS_ICONS.values()]


def page_text(at: AppTest) -> str:
    """Every visible text of the main area: markdown, captions, errors, warnings, infos."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def rendered(markdown: str) -> str:
    """What a reader sees of Markdown source: rendered by a CommonMark parser, every tag left out but line
    breaks, character references decoded."""
    page = _MARKDOWN.render(markdown)
    page = re.sub(r"<br />\n?", "\n", page)
    page = re.sub(r"</p>\n?(<p>)?", "\n\n", page).strip("\n")
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def tags(markdown: str) -> set[str]:
    """The HTML elements Markdown source turns into."""
    return set(re.findall(r"<(\w+)", _MARKDOWN.render(markdown)))
