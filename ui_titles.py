"""After a chat's first reply: its title written by the model (titling.py), saved, and shown in place by the same
run (app.chat_area draws the page title and the chat list's new entry after it)."""

from __future__ import annotations

import streamlit as st

from titling import generate_title, wants_title
from turn import Turn


def title_after_reply(turn: Turn, lang: str) -> None:
    """Names the chat with the turn's own model when titling wants it and saves it (title and booked call) first,
    so nothing the page does after can lose it; then the rename box is seeded again (ui_chat_list.current_chat) so
    it shows the new title. Nothing is shown when the call fails: the chat keeps its name."""
    conversation, settings = turn.conversation, turn.settings
    if not wants_title(conversation, settings):
        return
    if not generate_title(conversation, turn.targets[0], settings, turn.book, lang):
        return
    turn.save([])
    st.session_state.pop(f"title_{conversation.id}", None)
