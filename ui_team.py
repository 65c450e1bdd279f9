"""A team's things on screen (AUTH=oidc or header): each person's daily budget, the admins' view of everyone's spend,
and read-only share links. The single-user app (AUTH=none, owner "") draws and reads none of it: there is no one
else to share with, and anyone who reaches that app reads every chat anyway.

The store (store.py) keeps who signed in, the budgets and the snapshots; ``open_store`` is the one store (and
connection pool) per database of the app process, shared by the chats (app.py) and the knowledge base
(ui_knowledge.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import streamlit as st

import auth
from config import Settings
from conversation_manager import Conversation
from i18n import t
from store import Store, UserInfo
from ui_auth import language, owner
from ui_chat import amount, literal_markdown, render_reply
from ui_images import render_thumbnails
from ui_session import default
from ui_text import LazyExpander

SEEN_EVERY = 300.0  # seconds: how often one browser session records its person as seen
SPEND_DAYS = 30  # of the admins' chart
SEEN_AT = "team_seen_at"  # session state: when this session last recorded its person (time.monotonic())
NOTICES = "team_notices"  # session state: what the last share or budget change said, (level, text)
SHARE = "share"  # the query parameter that opens a snapshot: ?share=TOKEN


@st.cache_resource
def open_store(url: str) -> Store:
    """One store (and, for PostgreSQL, one connection pool) per database for the app process."""
    return Store.open(url)


def user_store(settings: Settings) -> Store:
    """This session's person's view of the app's store ("" in the single-user app)."""
    return open_store(settings.database).as_user(owner())


def team_settings(settings: Settings, store: Store) -> Settings:
    """Signed in: the person is recorded as seen, and their daily budget is the one an admin set for them, else
    BUDGET_PER_DAY (the usage panel shows it; over it a message is held, and only an admin can raise it)."""
    if not store.owner:
        return settings
    last = st.session_state.get(SEEN_AT)
    if last is None or time.monotonic() - last > SEEN_EVERY:
        name = st.user.get("name") if st.user.get("is_logged_in") else None
        store.touch_user(name if isinstance(name, str) else "")
        st.session_state[SEEN_AT] = time.monotonic()
    budget = store.budget_for()
    return settings if budget is None else settings.with_overrides(budget_per_day=budget)


def is_admin(store: Store, settings: Settings) -> bool:
    return bool(store.owner) and store.owner in auth.policy(settings).admins


def hard_day_budget(store: Store, settings: Settings) -> bool:
    """Whether the daily budget is a hard limit here: for a signed-in person who is not an admin (an admin set it,
    or BUDGET_PER_DAY); the single-user app's, and an admin's own, stay soft."""
    return bool(store.owner) and not is_admin(store, settings)


def _notices() -> None:
    for level, text in st.session_state.pop(NOTICES, []):
        (st.success if level == "success" else st.error)(text)


def _notice(level: str, text: str) -> None:
    st.session_state.setdefault(NOTICES, []).append((level, text))


def _saving(action: Callable[[], object], lang: str) -> bool:
    """Runs a write; a database error becomes a notice, never a traceback."""
    try:
        action()
    except sqlite3.Error as error:
        _notice("error", t("team_not_saved", lang, detail=literal_markdown(str(error))))
        return False
    return True


# --- share links ---------------------------------------------------------------------------------


def share_link(token: str) -> str:
    """The address that opens a snapshot: this app's URL as the browser has it, with ?share=TOKEN."""
    return f"{st.context.url or ''}?{SHARE}={token}"


def when(timestamp: str) -> str:
    """An ISO timestamp (UTC) as a reader takes it in: date, hours and minutes."""
    return timestamp[:16].replace("T", " ") + " UTC"


