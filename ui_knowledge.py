"""The knowledge base on screen: the sidebar's 📚 button opens a dialog to upload files or paste text, and to
look through, preview and delete documents and collections; the sidebar's picker says which collections this
chat's search_knowledge_base sees.

Every change runs in a widget's callback (before the script), so what the dialog and the picker draw next
already shows it; what happened is kept as notices for the dialog to show.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Callable
from functools import partial

import streamlit as st

from config import Settings
from document_store import DocumentInfo, DocumentStore, collection_name
from documents import KINDS, Document, Limits, Refused, pasted_document, read_document
from i18n import t
from knowledge_base import KNOWLEDGE_DIR, SAMPLE_COLLECTION
from ui_auth import owner
from ui_chat import confirm_popover, literal_markdown
from ui_session import default, session
from ui_team import open_store

PICKER_KEY = "kb_collections"
PREVIEW_PASSAGES = 3


@st.cache_resource(show_spinner=False)
def document_index(url: str, person: str) -> DocumentStore:
    """One index per database and person for the app process, on the chats' store (its connection pool); the
    bundled sample is imported into each person's knowledge base on its first use (a database that cannot take it
    now, read-only or locked, is searched as it is: the store logs why)."""
    index = DocumentStore(open_store(url).as_user(person))
    with contextlib.suppress(sqlite3.Error):
        index.import_bundled(KNOWLEDGE_DIR)
    return index


def knowledge_index(settings: Settings) -> DocumentStore:
    """This session's person's knowledge base, in the chats' database (the store app.py opens)."""
    return document_index(settings.database, owner())


def collection_label(name: str, lang: str) -> str:
    return t("kb_sample", lang) if name == SAMPLE_COLLECTION else name


def collection_picker(settings: Settings, lang: str) -> tuple[str, ...]:
    """Which collections search_knowledge_base sees in this chat: every one until the chat chooses; a collection
    that is gone drops out."""
    names = [collection.name for collection in knowledge_index(settings).collections()]
    kept = st.session_state.get(PICKER_KEY)
    st.session_state[PICKER_KEY] = names if kept is None else [name for name in kept if name in names]
    chosen = st.multiselect(
        t("kb_collections", lang),
        names,
        format_func=lambda name: collection_label(name, lang),
        help=t("kb_collections_help", lang),
        key=PICKER_KEY,
    )
    return tuple(chosen)


def knowledge_button(settings: Settings, lang: str) -> None:
    """The 📚 button, and the dialog while it is open (it stays open across reruns until dismissed)."""
    st.button(t("kb_open", lang), key="kb_open", help=t("kb_open_help", lang), on_click=_open, width="stretch")
    if session().knowledge_open:
        st.dialog(t("kb_title", lang), width="large", on_dismiss=_close)(knowledge_panel)(settings, lang)


def _open() -> None:
    session().knowledge_open = True


def _close() -> None:
    session().knowledge_open = False


def knowledge_panel(settings: Settings, lang: str) -> None:
    index = knowledge_index(settings)
    limits = Limits.of(settings.knowledge_max_file_mb, settings.knowledge_max_passages)
    st.caption(t("kb_intro", lang))
    notices, session().knowledge_notices = session().knowledge_notices, []
    with st.container():  # always drawn: what follows keeps its place, and its state, as notices come and go
        for level, text in notices:
            (st.success if level == "success" else st.error)(text)
    names = [collection.name for collection in index.collections()]
    default("kb_target", next((name for name in names if name != SAMPLE_COLLECTION), t("kb_default_collection", lang)))
    st.selectbox(
        t("kb_target", lang),
        sorted({*names, st.session_state["kb_target"]}),
        format_func=lambda name: collection_label(name, lang),
        accept_new_options=True,
        help=t("kb_target_help", lang),
        key="kb_target",
    )
    key = f"kb_upload_{session().knowledge_uploads}"
    st.file_uploader(
        t("kb_upload", lang, mb=settings.knowledge_max_file_mb),
        type=list(KINDS),
        accept_multiple_files=True,
        max_upload_size=settings.knowledge_max_file_mb,
        key=key,
        on_change=_take_uploads,
        args=(index, limits, key, lang),
    )
    st.markdown(f"**{t('kb_paste', lang)}**")
    title, add = st.columns([4, 1], vertical_alignment="bottom")
    title.text_input(t("kb_paste_title", lang), key="kb_paste_title")
    add.button(
        t("kb_paste_add", lang), key="kb_paste_add", on_click=_take_paste, args=(index, limits, lang), width="stretch"
    )
    st.text_area(t("kb_paste_text", lang), key="kb_paste_text", height=120)
    document_list(index, lang)


