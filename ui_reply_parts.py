"""What the learner's parameters add to a reply: alternatives as tabs (``n``), each token shaded by its
probability (``logprobs``), and the reply checked against the asked JSON format (``response_format``).

The shaded text is HTML built here, never the model's: every token and every hover text is escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from conversation_manager import Message
from i18n import t

MAX_SHADE = 0.8  # the background's opacity for a token the model gave no chance at all


def reply_choices(message: Message, lang: str) -> list[tuple[DeltaGenerator, str]]:
    """Where each choice's text goes, with the text: one place for a single reply (none without text), a tab
    per choice with alternatives (choice 1 is the message's own text)."""
    texts = [message.content, *message.alternatives]
    if len(texts) == 1:
        return [(st.container(), message.content)] if message.content else []
    tabs = st.tabs([t("choice_tab", lang, index=index) for index in range(1, len(texts) + 1)])
    return list(zip(tabs, texts, strict=True))


def _line(token: str, logprob: float) -> str:
    """A token (quoted, so spaces and line breaks show) and its probability."""
    return f"{json.dumps(token, ensure_ascii=False)}: {math.exp(logprob):.1%}"


def _span(entry: dict[str, Any]) -> str:
    """One token, its background as dark as the model was unsure, its alternatives in the hover text."""
    token, logprob = str(entry.get("token", "")), float(entry.get("logprob", 0.0))
    lines = [_line(token, logprob), *("  " + _line(str(other), float(lp)) for other, lp in entry.get("top", []))]
    shade = MAX_SHADE * (1 - min(math.exp(logprob), 1.0))
    return (
        f'<span title="{html.escape(chr(10).join(lines))}" '
        f'style="background-color: rgba(255, 140, 0, {shade:.2f}); border-radius: 3px">{html.escape(token)}</span>'
    )


def shaded_tokens(logprobs: Sequence[dict[str, Any]]) -> str:
    """The tokens as HTML: each a span shaded by its probability, with its top alternatives on hover."""
    spans = "".join(_span(entry) for entry in logprobs)
    return f'<div style="white-space: pre-wrap; line-height: 1.9">{spans}</div>'


def render_validation(validation: dict[str, Any], lang: str) -> None:
    """✅ or the validation error (shown literally: it may quote the reply), and the JSON formatted."""
    kind = str(validation.get("format", ""))
    if validation.get("valid"):
        st.caption(t("format_valid", lang, format=kind))
    else:
        st.error(t("format_invalid", lang, format=kind), icon="❌")
        path = validation.get("path")
        st.code(f"{path}: {validation.get('error')}" if path else str(validation.get("error")), language=None)
    if validation.get("json") is not None:
        st.json(validation["json"])


def render_reply_parts(message: Message, lang: str) -> None:
    """The token probabilities (when asked for) and the format check (when JSON was asked for)."""
    if message.logprobs:
        with st.expander(t("logprobs_view", lang)):
            st.caption(t("logprobs_legend", lang))
            st.html(shaded_tokens(message.logprobs))
    if message.validation:
        render_validation(message.validation, lang)
