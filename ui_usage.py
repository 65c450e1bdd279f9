"""The Usage page: every API call this person's chats made (the usage log, ``store.Store.api_calls``), filtered by
date, model and chat; cost and tokens per day and per model; a CSV of the rows; this month's spend and where the
month ends at the same daily rate. Times in the browser's time zone; the arithmetic is usage_log.py's."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import streamlit as st

from config import ConfigError, load_settings, redact
from i18n import t
from store import CallSums, LoggedCall, Store
from ui_auth import gate, language
from ui_charts import bar_chart
from ui_chat import amount
from ui_team import user_store
from ui_text import browser_zone
from usage_log import (
    Sums,
    amount_in,
    chat_choices,
    csv_text,
    date_range,
    day_start,
    days_between,
    in_currency,
    month_start,
    per_model,
    project_month,
    table_rows,
)

DEFAULT_DAYS = 30  # the date range the page opens with, today included
TABLE_ROWS = 1000  # the newest calls the table lists (the sums and the CSV count them all)
CHART_HEIGHT = 220
ALL = ""  # the filters' "all" choice
OWN_WIDGETS = ("usage_", "auth_")  # the keys of what this page draws: its own and the sign-in gate's (never set again)


@dataclass(frozen=True)
class Filter:
    """The calls the page shows: the dates' UTC bounds (and the days, for the per-day sums), a model, a chat; and the
    sums per model of the dates' calls (the model box's choices)."""

    days: list[tuple[str, str, str]]
    since: str
    until: str
    model: str | None
    chat: str | None
    dates_sums: list[CallSums]

    def sums(self, store: Store) -> list[CallSums]:
        """The chosen calls' sums per model: those of the dates when no model or chat narrows them (read once)."""
        if self.model is None and self.chat is None:
            return self.dates_sums
        return store.api_call_sums(self.since, self.until, self.model, self.chat)


def keep_chat_choices() -> None:
    """The chat page's choices (language, model, template, parameters: its widgets' values) kept while this page is
    shown: Streamlit forgets the value of a widget that a run does not draw, unless the value is set again. Only plain
    values (text, numbers, switches, dates and lists of them) are set again, never an upload's, nor a widget's this page
    draws itself (OWN_WIDGETS): a button's may not be set in a run that draws it, nor a widget's with a default."""
    for key, value in list(st.session_state.items()):
        if isinstance(key, str) and not key.startswith(OWN_WIDGETS) and _plain(value):
            st.session_state[key] = value


def _plain(value: object) -> bool:
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    return isinstance(value, str | int | float | date)


def usage_page() -> None:
    """The page: behind the same sign-in as the chat page, only this person's calls."""
    keep_chat_choices()
    try:
        settings = gate(load_settings())
        store = user_store(settings)
    except (ConfigError, sqlite3.Error, OSError) as error:
        st.error(t("config_error", language(None), detail=redact(str(error))))
        st.stop()
    lang, zone, currency = language(settings), browser_zone(), settings.budget_currency
    st.title(t("usage_title", lang))
    st.caption(t("usage_caption", lang))
    month_figures(store, datetime.now(zone), currency, lang)
    chosen = filters(store, zone, lang)
    models = chosen.sums(store)
    count = sum(group.calls for group in models)
    if not count:
        st.info(t("usage_none", lang))
        return
    total = sum(amount_in(group.cost, currency) for group in models)
    st.caption(t("usage_count", lang, count=count, cost=amount(total, currency)))
    days = store.api_call_days(chosen.days, chosen.model, chosen.chat)
    charts(in_currency(days, currency), per_model(models, currency), currency, lang)
    calls = store.api_calls(chosen.since, chosen.until, chosen.model, chosen.chat, TABLE_ROWS)
    if count > len(calls):
        st.caption(t("usage_capped", lang, shown=len(calls)))
    call_table(calls, zone, currency, lang)
    st.download_button(
        t("usage_csv", lang),
        lambda: csv_text(store.api_calls(chosen.since, chosen.until, chosen.model, chosen.chat)),
        file_name=f"usage-{date.today():%Y%m%d}.csv",
        mime="text/csv",
        key="usage_csv",
        on_click="ignore",
    )


def month_figures(store: Store, now: datetime, currency: str, lang: str) -> None:
    """This month's spend, its projection to the month's end and its number of calls (one sum by the database)."""
    sums = store.api_call_sums(day_start(month_start(now).date(), now.tzinfo or ZoneInfo("UTC")))
    projection = project_month(sum(amount_in(group.cost, currency) for group in sums), now)
    spent, projected, count = st.columns(3)
    spent.metric(t("usage_month", lang), amount(projection.spent, currency))
    projected.metric(
        t("usage_projection", lang), amount(projection.projected, currency), help=t("usage_projection_help", lang)
    )
    count.metric(t("usage_month_calls", lang), sum(group.calls for group in sums))


