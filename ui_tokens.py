"""Tokens made visible in the usage panel: the next request's prompt tokens by part (a bar and its legend), a
tokenizer that splits any text into the current model's tokens with their ids, and how much of the rate limits
is used (the client's limiter this minute, the provider's headers on the last reply).

Each opens on a click and is drawn only while open, so a closed one costs nothing. The tokenizer's chips are
HTML built here, never the text's: every token is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import streamlit as st

from conversation_manager import Conversation, Message, RequestSpec, TurnRequest
from i18n import t
from prompt_breakdown import PartName, breakdown
from rate_limiter import RateLimiter
from store import Store
from token_tracker import encoding_for, token_pieces
from ui_text import LazyExpander
from ui_trace import reply_traces
from wire_trace import RATE_LIMIT_FIELDS, RATE_LIMIT_KINDS, rate_limits

MAX_TOKENIZER_CHARS = 5_000
_VISIBLE_SPACE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})
_CHIP_COLOURS = ("rgba(99, 155, 255, 0.25)", "rgba(255, 171, 64, 0.25)", "rgba(76, 187, 23, 0.25)")
PART_COLOURS: dict[PartName, str] = {  # Tableau 10: told apart on a light and a dark theme
    "system": "#4e79a7",
    "examples": "#f28e2b",
    "tools": "#e15759",
    "summary": "#76b7b2",
    "trim_note": "#edc948",
    "history": "#59a14f",
    "new_message": "#b07aa1",
    "framing": "#bab0ac",
}


def render_token_lab(
    conversation: Conversation, store: Store, spec: RequestSpec, limiter: RateLimiter, lang: str
) -> Callable[[TurnRequest], None]:
    """The breakdown under the context meter, then the tokenizer and the rate limits. Returns what draws the
    breakdown of a request (while its expander is open): the next one, and again after a reply in this run."""
    parts = LazyExpander(t("breakdown_title", lang), "token_breakdown", icon="🧮")

    def breakdown_of(plan: TurnRequest) -> None:
        parts.draw(lambda: render_breakdown(plan, spec, lang))

    tokenizer = st.popover(t("tokenizer", lang), icon="🔤", key="tokenizer", on_change="rerun", width="stretch")
    if tokenizer.open:
        with tokenizer:
            render_tokenizer(spec.model, lang)
    limits = st.popover(t("rate_limits", lang), icon="⏱️", key="rate_limits", on_change="rerun", width="stretch")
    if limits.open:
        with limits:
            render_rate_limits(conversation, store, limiter, lang)
    return breakdown_of


def render_breakdown(plan: TurnRequest, spec: RequestSpec, lang: str) -> None:
    """One bar, a segment per part as wide as its tokens, the legend with each part's tokens, and their sum (the
    request's count)."""
    parts = [(part.name, t(f"part_{part.name}", lang), part.tokens) for part in breakdown(plan, spec) if part.tokens]
    st.html(breakdown_bar(parts))
    st.markdown(t("breakdown_total", lang, tokens=sum(tokens for _, _, tokens in parts)))
    st.caption(t("part_framing_help", lang))


def breakdown_bar(parts: Sequence[tuple[PartName, str, int]]) -> str:
    """The bar and its legend as HTML (labels escaped): (part, label, tokens) each."""
    segments = "".join(
        f'<div title="{html.escape(label)}: {tokens}" style="flex: {tokens} 0 0; min-width: 2px; '
        f'background: {PART_COLOURS[name]}"></div>'
        for name, label, tokens in parts
    )
    legend = "".join(
        f'<div><span style="color: {PART_COLOURS[name]}">■</span> {html.escape(label)}: {tokens}</div>'
        for name, label, tokens in parts
    )
    bar = f'<div style="display: flex; gap: 1px; height: 18px; border-radius: 4px; overflow: hidden">{segments}</div>'
    return f'{bar}<div style="font-size: 0.85rem; line-height: 1.6; margin-top: 6px">{legend}</div>'


def token_chips(pieces: Sequence[tuple[str, int]]) -> str:
    """The tokens as escaped HTML chips (whitespace made visible), each with its id underneath, in alternating
    colours."""
    chips = "".join(
        f'<span style="display: inline-block; margin: 2px; padding: 1px 5px; border-radius: 4px; '
        f'background: {_CHIP_COLOURS[index % len(_CHIP_COLOURS)]}; text-align: center">'
        f'<code style="background: none">{html.escape(shown.translate(_VISIBLE_SPACE))}</code><br>'
        f'<small style="opacity: 0.7">{token}</small></span>'
        for index, (shown, token) in enumerate(pieces)
    )
    return f'<div style="line-height: 1.2">{chips}</div>'


def render_tokenizer(model: str, lang: str) -> None:
    """A text box; its tokens as chips with their ids, and how many there are for how many characters."""
    text = st.text_area(
        t("tokenizer_input", lang), key="tokenizer_text", max_chars=MAX_TOKENIZER_CHARS, help=t("tokenizer_help", lang)
    )
    if not text:
        return
    pieces = token_pieces(text, model)
    encoding = encoding_for(model).name
    st.caption(t("tokenizer_count", lang, tokens=len(pieces), chars=len(text), encoding=encoding, model=model))
    st.html(token_chips(pieces))


def newest_reply(conversation: Conversation) -> list[Message]:
    """The assistant messages of the newest turn on the active path that has any (a reply's traces are kept under
    its first message, and a continued reply starts a new one)."""
    for turn in reversed(conversation.turns()):
        answers = [message for message in turn if message.role == "assistant"]
        if answers:
            return answers
    return []


def newest_limits(conversation: Conversation, store: Store) -> dict[str, dict[str, str]]:
    """The provider's rate-limit headers on the newest reply (saved traces from the store, unsaved ones from the
    conversation)."""
    for message in reversed(newest_reply(conversation)):
        limits = rate_limits(reply_traces(conversation, store, message.id))
        if limits:
            return limits
    return {}


def render_rate_limits(conversation: Conversation, store: Store, limiter: RateLimiter, lang: str) -> None:
    """The client limiter's use of this minute, then what the provider's headers said (a table)."""
    if limiter.enabled:
        used = limiter.used()
        rpm = str(limiter.rpm) if limiter.rpm else "∞"
        tpm = str(limiter.tpm) if limiter.tpm else "∞"
        st.caption(t("rate_client", lang, requests=used.requests, rpm=rpm, tokens=used.tokens, tpm=tpm))
    else:
        st.caption(t("rate_client_off", lang))
    limits = newest_limits(conversation, store)
    if not limits:
        st.caption(t("rate_provider_none", lang))
        return
    st.caption(t("rate_provider", lang))
    rows = [t(f"rate_{kind}", lang) for kind in RATE_LIMIT_KINDS]
    columns = {
        t(f"rate_{field}", lang): [limits.get(kind, {}).get(field, "–") for kind in RATE_LIMIT_KINDS]
        for field in RATE_LIMIT_FIELDS
    }
    st.table({t("rate_kind", lang): rows, **columns})