def share_page(store: Store, settings: Settings) -> None:
    """?share=TOKEN, signed in: the snapshot read-only (no message box, no edit or regenerate), or "not found" after
    a revoke or for a wrong token; the run stops there. Does nothing otherwise."""
    token = st.query_params.get(SHARE)
    if not store.owner or token is None:
        return
    lang = language(settings)
    try:
        found = store.shared(token)
    except sqlite3.Error as error:
        st.error(t("team_not_saved", lang, detail=literal_markdown(str(error))))
        found = None
    if found is None:
        st.title(t("title", lang))
        st.error(t("share_not_found", lang))
    else:
        title = found.conversation.title
        st.title(literal_markdown(title) if title else t("untitled", lang))
        shown_owner = literal_markdown(found.owner)
        st.caption(t("share_view_caption", lang, owner=shown_owner, created=when(found.created_at)))
        snapshot(found.conversation, lang)
    st.button(t("share_back", lang), key="share_back", on_click=_leave_share)
    st.stop()


def snapshot(conversation: Conversation, lang: str) -> None:
    """The chat as render_history draws it (the same Markdown), without any control that changes it."""
    for turn in conversation.turns():
        if turn[0].role == "user":
            with st.chat_message("user"):
                st.markdown(literal_markdown(turn[0].content))
                render_thumbnails(turn[0].attachments, lang)
            turn = turn[1:]
        if turn:
            with st.chat_message("assistant"):
                render_reply(turn, lang, "")


def _leave_share() -> None:
    del st.query_params[SHARE]


def share_popover(store: Store, conversation: Conversation, lang: str) -> None:
    """Signed in, in the chat list: publish a snapshot of this chat as a read-only link, and one's links with Revoke
    (read only while the popover is open)."""
    if not store.owner:
        return
    popover = st.popover(t("share", lang), key="share_popover", on_change="rerun", width="stretch")
    if not popover.open:
        return
    with popover:
        st.caption(t("share_help", lang))
        st.button(
            t("share_publish", lang),
            key="share_publish",
            type="primary",
            disabled=not conversation.nodes,
            on_click=_publish,
            args=(store, conversation.id, lang),
        )
        _notices()
        st.markdown(f"**{t('share_mine', lang)}**")
        shares = store.my_shares()
        if not shares:
            st.caption(t("share_none", lang))
        for share in shares:
            title = literal_markdown(share.title) if share.title else t("untitled", lang)
            st.caption(f"{title} · {when(share.created_at)}")
            st.code(share_link(share.token), language=None)
            st.button(
                t("share_revoke", lang),
                key=f"share_revoke_{share.token}",
                on_click=_revoke,
                args=(store, share.token, lang),
            )


def _publish(store: Store, conversation_id: str, lang: str) -> None:
    if _saving(lambda: store.publish(conversation_id), lang):
        _notice("success", t("share_published", lang))


def _revoke(store: Store, token: str, lang: str) -> None:
    if _saving(lambda: store.revoke(token), lang):
        _notice("success", t("share_revoked", lang))


# --- the admins' view ----------------------------------------------------------------------------


def admin_panel(store: Store, settings: Settings, lang: str) -> None:
    """Admins only, in the sidebar: everyone's spend (a table and a chart) and each person's daily budget; read
    only while the expander is open."""
    if not is_admin(store, settings):
        return

    def content() -> None:
        _notices()
        users = store.users()
        spend_table(store, settings, users, lang)
        budget_editor(store, settings, users, lang)

    with st.sidebar:
        LazyExpander(t("team_title", lang), "team_admin").draw(content)


def _since(days: int) -> str:
    """Local midnight ``days`` days ago, as the stored UTC timestamps compare (today: the daily budget's day)."""
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return midnight.astimezone(UTC).isoformat(timespec="seconds")


def budget_text(budget: float | None, settings: Settings, lang: str) -> str:
    """A daily budget as the table shows it: the person's own, or the global one; 0 is no limit."""
    limit = settings.budget_per_day if budget is None else budget
    shown = amount(limit, settings.budget_currency) if limit > 0 else t("team_budget_none", lang)
    return shown if budget is not None else t("team_budget_default", lang, limit=shown)


