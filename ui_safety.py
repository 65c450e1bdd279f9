"""Content safety on screen (SAFETY=warn|block): the user's message checked before it goes, the reply after it came.

content_safety.py checks; this module decides on screen. Block: a flagged message is kept unsent in an editable box
with why, until "Send anyway" (unchanged: it goes as it is; edited: it is checked again) or "Cancel". Warn: it goes,
with a warning. A flagged message or reply keeps its verdict (Message.safety) and shows it as a badge; nothing is
deleted. A provider found without POST /moderations is not asked again in this session, and each verdict says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from config import ConfigError, Settings
from content_safety import Verdict, book, check, combine, load_words
from conversation_manager import Message
from i18n import t
from llm_client import Moderation, targets_for
from turn import Action, SendState, Turn
from ui_session import price_book, session

HELD_KEY = "safety_held"  # session state: the message kept unsent, with its verdict
HELD_TEXT_KEY = "safety_held_text"  # its editable box
CLEARED_KEY = "safety_cleared"  # the text "Send anyway" lets through once, unchecked
SENT_KEY = "safety_sent"  # the verdict of a flagged message that went: kept with it once the turn has added it
NO_MODERATION_KEY = "safety_no_moderation"  # endpoints that answered that they offer no POST /moderations


@dataclass(frozen=True)
class HeldMessage:
    action: Action
    verdict: Verdict | None  # None: the list could not be read (``problem`` says why)
    problem: str = ""


def _literal(text: str) -> str:
    from ui_chat import literal_markdown  # ui_chat draws badges with this module, so it is imported when used

    return literal_markdown(text)


def verdict_lines(verdict: Verdict, lang: str) -> list[str]:
    """Why a text was flagged, one line per word-list hit and per moderation category."""
    lines = []
    for hit in verdict.words:
        key = "safety_timed_out" if hit.timed_out else "safety_word"
        lines.append(t(key, lang, line=hit.line, rule=_literal(hit.rule), found=_literal(hit.found)))
    lines += [t("safety_category", lang, category=name, score=score) for name, score in verdict.categories]
    return lines


def moderation_note(verdict: Verdict, lang: str) -> str | None:
    """What to say when the moderation model was not asked: the provider has none, or the call failed."""
    if verdict.moderation == "not_offered":
        return t("safety_no_moderation", lang)
    if verdict.moderation == "failed":
        return t("safety_moderation_failed", lang)
    return None


def check_text(text: str, settings: Settings) -> tuple[Verdict, Moderation | None]:
    """``text`` checked with these settings' list and provider (not asked again once it said it has no moderation).
    Raises ConfigError when the list cannot be used."""
    words = load_words(settings.safety_words_file)
    absent: set[str] = st.session_state.setdefault(NO_MODERATION_KEY, set())
    if settings.endpoint in absent:
        return combine(words.hits(text), Moderation(offered=False)), None
    client = targets_for(settings)[0].client
    verdict, moderation = check(text, words, client, settings.safety_moderation_model)
    if verdict.moderation == "not_offered":
        absent.add(settings.endpoint)
    return verdict, moderation


def safe_to_send(action: Action, settings: Settings, lang: str) -> bool:
    """Whether a prompt goes now. SAFETY=off: always, unchecked. A flagged one waits unsent (block) or goes with a
    warning (warn); a prompt "Send anyway" let through goes unchecked, marked with what was found."""
    if settings.safety == "off" or action.kind != "prompt" or not (action.value or "").strip():
        return True
    text = action.value or ""
    cleared: tuple[str, dict[str, Any]] | None = st.session_state.pop(CLEARED_KEY, None)
    if cleared is not None and cleared[0] == text:
        st.session_state[SENT_KEY] = cleared[1]
        return True
    try:
        verdict, moderation = check_text(text, settings)
    except ConfigError as error:
        _hold(HeldMessage(action, None, str(error)))
        return False
    book(session().conversation, moderation, price_book(settings))
    if not verdict.flagged:
        return True
    if settings.safety == "block":
        _hold(HeldMessage(action, verdict))
        return False
    st.warning("\n\n".join([t("safety_warned", lang), *verdict_lines(verdict, lang)]))
    if (note := moderation_note(verdict, lang)) is not None:
        st.caption(note)
    st.session_state[SENT_KEY] = verdict.to_dict()
    return True


def _hold(held: HeldMessage) -> None:
    st.session_state[HELD_KEY] = held
    st.session_state[HELD_TEXT_KEY] = held.action.value or ""


def held_panel(lang: str) -> None:
    """A message kept unsent by the check: why, the message in an editable box, "Send anyway" and "Cancel"."""
    held: HeldMessage | None = st.session_state.get(HELD_KEY)
    if held is None:
        return
    if held.verdict is None:
        st.error(t("safety_words_error", lang, detail=held.problem))
    else:
        st.warning("\n\n".join([t("safety_held", lang), *verdict_lines(held.verdict, lang)]))
        if (note := moderation_note(held.verdict, lang)) is not None:
            st.caption(note)
    st.text_area(t("safety_held_text", lang), key=HELD_TEXT_KEY)
    send, cancel, _ = st.columns([2, 1, 3])
    send.button(t("send_anyway", lang), key="safety_send", help=t("safety_send_help", lang), on_click=_send_anyway)
    cancel.button(t("cancel", lang), key="safety_cancel", on_click=_cancel)


def _send_anyway() -> None:
    """The box's text goes on the next run: as it was held, unchecked; edited, checked again."""
    held: HeldMessage | None = st.session_state.pop(HELD_KEY, None)
    if held is None:
        return
    text = st.session_state.get(HELD_TEXT_KEY, "")
    if text == held.action.value and held.verdict is not None:
        st.session_state[CLEARED_KEY] = (text, held.verdict.to_dict())
    session().send = SendState(pending=Action("prompt", text, images=held.action.images))


