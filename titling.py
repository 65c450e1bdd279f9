"""A chat's title written by the model after its first reply: whether to ask, and asking.

A new chat is named after the first line of its first message (``automatic_title``). Once the first reply has
finished, one short non-stream request (``llm_client.write_title``) asks the chat's model for a better name; its cost is
booked to the chat as a side call, so the chat's and the day's totals count it. Never on the demo model (it is not
good at it), never when AUTO_TITLE is off, never over a name the user gave. A failed call changes nothing: the
chat keeps its first line, and the failure is only logged.
"""

from __future__ import annotations

import logging
from typing import Final

from config import Settings
from conversation_manager import DONE, TITLE_LENGTH, Conversation, Message, automatic_title, transcript
from llm_client import Target, TitleFailed, write_title
from prompt_templates import title_messages
from token_tracker import PriceBook
from wire_trace import TraceBudget, TraceTape

log = logging.getLogger(__name__)

TITLE: Final = "title"  # the side call's kind
TRANSCRIPT_CHARS = 4000  # of the first exchange sent: enough to name it, little to pay for


def wants_title(conversation: Conversation, settings: Settings) -> bool:
    """Whether to ask for a title now: AUTO_TITLE on, not the demo model, the chat's first reply finished without
    error, no title asked for before, and the title still the one its first message gave (the user renamed none)."""
    if settings.auto_title != "on" or settings.is_local:
        return False
    turns = conversation.turns()
    if len(turns) != 1 or any(call.kind == TITLE for call in conversation.side_calls):
        return False
    last = turns[0][-1]
    finished = last.role == "assistant" and last.status == DONE and last.error is None and bool(last.content.strip())
    return finished and conversation.title in _automatic_titles(conversation)


def _automatic_titles(conversation: Conversation) -> set[str]:
    """The titles the chat's first message gave, in any of its versions (an edit of it keeps the first one's)."""
    return {automatic_title(m.content) for m in conversation.nodes.values() if m.parent_id is None and m.role == "user"}


def generate_title(conversation: Conversation, target: Target, settings: Settings, book: PriceBook, lang: str) -> bool:
    """Asks ``target`` (the chat's model: the turn's first target) to name it after its first exchange; on success
    sets the title and books the call (priced by ``book``) as a side call. False, with the chat left as it was, when the
    call failed or said nothing usable. The call's wire trace (TRACE on) goes with the first reply."""
    first = conversation.turns()[0]
    kb = settings.trace_max_kb if settings.trace == "on" else None
    tape = TraceTape(0, "title", TraceBudget(kb * 1024)) if kb is not None else None
    messages = title_messages(lang, transcript([m for m in first if m.role != "tool"])[:TRANSCRIPT_CHARS])
    try:
        text, call = write_title(target, messages, TITLE_LENGTH, tape=tape)
    except TitleFailed as failure:
        log.warning("no title for a chat: %s", failure)
        conversation.log_calls([failure.call], book)  # the usage log's row of a failed call too
        return False
    finally:
        if tape is not None:
            conversation.traces.setdefault(_first_reply(first).id, []).append(tape.finish().to_dict())
    conversation.title = text
    conversation.log_calls([call], book, TITLE)
    return True


def _first_reply(turn: list[Message]) -> Message:
    """The first assistant message of a turn: the reply's traces are kept under its id."""
    return next(m for m in turn if m.role == "assistant")
