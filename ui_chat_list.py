"""The sidebar's chat list: pinned chats on top, the rest under relative dates (chat_groups), filtered by folder or
tag, archived chats on request; and the open chat's title, organising (pin, archive, folder, tags) and deleting.

One query draws the list (Store.recent or Store.search); the filters' folders and tags are two small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chat_groups import group
from i18n import t
from store import ConversationSummary, Store, label
from ui_chat import confirm_popover, literal_markdown
from ui_session import default, delete_chat, new_chat, open_chat, persist, rename_chat, session
from ui_team import share_popover

SIDEBAR_CHATS = 30
PIN_ICON = ":material/push_pin:"
ARCHIVED_ICON = ":material/archive:"


@dataclass(frozen=True)
class ChatList:
    """What the page run's list drew, and the places it left for the open chat (drawn by the chat fragment, which a
    message sent reruns: open_chat_places)."""

    entry: DeltaGenerator  # the open chat's entry, on top, while the list drawn does not hold it (a new chat, one
    # stored since the page run, or one beyond the chats listed)
    current: DeltaGenerator  # the open chat's title, organising and deleting
    listed: frozenset[str]
    unfiltered: bool
    folders: list[str]
    tags: list[str]


def chat_list(store: Store, lang: str) -> ChatList:
    """New chat, search, filters, the chats in their groups, and the places of the open chat's own parts."""
    conversation = session().conversation
    st.subheader(t("chats", lang))
    st.button(t("new_chat", lang), key="new_chat", on_click=new_chat, use_container_width=True)
    query = st.text_input(t("search_chats", lang), key="chat_search", placeholder="🔍")
    folders, tags = store.folders(), store.tags()
    folder = filter_picker("chat_folder_filter", folders, t("folder_filter", lang), t("all_folders", lang))
    tag = filter_picker("chat_tag_filter", tags, t("tag_filter", lang), t("all_tags", lang))
    archived = st.toggle(t("show_archived", lang), key="show_archived")
    entry = st.empty()
    if query.strip():  # archived chats too: search is how one finds them
        summaries = store.search(query, folder=folder, tag=tag)
        if not summaries:
            st.caption(t("no_results", lang))
        for summary in summaries:
            chat_button(store, summary, conversation.id, lang)
    else:
        summaries = store.recent(SIDEBAR_CHATS, archived=archived, folder=folder, tag=tag)
        if archived and not summaries:
            st.caption(t("no_archived", lang))
        for shown in group(summaries, st.context.timezone):
            st.caption(shown.label(lang))
            for summary in shown.items:
                chat_button(store, summary, conversation.id, lang)
    current = st.empty()
    share_popover(store, conversation, lang)  # signed in only
    unfiltered = not (query.strip() or folder or tag or archived)
    return ChatList(entry, current, frozenset(s.id for s in summaries), unfiltered, folders, tags)


def open_chat_places(places: ChatList, store: Store, lang: str) -> Callable[[], None]:
    """The open chat's entry (where the list does not hold it) and controls, drawn in every run of the chat
    fragment (a fragment's writes outside it are cleared at each of its runs). Returns what draws, after a reply in
    this run, what that reply changed here: a new chat's entry and controls."""
    conversation = session().conversation
    drawn = bool(conversation.nodes)

    def draw(found: ConversationSummary | None) -> None:
        if found is not None and places.unfiltered and found.id not in places.listed:
            with places.entry.container():
                chat_button(store, found, conversation.id, lang)
        else:
            places.entry.empty()
        if conversation.nodes:
            with places.current.container():
                current_chat(store, found, places.folders, places.tags, lang)
        else:
            places.current.empty()

    draw(store.summary(conversation.id) if drawn else None)

    def redraw() -> None:
        """A new chat's first reply stored it: its entry (the open one) and what can be done with it. Only where
        this run drew none (a widget's key may be drawn once per run)."""
        found = None if drawn else store.summary(conversation.id)
        if found is not None:
            draw(found)

    return redraw


def filter_picker(key: str, names: list[str], title: str, everything: str) -> str | None:
    """A filter's selectbox (None: every chat), drawn only when there is something to pick; a name that is gone
    (its last chat moved out) goes back to every chat."""
    if not names:
        return None
    if st.session_state.get(key) not in names:
        st.session_state[key] = None
    picked: str | None = st.selectbox(
        title, [None, *names], format_func=lambda name: everything if name is None else name, key=key
    )
    return picked


