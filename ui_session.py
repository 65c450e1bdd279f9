"""Session state of one browser tab, and the callbacks that change it (they run before the script,
so widgets drawn afterwards already show the new values)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import streamlit as st

from config import Secret, Settings
from conversation_manager import (
    Conversation,
    Message,
)
from function_tools import ToolRegistry
from i18n import t
from llm_client import ModelList
from local_backend import LocalModelServer
from local_servers import FoundServer
from store import Store
from token_tracker import PriceBook
from turn import Action, ActionKind, ChatSettings, SendState
from ui_params import restore_parameters

SESSION_KEY = "session"


@dataclass
class Session:
    """Everything one browser tab keeps between runs besides its widgets' values (those stay under their keys)."""

    conversation: Conversation = field(default_factory=Conversation)
    send: SendState = SendState()
    show_all: bool = False
    editing: str | None = None  # the user message whose edit box is open
    unsaved: dict[str, Conversation] = field(default_factory=dict)  # chats the database could not take yet
    storage_error: str | None = None  # shown by the next run, in the UI language
    chat_missing: bool = False  # the address named a chat this person cannot open: said once
    local_models: set[str] = field(default_factory=set)
    local_server: LocalModelServer | None = None
    model_lists: dict[str, ModelList] = field(default_factory=dict)  # per endpoint
    typed_keys: dict[str, Secret] = field(default_factory=dict)  # per endpoint, this session only
    api_key_endpoint: str | None = None  # whose key the key field holds
    registry: ToolRegistry | None = None
    import_notice: str | None = None
    imported: str | None = None  # the file id of the last upload imported
    knowledge_open: bool = False  # the knowledge base's dialog, open until dismissed
    knowledge_notices: list[tuple[str, str]] = field(default_factory=list)  # (success|error, text) for the dialog
    knowledge_uploads: int = 0  # counts the uploads taken: the uploader's key, so it starts empty after each
    provider_chosen: bool = False  # the user picked a provider (or the demo model): detection decides no more
    found_server: FoundServer | None = None  # the server on this machine the provider box was set to, once
    looking: bool = False  # this run: the first look for such servers, which may choose the backend, is under way
    seeded: dict[str, object] = field(default_factory=dict)  # widget values as follow_default last set them
    page_run: bool = False  # this run draws the whole page, not the chat fragment alone (app.chat_area)


def started() -> bool:
    """Whether this tab has run before (its first run picks the chat to open)."""
    return SESSION_KEY in st.session_state


def session() -> Session:
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = Session()
    current: Session = st.session_state[SESSION_KEY]
    return current


def default(key: str, value: object) -> None:
    """Seed a widget's value once; widgets then read Session State (never both a default and a state)."""
    if key not in st.session_state:
        st.session_state[key] = value


def follow_default(key: str, value: object) -> None:
    """Seed a widget's value, and seed it again when its default changes (another backend chosen) while the widget
    still holds what was seeded last: a value the user (or an opened chat) set stays."""
    seeded = session().seeded
    if key not in st.session_state or (key in seeded and st.session_state[key] == seeded[key]):
        st.session_state[key] = value
        seeded[key] = value


def apply_conversation_settings(conversation: Conversation) -> None:
    """Sets the controls' widgets to what the chat kept of them."""
    saved = ChatSettings.from_dict(conversation.settings)
    widgets = {
        "template": saved.template,
        "temperature": saved.temperature,
        "max_tokens": saved.max_tokens,
        "tools": list(saved.tools) if saved.tools is not None else None,
        "provider": saved.provider,
        "system_prompt": saved.system_prompt,
        "approve_all": saved.approve_all,  # ui_approval.approval_controls's
        "approve_tools": list(saved.approve_tools) if saved.approve_tools is not None else None,
    }
    for key, value in widgets.items():
        if value is not None:
            st.session_state[key] = value
    if saved.provider and saved.model:
        st.session_state[f"model_{saved.provider}"] = saved.model
    if saved.extras is not None:
        restore_parameters(saved.extras)
    if saved.collections is not None:
        st.session_state["kb_collections"] = list(saved.collections)  # ui_knowledge.collection_picker's


def _switch_to(conversation: Conversation) -> None:
    """The chat shown from now on: earlier messages folded, no edit box open, nothing held over budget."""
    s = session()
    s.conversation = conversation
    s.show_all = False
    s.editing = None
    s.send = replace(s.send, held=None)


def show_conversation(conversation: Conversation) -> None:
    _switch_to(conversation)
    st.query_params["chat"] = conversation.id
    apply_conversation_settings(conversation)


def persist(write: Callable[..., object], *args: object) -> bool:
    """Every write to the store goes through here: a locked or read-only database becomes a notice in the page
    (drawn in the UI language by the next run), never a traceback."""
    try:
        write(*args)
    except (sqlite3.Error, OSError) as error:
        session().storage_error = str(error)
        return False
    return True


def unsaved() -> dict[str, Conversation]:
    """Chats whose latest state failed to reach the database: kept here, written whole at the next save."""
    return session().unsaved


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
    _switch_to(Conversation())
    st.query_params.clear()


def delete_chat(store: Store, conversation_id: str) -> None:
    """A chat the database could not delete stays open."""
    if persist(store.delete, conversation_id):
        unsaved().pop(conversation_id, None)
        new_chat()


def rename_chat(store: Store) -> None:
    conversation = session().conversation
    conversation.title = st.session_state[f"title_{conversation.id}"].strip()
    if conversation.nodes:
        save_chat(store, conversation, [])


def switch_version(store: Store, message_id: str) -> None:
    conversation = session().conversation
    conversation.select(message_id)
    save_chat(store, conversation, [])


def request_action(kind: ActionKind, message_id: str | None = None) -> None:
    session().send = SendState(pending=Action(kind, message_id))


def start_editing(message_id: str) -> None:
    session().editing = message_id


def stop_editing() -> None:
    session().editing = None


def release_held() -> None:
    """Send anyway: the held action goes out on the next run, over budget."""
    s = session()
    s.send = SendState(pending=s.send.held, confirmed=True)


def cancel_held() -> None:
    s = session()
    s.send = replace(s.send, held=None)


def send_or_cancel(
    lang: str,
    keys: tuple[str, str],
    on_send: Callable[[], None] | None,
    on_cancel: Callable[[], None],
    send_help: str | None = None,
) -> None:
    """Under a message kept unsent: "Send anyway" (none where sending is not the user's to decide) and "Cancel"."""
    send, cancel, _ = st.columns([2, 1, 3])
    if on_send is not None:
        send.button(t("send_anyway", lang), key=keys[0], help=send_help, on_click=on_send)
    cancel.button(t("cancel", lang), key=keys[1], on_click=on_cancel)


def price_book(settings: Settings) -> PriceBook:
    """Prices for replies from ``settings``' endpoint: the demo model's are free, and every model of the server found
    running on this machine when that is the endpoint (by its address: a paid gateway may serve the same names)."""
    s = session()
    here = s.found_server is not None and s.found_server.serves(settings.endpoint)
    return PriceBook(settings.usd_cny_rate, frozenset(s.local_models), on_this_machine=here)
