"""Sign-in: the gate app.main passes before anything else is drawn or read, and whom this session works for.

auth.py decides; this module only reads what Streamlit knows (``st.user`` after ``st.login``, the websocket's
headers and peer address) and draws the sign-in page, a refusal, or the signed-in badge.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

import auth
from auth import Identity, Policy, Refusal
from config import Settings
from i18n import pick_language, t
from ui_chat import literal_markdown

IDENTITY = "auth_identity"  # session state: the e-mail this session works for


def language(settings: Settings | None) -> str:
    """The page's language before the sidebar is drawn: the one picked there last run, else the setting's (None:
    settings that do not read, whose page says so: the browser's)."""
    chosen = st.session_state.get("ui_language")
    if isinstance(chosen, str):
        return chosen
    return pick_language(settings.ui_language if settings is not None else "auto", st.context.locale)


def gate(settings: Settings) -> Settings:
    """With AUTH=none, ``settings`` as they are. Otherwise only a signed-in, allowed person gets past (the run
    stops after the sign-in page or a refusal); returns the settings their requests use (whose key)."""
    rules = auth.policy(settings)
    if rules.mode == "none":
        return settings
    lang = language(settings)
    found = oidc_user(rules, lang) if rules.mode == "oidc" else header_user(rules)
    if isinstance(found, Refusal):
        refused(found, rules, lang)
        st.stop()
    if st.session_state.get(IDENTITY, found.email) != found.email:  # another person in this browser session:
        st.session_state.clear()  # nothing of the last one's stays, not even the chat the address names
        st.query_params.clear()
    st.session_state[IDENTITY] = found.email
    own = auth.for_user(settings, rules, found)
    badge(found, rules.mode == "oidc", own.api_key is None and settings.api_key is not None, lang)
    return own


def pages_shown(settings: Settings) -> bool:
    """Whether the menu of pages may show: always in the single-user app; with sign-in, only once this browser
    session's person got past the gate (signed out, the sign-in page is all there is)."""
    return settings.auth == "none" or bool(owner())


def owner() -> str:
    """Whose chats this session reads and writes: "" in the single-user app, else the signed-in e-mail."""
    found = st.session_state.get(IDENTITY)
    return found if isinstance(found, str) else ""


def auth_section() -> Mapping[str, object] | None:
    """The [auth] section of Streamlit's secrets (.streamlit/secrets.toml, or the files secrets.files names)."""
    if not st.secrets.load_if_toml_exists():
        return None
    section = st.secrets.get("auth")
    return section if isinstance(section, Mapping) else None


def oidc_user(rules: Policy, lang: str) -> Identity | Refusal:
    """The person ``st.user`` holds; signed out, the sign-in page and nothing else."""
    missing = auth.oidc_problem(auth_section())
    if missing:
        st.error(t("auth_oidc_unconfigured", lang, missing=missing))
        st.stop()
    if not st.user.get("is_logged_in"):
        st.title(t("title", lang))
        st.write(t("auth_intro", lang))
        st.button(t("auth_sign_in", lang), key="auth_sign_in", type="primary", on_click=st.login)
        st.stop()
    return auth.from_claims(rules, st.user)


def header_user(rules: Policy) -> Identity | Refusal:
    """The person the proxy's header names, believed only from a trusted proxy's connection."""
    headers = st.context.headers
    return auth.from_header(
        rules, headers.get_all(rules.header), st.context.ip_address, headers.get_all("X-Forwarded-For")
    )


def refused(refusal: Refusal, rules: Policy, lang: str) -> None:
    """Why no one is signed in; after an OpenID Connect sign-in, a way out to try another account."""
    st.title(t("title", lang))
    detail = literal_markdown(refusal.detail)
    st.error(t(f"auth_refused_{refusal.reason}", lang, detail=detail, header=literal_markdown(rules.header)))
    if rules.mode == "oidc":
        st.button(t("auth_sign_out", lang), key="auth_sign_out", on_click=st.logout)


def badge(who: Identity, can_sign_out: bool, own_key: bool, lang: str) -> None:
    """At the top of the sidebar: who is signed in (and admin), Sign out, and where their own key goes."""
    with st.sidebar:
        shown = literal_markdown(who.email)
        st.caption(t("auth_signed_in_admin" if who.is_admin else "auth_signed_in", lang, email=shown))
        if can_sign_out:
            st.button(t("auth_sign_out", lang), key="auth_sign_out", on_click=st.logout)
        if own_key:
            st.caption(t("auth_own_key", lang))
