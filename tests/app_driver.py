"""Driving app.py with streamlit.testing's AppTest: shared by the UI test modules."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def start(chat_id: str | None = None, timeout: float = 60) -> AppTest:
    """A fresh browser session (optionally opened on ?chat=ID), after its first run."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if chat_id:
        at.query_params["chat"] = chat_id
    return at.run()


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    """Every visible text of the main area: markdown, captions, errors, warnings, infos."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)