def filters(store: Store, zone: tzinfo, lang: str) -> Filter:
    """The chosen dates (the last DEFAULT_DAYS at first), model and chat; the choices are those of the dates."""
    today = datetime.now(zone).date()
    dates, model_box, chat_box = st.columns([2, 1, 1])
    picked = dates.date_input(
        t("usage_dates", lang), value=(today - timedelta(days=DEFAULT_DAYS - 1), today), key="usage_dates"
    )
    first, last = _range(picked, today)
    since, until = date_range(first, last, zone)
    dates_sums = store.api_call_sums(since, until)
    models = sorted(group.label for group in dates_sums)
    chats = chat_choices(store.api_call_chats(since, until))
    model = model_box.selectbox(
        t("usage_model", lang), [ALL, *models], format_func=lambda m: m or t("usage_all", lang), key="usage_model"
    )
    chat = chat_box.selectbox(
        t("usage_chat", lang),
        [ALL, *chats],
        format_func=lambda c: chats.get(c, t("usage_all", lang)),
        key="usage_chat",
    )
    return Filter(days_between(first, last, zone), since, until, model or None, chat or None, dates_sums)


def _range(picked: object, today: date) -> tuple[date, date]:
    """The date input's range: (first, last); while only its first day is picked, that day alone."""
    days = [day for day in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(day, date)]
    return (min(days), max(days)) if days else (today, today)


def charts(days: Sequence[Sums], models: Sequence[Sums], currency: str, lang: str) -> None:
    """Cost and tokens per day and per model (ui_charts' Vega-Lite specs)."""
    day_tab, model_tab = st.tabs([t("usage_per_day", lang), t("usage_per_model", lang)])
    with day_tab:
        _sums_charts(days, currency, lang)
    with model_tab:
        _sums_charts(models, currency, lang)


def _sums_charts(sums: Sequence[Sums], currency: str, lang: str) -> None:
    labels = [group.label for group in sums]
    cost, tokens = st.columns(2)
    with cost:
        st.caption(t("usage_cost_chart", lang, currency=currency))
        bar_chart({currency: [group.cost for group in sums]}, CHART_HEIGHT, labels)
    with tokens:
        st.caption(t("usage_tokens_chart", lang))
        columns = {
            t("usage_col_prompt", lang): [float(group.prompt_tokens) for group in sums],
            t("usage_col_completion", lang): [float(group.completion_tokens) for group in sums],
        }
        bar_chart(columns, CHART_HEIGHT, labels)


def call_table(calls: Sequence[LoggedCall], zone: tzinfo, currency: str, lang: str) -> None:
    """One row per call, newest first; the chat column opens the chat."""
    config = {
        "time": st.column_config.DatetimeColumn(t("usage_col_time", lang), format="YYYY-MM-DD HH:mm:ss"),
        "chat": st.column_config.LinkColumn(t("usage_col_chat", lang), display_text=t("usage_col_open", lang)),
        "title": st.column_config.TextColumn(t("usage_col_title", lang)),
        "provider": st.column_config.TextColumn(t("usage_col_provider", lang)),
        "model": st.column_config.TextColumn(t("usage_col_model", lang)),
        "kind": st.column_config.TextColumn(t("usage_col_kind", lang)),
        "prompt": st.column_config.NumberColumn(t("usage_col_prompt", lang)),
        "cached": st.column_config.NumberColumn(t("usage_col_cached", lang)),
        "completion": st.column_config.NumberColumn(t("usage_col_completion", lang)),
        "ttft": st.column_config.NumberColumn(t("usage_col_ttft", lang)),
        "total": st.column_config.NumberColumn(t("usage_col_total", lang)),
        "cost": st.column_config.NumberColumn(t("usage_col_cost", lang, currency=currency), format="%.6f"),
        "outcome": st.column_config.TextColumn(t("usage_col_outcome", lang)),
    }
    st.dataframe(table_rows(calls, zone, currency), column_config=config, hide_index=True)


def page_language() -> str:
    """The pages' language before any page is drawn (``ui_auth.language``), before app.main reads the settings."""
    try:
        return language(load_settings())
    except ConfigError:
        return language(None)


if __name__ == "__main__":  # Streamlit runs this file as the Usage page (app.main's st.navigation)
    usage_page()
