"""The response cache in the sidebar's parameters panel (RESPONSE_CACHE=on): the switch that asks for a cached answer
at any temperature (at temperature 0 one is used anyway), how many answers are cached, and clearing them (asked
first). A reply answered from the cache says so where replies show their badges (ui_chat.render_badges)."""

from __future__ import annotations

import logging
import sqlite3

import streamlit as st

from config import Settings
from i18n import t
from response_cache import ResponseCache, response_cache
from store import Store
from ui_chat import confirm_popover
from ui_session import price_book, session

log = logging.getLogger(__name__)

USE_CACHE = "use_cache"  # the switch's key: its value is the next message's TurnChoices.use_cache
CLEARED = "cache_cleared"  # how many answers the last clearing deleted (None: it failed), shown once


COUNTED = "cache_counted"  # (the chat and reply it was counted at, the count): not a query on every page run


def _clear(cache: ResponseCache) -> None:
    st.session_state.pop(COUNTED, None)
    try:
        st.session_state[CLEARED] = cache.clear()
    except sqlite3.Error:  # logged by the backend
        st.session_state[CLEARED] = None


def _cached_count(cache: ResponseCache) -> int | None:
    """How many answers are cached, counted again only after a reply (which may have kept one), in another chat or
    branch, or after clearing: a count is a database round trip, and most page runs change nothing."""
    conversation = session().conversation
    at = (conversation.id, conversation.leaf_id)
    counted = st.session_state.get(COUNTED)
    if counted is not None and counted[0] == at:
        return counted[1]
    try:
        count: int | None = cache.count()
    except sqlite3.Error:
        log.warning("response cache: the database failed, its size is not shown")
        count = None
    st.session_state[COUNTED] = (at, count)
    return count


def cache_controls(settings: Settings, store: Store, lang: str) -> bool:
    """Draws the cache's controls when RESPONSE_CACHE is on; whether the user asks for a cached answer (False when
    it is off)."""
    cache = response_cache(settings, store, price_book(settings))
    if cache is None:
        return False
    wanted = st.toggle(
        t("use_cache", lang), help=t("use_cache_help", lang, hours=f"{settings.response_cache_ttl:g}"), key=USE_CACHE
    )
    if CLEARED in st.session_state:
        cleared = st.session_state.pop(CLEARED)
        if cleared is None:
            st.warning(t("cache_clear_failed", lang))
        else:
            st.success(t("cache_cleared", lang, count=cleared))
    count = _cached_count(cache)
    if count is not None:
        st.caption(t("cache_count", lang, count=count))
    if count:
        question = t("cache_clear_question", lang, count=count)
        yes = t("cache_clear_yes", lang)
        confirm_popover(t("cache_clear", lang), question, yes, "cache_clear_yes", _clear, (cache,), width="stretch")
    return wanted