def document_list(index: DocumentStore, lang: str) -> None:
    """Each collection with its documents: a preview of each document's first passages, and delete buttons that
    ask first."""
    st.subheader(t("kb_documents", lang))
    collections = index.collections()
    if not any(collection.documents for collection in collections):
        st.caption(t("kb_no_documents", lang))
    for collection in collections:
        label = literal_markdown(collection_label(collection.name, lang))
        heading, remove = st.columns([4, 1], vertical_alignment="center")
        heading.markdown(
            t("kb_collection_line", lang, name=label, documents=collection.documents, passages=collection.passages)
        )
        with remove:
            confirm_popover(
                t("kb_delete", lang),
                t("kb_delete_collection_confirm", lang, name=label, documents=collection.documents),
                t("kb_delete_yes", lang),
                f"kb_drop_{collection.name}",
                _delete_collection,
                (index, collection.name, lang),
                width="stretch",
            )
        for document in index.documents(collection.name):
            document_entry(index, document, lang)


def document_entry(index: DocumentStore, document: DocumentInfo, lang: str) -> None:
    name = literal_markdown(document.name)
    size = f"{math.ceil(document.size / 102.4) / 10:.1f}"  # rounded up: a small note is 0.1 KB, not 0.0
    line = t("kb_document_line", lang, name=name, kind=document.kind, passages=document.passages, size=size)
    with st.expander(line):
        for passage in index.passages(document.id, PREVIEW_PASSAGES):
            st.caption(f"#{passage.number} · {literal_markdown(passage.title)}")
            st.markdown(literal_markdown(passage.text))
        if document.passages > PREVIEW_PASSAGES:
            st.caption(t("kb_preview_more", lang, count=document.passages - PREVIEW_PASSAGES))
        confirm_popover(
            t("kb_delete", lang),
            t("kb_delete_confirm", lang, name=name, passages=document.passages),
            t("kb_delete_yes", lang),
            f"kb_delete_{document.id}",
            _delete_document,
            (index, document, lang),
        )


# --- callbacks: each change, and what it says ---------------------------------------------------


def _notice(level: str, text: str) -> None:
    session().knowledge_notices.append((level, text))


def _saving(action: Callable[[], object], lang: str) -> bool:
    """Runs a write to the index; a database error becomes a notice, never a traceback."""
    try:
        action()
    except sqlite3.Error as error:
        _notice("error", t("kb_not_saved", lang, detail=literal_markdown(str(error))))
        return False
    return True


def _add(index: DocumentStore, name: str, read: Callable[[], Document], lang: str) -> bool:
    """Reads one document (``name`` is what the user gave) and adds it to the target collection; a refusal is a
    notice and changes nothing."""
    collection = collection_name(st.session_state.get("kb_target") or "") or t("kb_default_collection", lang)
    try:
        document = read()
        added = index.add(collection, document)
    except Refused as refused:
        reason = t(f"kb_refused_{refused.kind}", lang, **_shown(refused.values))
        _notice("error", t("kb_refused", lang, name=literal_markdown(name), reason=reason))
        return False
    except sqlite3.Error as error:
        _notice("error", t("kb_not_saved", lang, detail=literal_markdown(str(error))))
        return False
    shown = literal_markdown(collection_label(collection, lang))
    added_name = literal_markdown(added.name)
    _notice("success", t("kb_added", lang, name=added_name, collection=shown, passages=added.passages))
    picked = st.session_state.get(PICKER_KEY)
    if picked is not None and collection not in picked:  # a chat that searches its collections sees the new one
        st.session_state[PICKER_KEY] = [*picked, collection]
    return True


def _shown(values: dict[str, object]) -> dict[str, object]:
    """A refusal's values as Markdown that shows them literally (a file's name may hold any character)."""
    return {key: literal_markdown(value) if isinstance(value, str) else value for key, value in values.items()}


def _take_uploads(index: DocumentStore, limits: Limits, key: str, lang: str) -> None:
    """Each uploaded file on its own: one refused (damaged, too large) leaves the others and the index as they were.
    The uploader then starts empty."""
    for upload in st.session_state.get(key) or []:
        _add(index, upload.name, partial(read_document, upload.name, upload.getvalue(), limits), lang)
    session().knowledge_uploads += 1


def _take_paste(index: DocumentStore, limits: Limits, lang: str) -> None:
    title = st.session_state.get("kb_paste_title", "").strip() or t("kb_pasted", lang)
    text = st.session_state.get("kb_paste_text", "")
    if _add(index, title, lambda: pasted_document(title, text, limits), lang):
        st.session_state["kb_paste_title"] = ""
        st.session_state["kb_paste_text"] = ""


def _delete_document(index: DocumentStore, document: DocumentInfo, lang: str) -> None:
    if _saving(lambda: index.delete(document.id), lang):
        _notice("success", t("kb_deleted", lang, name=literal_markdown(document.name)))


def _delete_collection(index: DocumentStore, name: str, lang: str) -> None:
    if _saving(lambda: index.delete_collection(name), lang):
        _notice("success", t("kb_deleted", lang, name=literal_markdown(collection_label(name, lang))))