def chat_button(store: Store, summary: ConversationSummary, current_id: str, lang: str) -> None:
    """One chat of the list: a pin on a pinned one; an archived one is marked and has its Restore button."""
    title = literal_markdown(summary.title) if summary.title else t("untitled", lang)
    place, side = st.columns([3, 1], vertical_alignment="center") if summary.archived else (st.container(), None)
    place.button(
        title,
        key=f"open_{summary.id}",
        icon=PIN_ICON if summary.pinned else ARCHIVED_ICON if summary.archived else None,
        help=literal_markdown(summary.snippet) if summary.snippet else None,
        on_click=open_chat,
        args=(store, summary.id),
        type="primary" if summary.id == current_id else "secondary",
        use_container_width=True,
    )
    if side is not None:
        side.button(
            t("restore", lang),
            key=f"restore_{summary.id}",
            type="tertiary",
            on_click=organize,
            args=(store.set_archived, summary.id, False),
        )


def current_chat(
    store: Store, summary: ConversationSummary | None, folders: list[str], tags: list[str], lang: str
) -> None:
    """The open chat's title, then Organise and Delete side by side (a chat not stored yet has no Organise)."""
    conversation = session().conversation
    default(f"title_{conversation.id}", conversation.title)
    st.text_input(t("rename", lang), key=f"title_{conversation.id}", on_change=rename_chat, args=(store,))
    left, right = st.columns(2)
    if summary is not None:
        with left:
            organize_popover(store, summary, folders, tags, lang)
    with right:
        confirm_popover(
            t("delete", lang),
            t("delete_confirm", lang, title=literal_markdown(conversation.title)),
            t("delete_yes", lang),
            "delete_yes",
            delete_chat,
            (store, conversation.id),
            width="stretch",
        )


def organize_popover(
    store: Store, summary: ConversationSummary, folders: list[str], tags: list[str], lang: str
) -> None:
    """Pin or unpin, archive or restore, the folder (one, or a new name) and the tags (any, or new ones)."""
    chat_id = summary.id
    with st.popover(t("organize", lang), width="stretch"):
        st.button(
            t("unpin" if summary.pinned else "pin", lang),
            key="pin_chat",
            icon=PIN_ICON,
            on_click=organize,
            args=(store.set_pinned, chat_id, not summary.pinned),
        )
        if summary.archived:
            st.button(
                t("restore", lang), key="restore_chat", on_click=organize, args=(store.set_archived, chat_id, False)
            )
        else:
            st.button(
                t("archive", lang),
                key="archive_chat",
                icon=ARCHIVED_ICON,
                help=t("archive_help", lang),
                on_click=archive_chat,
                args=(store, chat_id),
            )
        folder_key, tags_key = f"folder_{chat_id}", f"tags_{chat_id}"
        default(folder_key, summary.folder)
        current = st.session_state[folder_key]
        st.selectbox(
            t("folder", lang),
            ["", *folders] if current in folders or not current else ["", current, *folders],
            format_func=lambda name: name or t("no_folder", lang),
            accept_new_options=True,
            help=t("folder_help", lang),
            key=folder_key,
            on_change=change_folder,
            args=(store, chat_id),
        )
        default(tags_key, list(summary.tags))
        st.multiselect(
            t("chat_tags", lang),
            sorted({*tags, *st.session_state[tags_key]}),
            accept_new_options=True,
            help=t("chat_tags_help", lang),
            key=tags_key,
            on_change=change_tags,
            args=(store, chat_id),
        )


def organize(write: Callable[[str, bool], None], chat_id: str, value: bool) -> None:
    persist(write, chat_id, value)


def archive_chat(store: Store, chat_id: str) -> None:
    """Archiving the open chat starts a new one, as deleting does (ChatGPT and Open WebUI do the same)."""
    if persist(store.set_archived, chat_id, True) and session().conversation.id == chat_id:
        new_chat()


def change_folder(store: Store, chat_id: str) -> None:
    """The folder picked or typed, as the store keeps its name (trimmed, cut); none when emptied."""
    key = f"folder_{chat_id}"
    st.session_state[key] = label(st.session_state[key] or "")
    persist(store.set_folder, chat_id, st.session_state[key])


def change_tags(store: Store, chat_id: str) -> None:
    """The tags picked or typed, as the store keeps them (trimmed, cut, no empty one or repeat)."""
    key = f"tags_{chat_id}"
    st.session_state[key] = list(dict.fromkeys(name for tag in st.session_state[key] if (name := label(tag))))
    persist(store.set_tags, chat_id, st.session_state[key])
