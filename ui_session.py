"""Session state of one browser tab, and the callbacks that change it (they run before the script,
so widgets drawn afterwards already show the new values)."""

from __future__ import annotations

import streamlit as st

from config import Settings
from conversation_manager import (
    Conversation,
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


def open_chat(store: Store, conversation_id: str) -> None:
    conversation = store.load(conversation_id)
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
    store.delete(conversation_id)
    new_chat()


def rename_chat(store: Store) -> None:
    conversation: Conversation = state().conversation
    conversation.title = state()[f"title_{conversation.id}"].strip()
    if conversation.nodes:
        store.save(conversation, [])


def switch_version(store: Store, message_id: str) -> None:
    conversation: Conversation = state().conversation
    conversation.select(message_id)
    store.save(conversation, [])


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