def _cancel() -> None:
    st.session_state.pop(HELD_KEY, None)


def after_reply(turn: Turn, lang: str) -> None:
    """After the reply: the user's flagged message that went keeps its verdict, and the reply is checked; a flagged
    reply is marked (its badge drawn here, and by the history from now on), never removed. Both saved."""
    changed: list[Message] = []
    booked = len(turn.conversation.side_calls)
    sent = st.session_state.pop(SENT_KEY, None)
    reply = [m for m in turn.reply if m.role == "assistant"]
    asked = turn.conversation.nodes.get(turn.reply[0].parent_id or "") if turn.asked is not None and reply else None
    if sent is not None and asked is not None and asked.role == "user":
        asked.safety = sent
        changed.append(asked)
    answered = [m for m in reply if m.content.strip()]
    if turn.settings.safety != "off" and answered:
        changed += _check_reply(turn, answered, lang)
    if changed or len(turn.conversation.side_calls) > booked:
        turn.save(changed)


def _check_reply(turn: Turn, answered: Sequence[Message], lang: str) -> list[Message]:
    """The reply's text checked; the last message with text marked when it is flagged."""
    try:
        verdict, moderation = check_text("\n\n".join(m.content for m in answered), turn.settings)
    except ConfigError as error:
        st.error(t("safety_words_error", lang, detail=str(error)))
        return []
    book(turn.conversation, moderation, turn.book)
    if not verdict.flagged:
        return []
    marked = answered[-1]
    marked.safety = verdict.to_dict()
    safety_badge(marked, lang)
    return [marked]


def safety_badge(message: Message, lang: str) -> None:
    """A flagged message's mark: what was found, and whether the moderation model could be asked."""
    if not message.safety:
        return
    verdict = Verdict.from_dict(message.safety)
    key = "safety_badge_reply" if message.role == "assistant" else "safety_badge_user"
    st.warning("\n\n".join([t(key, lang), *verdict_lines(verdict, lang)]), icon="⚠️")
    if (note := moderation_note(verdict, lang)) is not None:
        st.caption(note)


def safety_status(settings: Settings, lang: str) -> None:
    """The connection's line on content safety (SAFETY on): what checks, and whether this provider has moderation."""
    if settings.safety == "off":
        return
    if settings.endpoint in st.session_state.get(NO_MODERATION_KEY, set()):
        st.caption(t("safety_status_list_only", lang, mode=settings.safety))
    else:
        st.caption(t("safety_status", lang, mode=settings.safety, model=settings.safety_moderation_model))