def spend_table(store: Store, settings: Settings, users: list[UserInfo], lang: str) -> None:
    """Per person: today's spend (since local midnight, as their budget counts it), the last SPEND_DAYS days', and
    their budget; then a chart of each one's spend per day."""
    currency = settings.budget_currency
    cny = currency == "CNY"
    today: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for row in store.spend_by_owner(_since(0)):
        today[row.owner] = today.get(row.owner, 0.0) + (row.totals.cost.cny if cny else row.totals.cost.usd)
        tokens[row.owner] = tokens.get(row.owner, 0) + row.totals.usage.total_tokens
    recent = store.spend_by_owner(_since(SPEND_DAYS))
    month: dict[str, float] = {}
    for row in recent:
        month[row.owner] = month.get(row.owner, 0.0) + (row.totals.cost.cny if cny else row.totals.cost.usd)
    known = {user.email: user for user in users}
    people = sorted(known.keys() | month.keys())
    label = {person: person or t("team_single_user", lang) for person in people}
    st.dataframe(
        {
            t("team_user", lang): [label[person] for person in people],
            t("team_name", lang): [known[p].name if p in known else "" for p in people],
            t("team_last_seen", lang): [
                when(known[p].last_seen or "") if p in known and known[p].last_seen else "" for p in people
            ],
            t("team_today", lang, currency=currency): [round(today.get(p, 0.0), 4) for p in people],
            t("team_tokens_today", lang): [tokens.get(p, 0) for p in people],
            t("team_month", lang, currency=currency, days=SPEND_DAYS): [round(month.get(p, 0.0), 4) for p in people],
            t("team_budget", lang): [
                budget_text(known[p].budget if p in known else None, settings, lang) for p in people
            ],
        },
        hide_index=True,
        key="team_spend",
    )
    if not recent:
        st.caption(t("team_no_spend", lang, days=SPEND_DAYS))
        return
    st.caption(t("team_chart", lang, currency=currency, days=SPEND_DAYS))
    st.bar_chart(
        {
            "day": [row.day for row in recent],
            "user": [label.get(row.owner, row.owner) for row in recent],
            currency: [row.totals.cost.cny if cny else row.totals.cost.usd for row in recent],
        },
        x="day",
        y=currency,
        color="user",
        height=220,
    )


def budget_editor(store: Store, settings: Settings, users: list[UserInfo], lang: str) -> None:
    """A person (one who signed in, or a typed address) and their daily budget: Save, or Use the default."""
    chosen = st.selectbox(
        t("team_budget_user", lang),
        [user.email for user in users],
        index=None,
        accept_new_options=True,
        help=t("team_budget_user_help", lang),
        key="team_budget_user",
    )
    if not chosen:
        return
    budget = next((user.budget for user in users if user.email == chosen), None)
    st.caption(t("team_budget_now", lang, limit=budget_text(budget, settings, lang)))
    key = f"team_budget_{chosen}"
    default(key, float(settings.budget_per_day if budget is None else budget))
    st.number_input(
        t("team_budget_amount", lang, currency=settings.budget_currency),
        min_value=0.0,
        step=0.1,
        format="%.4f",
        key=key,
    )
    save, reset = st.columns(2)
    save.button(
        t("team_budget_save", lang), key="team_budget_save", on_click=_set_budget, args=(store, chosen, key, lang)
    )
    reset.button(
        t("team_budget_clear", lang), key="team_budget_clear", on_click=_clear_budget, args=(store, chosen, lang)
    )


def _set_budget(store: Store, typed: str, key: str, lang: str) -> None:
    email = auth.email_address(typed)
    if email is None:
        _notice("error", t("team_budget_bad_email", lang, email=literal_markdown(typed)))
        return
    per_day = float(st.session_state[key])
    if _saving(lambda: store.set_budget(email, per_day), lang):
        _notice("success", t("team_budget_saved", lang, email=literal_markdown(email)))


def _clear_budget(store: Store, typed: str, lang: str) -> None:
    email = auth.email_address(typed)
    if email is not None and _saving(lambda: store.set_budget(email, None), lang):
        _notice("success", t("team_budget_cleared", lang, email=literal_markdown(email)))
