"""The providers panel: each configured provider's health (provider_health), and the one checker of the process."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from config import Settings
from conversation_manager import Message
from i18n import t
from provider_health import HealthChecker, HealthRecord, Status, endpoints
from ui_text import browser_zone, literal_markdown

CHECK_POLL_SECONDS = 1.0  # while "check now" runs, how often the page looks whether it has ended


@st.cache_resource(show_spinner=False, max_entries=1, on_release=HealthChecker.stop)
def health_checker(minutes: int) -> HealthChecker:
    """One checker (and its background thread) per app process, shared by every browser session."""
    return HealthChecker(HealthRecord(), minutes).start()


def watch_providers(settings: Settings) -> HealthChecker:
    """The configured providers handed to the checker, which checks again soon if its last check is stale."""
    checker = health_checker(settings.health_check_minutes)
    checker.record.watch(endpoints(settings))
    checker.page_opened()
    return checker


def turn_health(settings: Settings) -> HealthRecord | None:
    """The record the fallback chain consults and reports to; None when health checks are off."""
    return health_checker(settings.health_check_minutes).record if settings.health_check_minutes > 0 else None


def ago(when: str | None, lang: str, now: datetime | None = None) -> str:
    """How long ago a UTC ISO time was, in a few words."""
    if when is None:
        return t("health_never_checked", lang)
    seconds = max(int(((now or datetime.now(UTC)) - datetime.fromisoformat(when)).total_seconds()), 0)
    if seconds < 60:
        return t("ago_seconds", lang, n=seconds)
    if seconds < 3600:
        return t("ago_minutes", lang, n=seconds // 60)
    return t("ago_hours", lang, n=seconds // 3600)


def clock_time(when: str) -> str:
    """A UTC ISO time as hh:mm in the browser's time zone (UTC where it is not known)."""
    return datetime.fromisoformat(when).astimezone(browser_zone()).strftime("%H:%M")


def status_lines(status: Status, lang: str) -> list[str]:
    """What the panel says of one provider under its name."""
    lines = [t(f"health_{status.state}", lang)]
    if status.latency_ms is not None:
        lines[0] += " · " + t("health_latency", lang, ms=status.latency_ms)
    lines[0] += " · " + (
        t("health_checked", lang, ago=ago(status.checked_at, lang)) if status.checked_at else ago(None, lang)
    )
    if status.error_kind:
        detail = status.error or ""
        lines.append(t("health_error", lang, ago=ago(status.error_at, lang), kind=status.error_kind, detail=detail))
    return lines


def providers_panel(settings: Settings, lang: str) -> None:
    """A sidebar expander: each provider and its models, up/down/unknown, latency, the last error; "check now"."""
    checker = watch_providers(settings)
    with st.sidebar, st.expander(t("providers", lang)):
        st.caption(t("providers_help", lang))
        if settings.health_check_minutes == 0:
            st.caption(t("health_off", lang))
        statuses = checker.record.statuses()
        if not statuses:
            st.caption(t("health_none", lang))
        for endpoint, status in statuses:
            models = ", ".join(literal_markdown(model) for model in endpoint.models)  # as configured: shown as written
            st.markdown(f"**{literal_markdown(endpoint.shown)}** · {models}")
            for line in status_lines(status, lang):
                st.caption(literal_markdown(line))  # an error's words come from the provider: shown as written
        st.button(t("health_check_now", lang), key="health_check_now", on_click=checker.request_check)
        if checker.checking:
            st.caption(t("health_checking", lang))
            show_when_checked(checker)


@st.fragment(run_every=CHECK_POLL_SECONDS)
def show_when_checked(checker: HealthChecker) -> None:
    """While a check asked for runs in the background, the page is drawn again once it has ended."""
    if not checker.checking:
        st.rerun()


def render_skipped(message: Message, lang: str) -> None:
    """Above a reply: each provider the fallback chain passed over as down."""
    for skipped in message.skipped:
        since = clock_time(skipped["since"])
        model, endpoint = literal_markdown(skipped["model"]), literal_markdown(skipped["endpoint"])
        st.caption(t("skipped_badge", lang, model=model, endpoint=endpoint, since=since))
