"""Content safety on screen (SAFETY=warn|block): the user's message (typed, or an edit of an earlier one) checked
before it goes, the reply (each compared variant's answer too) after it came.

content_safety.py checks; this module decides on screen. Block: a flagged message is kept unsent in an editable box
with why, until "Send anyway" (unchanged: it goes as it is; edited: it is checked again) or "Cancel". Warn: it goes,
with a warning. A flagged message or reply keeps its verdict (Message.safety) and shows it as a badge; nothing is
deleted. A provider found without POST /moderations is not asked again in this session, and each verdict says so.
Each moderation call is a row of the usage log; a check's rows before sending go with the chat of the message that
goes next (a held message's chat may never be saved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from compare import Comparison
from config import ConfigError, Settings
from content_safety import Verdict, book, check, combine, load_words
from conversation_manager import Conversation, Message
from events import CallRecord
from i18n import t
from llm_client import LLMClient, Moderation, targets_for
from token_tracker import PriceBook
from turn import Action, SendState, Turn
from ui_session import price_book, send_or_cancel, session
from ui_text import literal_markdown

HELD_KEY = "safety_held"  # session state: the message kept unsent, with its verdict
HELD_TEXT_KEY = "safety_held_text"  # its editable box
CLEARED_KEY = "safety_cleared"  # the text "Send anyway" lets through once, unchecked
SENT_KEY = "safety_sent"  # the verdict of a flagged message that went: kept with it once the turn has added it
NO_MODERATION_KEY = "safety_no_moderation"  # endpoints that answered that they offer no POST /moderations
CALLS_KEY = "safety_calls"  # usage log rows of the checks before sending: put on the chat of the next message that goes


@dataclass(frozen=True)
class HeldMessage:
    action: Action  # as asked: a prompt, or an edit (its text where app.go reads it, the edit box's state)
    text: str  # what would have gone
    verdict: Verdict | None  # None: the list could not be read (``problem`` says why)
    problem: str = ""


def verdict_lines(verdict: Verdict, lang: str) -> list[str]:
    """Why a text was flagged, one line per word-list hit and per moderation category."""
    lines = []
    for hit in verdict.words:
        key = "safety_timed_out" if hit.timed_out else "safety_word"
        lines.append(t(key, lang, line=hit.line, rule=literal_markdown(hit.rule), found=literal_markdown(hit.found)))
    lines += [
        t("safety_category", lang, category=literal_markdown(name), score=score) for name, score in verdict.categories
    ]
    return lines


def moderation_note(verdict: Verdict, lang: str) -> str | None:
    """What to say when the moderation model was not asked: the provider has none, or the call failed."""
    if verdict.moderation == "not_offered":
        return t("safety_no_moderation", lang)
    if verdict.moderation == "failed":
        return t("safety_moderation_failed", lang)
    return None


def check_text(text: str, settings: Settings, calls: list[CallRecord], client: LLMClient | None = None) -> Verdict:
    """``text`` checked with these settings' list and provider (not asked again once it said it has no moderation),
    through ``client`` (a turn's, when the caller has one; else made here); ``calls`` gets the moderation call's usage
    log row. Raises ConfigError when the list cannot be used."""
    words = load_words(settings.safety_words_file)
    absent: set[str] = st.session_state.setdefault(NO_MODERATION_KEY, set())
    if settings.endpoint in absent:
        return combine(words.hits(text), Moderation(offered=False))
    if client is None:
        client = targets_for(settings)[0].client
    verdict = check(text, words, client, settings.safety_moderation_model, calls)
    if verdict.moderation == "not_offered":
        absent.add(settings.endpoint)
    return verdict


def _edit_key(message_id: str | None) -> str:
    """The edit box's state (ui_chat.render_user), where app.go reads an edit's text."""
    return f"edit_text_{message_id}"


def outgoing(action: Action) -> str | None:
    """The user's text an action sends: a prompt's, or an edit's (as carry_out sends it); None for an action that
    sends none of the user's (answer again, continue, approve)."""
    if action.kind == "prompt":
        return action.value or ""
    if action.kind == "edit":
        return str(st.session_state.get(_edit_key(action.value), "")).strip()
    return None


def safe_to_send(action: Action, settings: Settings, lang: str) -> bool:
    """Whether a prompt or an edit goes now. SAFETY=off: always, unchecked. A flagged one waits unsent (block) or
    goes with a warning (warn); a text "Send anyway" let through goes unchecked, marked with what was found. What
    goes takes the checks' usage log rows to its chat, saved with it."""
    going = _cleared(action, settings, lang)
    if going and st.session_state.get(CALLS_KEY):
        book(session().conversation, st.session_state.pop(CALLS_KEY), price_book(settings))
    return going


def _cleared(action: Action, settings: Settings, lang: str) -> bool:
    text = outgoing(action)
    if settings.safety == "off" or text is None or not text.strip():
        return True
    cleared: tuple[str, dict[str, Any]] | None = st.session_state.pop(CLEARED_KEY, None)
    if cleared is not None and cleared[0] == text:
        st.session_state[SENT_KEY] = cleared[1]
        return True
    calls: list[CallRecord] = st.session_state.setdefault(CALLS_KEY, [])
    try:
        verdict = check_text(text, settings, calls)
    except ConfigError as error:
        _hold(HeldMessage(action, text, None, str(error)))
        return False
    if not verdict.flagged:
        return True
    if settings.safety == "block":
        _hold(HeldMessage(action, text, verdict))
        return False
    st.warning("\n\n".join([t("safety_warned", lang), *verdict_lines(verdict, lang)]))
    if (note := moderation_note(verdict, lang)) is not None:
        st.caption(note)
    st.session_state[SENT_KEY] = verdict.to_dict()
    return True


def _hold(held: HeldMessage) -> None:
    st.session_state[HELD_KEY] = held
    st.session_state[HELD_TEXT_KEY] = held.text


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
    send_or_cancel(lang, ("safety_send", "safety_cancel"), _send_anyway, _cancel, t("safety_send_help", lang))


def _send_anyway() -> None:
    """The box's text goes on the next run, as what was held (a prompt, or the edit of its message): as it was held,
    unchecked; edited, checked again."""
    held: HeldMessage | None = st.session_state.pop(HELD_KEY, None)
    if held is None:
        return
    text = st.session_state.get(HELD_TEXT_KEY, "")
    action = held.action
    if action.kind == "edit":
        st.session_state[_edit_key(action.value)] = text
        session().editing = None  # its edit box closes (app.go would close it): this box's text is the edit
    else:
        action = replace(action, value=text)
    if text == held.text and held.verdict is not None:
        st.session_state[CLEARED_KEY] = (text, held.verdict.to_dict())
    session().send = SendState(pending=action)


def _cancel() -> None:
    st.session_state.pop(HELD_KEY, None)


def after_reply(turn: Turn, lang: str) -> None:
    """After the reply: the user's flagged message that went keeps its verdict, and the reply is checked; a flagged
    reply is marked (its badge drawn here, and by the history from now on), never removed. Both saved."""
    changed: list[Message] = []
    logged = len(turn.conversation.calls)
    sent = st.session_state.pop(SENT_KEY, None)
    reply = [m for m in turn.reply if m.role == "assistant"]
    asked = turn.conversation.nodes.get(turn.reply[0].parent_id or "") if turn.asked is not None and reply else None
    if sent is not None and asked is not None and asked.role == "user":
        asked.safety = sent
        changed.append(asked)
    answered = [m for m in reply if m.content.strip()]
    if turn.settings.safety != "off" and answered:
        changed += _check_reply(turn.conversation, answered, turn.settings, turn.book, turn.targets[0].client, lang)
    if changed or len(turn.conversation.calls) > logged:
        turn.save(changed)


def keep_sent_verdict(comparison: Comparison) -> None:
    """A compared question that went flagged (warn, or "Send anyway") keeps its verdict, as after_reply keeps a
    replied one's; saved now, as the comparison saved the question."""
    sent = st.session_state.pop(SENT_KEY, None)
    if sent is not None:
        comparison.question.safety = sent
        comparison.save([comparison.question])


def check_compared(comparison: Comparison, settings: Settings, lang: str) -> None:
    """After a comparison, each variant's answer checked as a reply is: a flagged one marked (its badge is drawn in
    its column from the next run on), never removed; the marks and the checks' usage log rows saved."""
    if settings.safety == "off":
        return
    conversation = comparison.conversation
    logged, changed = len(conversation.calls), []
    client = comparison.lanes[0].turn.targets[0].client  # the variants differ in model, not provider
    for lane in comparison.lanes:
        answered = [m for m in lane.reply if m.role == "assistant" and m.content.strip()]
        if answered:
            changed += _check_reply(conversation, answered, settings, price_book(settings), client, lang, badge=False)
    if changed or len(conversation.calls) > logged:
        comparison.save(changed)


def _check_reply(
    conversation: Conversation,
    answered: Sequence[Message],
    settings: Settings,
    prices: PriceBook,
    client: LLMClient,
    lang: str,
    badge: bool = True,
) -> list[Message]:
    """A reply's text checked (through the client that asked for it), its moderation call logged on the chat; the last
    message with text marked (and its badge drawn here, with ``badge``) when it is flagged."""
    calls: list[CallRecord] = []
    try:
        verdict = check_text("\n\n".join(m.content for m in answered), settings, calls, client)
    except ConfigError as error:
        st.error(t("safety_words_error", lang, detail=str(error)))
        return []
    book(conversation, calls, prices)
    if not verdict.flagged:
        return []
    marked = answered[-1]
    marked.safety = verdict.to_dict()
    if badge:
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
