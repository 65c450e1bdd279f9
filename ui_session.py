"""Session state of one browser tab, and the callbacks that change it (they run before the script,
so widgets drawn afterwards already show the new values)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

import streamlit as st

from config import Settings
from conversation_manager import (
    Conversation,
    Message,
)
from store import Store
from token_tracker import PriceBook


def state() -> st.runtime.state.SessionStateProxy:
    return st.session_state


def default(key: str, value: object) -> None:
    """Seed a widget's value once; widgets then read Session State (never both a default and a state)."""
    if key not in st.session_state:
        st.session_state[key] = value


def apply_conversation_settings(conversation: Conversation) -> None:
    saved = conversation.settings
    s = state()
    for key in ("template", "temperature", "max_tokens", "tools", "provider"):
        if key in saved:
            s[key] = saved[key]
    s["system_prompt"] = saved.get("system_prompt", "")
    if saved.get("provider") and saved.get("model"):
        s[f"model_{saved['provider']}"] = saved["model"]


def show_conversation(conversation: Conversation) -> None:
    s = state()
    s.conversation = conversation
    s.show_all = False
    s.editing = None
    s.pop("held", None)
    st.query_params["chat"] = conversation.id
    apply_conversation_settings(conversation)


def persist(write: Callable[..., object], *args: object) -> bool:
    """Every write to the store goes through here: a locked or read-only database becomes a notice in the page
    (drawn in the UI language by the next run), never a traceback."""
    try:
        write(*args)
    except (sqlite3.Error, OSError) as error:
        state().storage_error = str(error)
        return False
    return True


def unsaved() -> dict[str, Conversation]:
    """Chats whose latest state failed to reach the database: kept here, written whole at the next save."""
    return state().setdefault("unsaved", {})


def save_chat(
    store: Store,
    conversation: Conversation,
    messages: Iterable[Message] | None = None,
    waiting: dict[str, Conversation] | None = None,
) -> bool:
    """Saves ``messages`` (all when None) of the chat; after a failure nothing typed or received is lost: the
    chat stays in the session and the next save that works writes it, and every other waiting chat, whole.

    A turn passes ``waiting`` (``unsaved()`` taken before it streamed): after Stop, Streamlit raises again
    at any session-state access, and the final save must still happen."""
    waiting = unsaved() if waiting is None else waiting
    if not persist(store.save, conversation, None if conversation.id in waiting else messages):
        waiting[conversation.id] = conversation
        return False
    waiting.pop(conversation.id, None)
    for other in list(waiting.values()):
        if not persist(store.save, other):
            break
        waiting.pop(other.id)
    return True


def open_chat(store: Store, conversation_id: str) -> None:
    conversation = unsaved().get(conversation_id) or store.load(conversation_id)
    if conversation is not None:
        show_conversation(conversation)


def new_chat() -> None:
    s = state()
    s.conversation = Conversation()
    s.show_all = False
    s.editing = None
    s.pop("held", None)
    st.query_params.clear()


def delete_chat(store: Store, conversation_id: str) -> None:
    """A chat the database could not delete stays open."""
    if persist(store.delete, conversation_id):
        unsaved().pop(conversation_id, None)
        new_chat()


def rename_chat(store: Store) -> None:
    conversation: Conversation = state().conversation
    conversation.title = state()[f"title_{conversation.id}"].strip()
    if conversation.nodes:
        save_chat(store, conversation, [])


def switch_version(store: Store, message_id: str) -> None:
    conversation: Conversation = state().conversation
    conversation.select(message_id)
    save_chat(store, conversation, [])


def request_action(kind: str, message_id: str | None = None) -> None:
    state().pending = (kind, message_id)
    state().pop("held", None)


def start_editing(message_id: str) -> None:
    state().editing = message_id


def stop_editing() -> None:
    state().editing = None


def release_held() -> None:
    s = state()
    s.pending = s.pop("held")
    s.budget_confirmed = True


def price_book(settings: Settings) -> PriceBook:
    return PriceBook(settings.usd_cny_rate, frozenset(state().local_models))
