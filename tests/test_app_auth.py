"""The sign-in gate in the app (AppTest): signed out only the sign-in page; refused with a reason; signed in with a
badge, Sign out and (without the shared key) their own key. AppTest seeds ``st.user`` and ``st.secrets`` but not
headers or the peer address: the trusted-header path runs in Chromium (tests/e2e/test_browser_auth.py)."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import APP, page_text, rendered, send
from conftest import TEST_KEY
from scripted_server import Reply

AUTH_SECTION = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-cookie-secret-of-enough-length-0123456789",
    "client_id": "ai-chat-app",
    "client_secret": "client-secret-0123456789",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ANN = {"is_logged_in": True, "email": "Ann@Example.com", "name": "Ann"}
OWN_KEY = "AnnsOwnProviderToken0123456789xyz"  # not key-shaped: only redacting the key in use hides it


def visit(user: dict[str, object], section: dict[str, object] | None = AUTH_SECTION) -> AppTest:
    """A fresh browser session of a person ``st.user`` describes, after its first run."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = user
    at.secrets = {"auth": section} if section is not None else {"other": "x"}
    return at.run()


def everything_said(at: AppTest) -> str:
    """The page's and the sidebar's texts, code blocks and JSON views."""
    parts = [e.value for kind in ("code", "json") for e in [*getattr(at, kind), *getattr(at.sidebar, kind)]]
    return page_text(at) + "\n".join(str(e.value) for e in at.sidebar.markdown) + "\n".join(map(str, parts))


def captions(at: AppTest) -> list[str]:
    """The sidebar's captions as a reader sees them (Markdown rendered)."""
    return [rendered(c.value) for c in at.sidebar.caption]


def chat_list(at: AppTest) -> list[str]:
    """The sidebar's buttons as a reader sees them: its chats among them."""
    return [rendered(b.label) for b in at.sidebar.button]


def error(at: AppTest) -> str:
    return rendered(at.error[0].value)


@pytest.fixture
def oidc(app_env, monkeypatch):
    monkeypatch.setenv("AUTH", "oidc")
    return app_env


def test_signed_out_only_the_sign_in_page_is_served(oidc):
    at = visit({"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert at.title[0].value == "AI Chat" and "Please sign in to continue." in page_text(at)
    assert not at.chat_input and not at.sidebar.children and not at.text_input and not at.selectbox


def test_without_the_auth_section_it_says_what_is_missing_not_a_traceback(oidc):
    at = visit({"is_logged_in": False}, section=None)
    assert not at.exception
    assert "[auth] section in .streamlit/secrets.toml; missing: redirect_uri, cookie_secret, client_id" in (
        at.error[0].value
    )
    assert not at.button and not at.chat_input
    partial = visit({"is_logged_in": False}, section={k: v for k, v in AUTH_SECTION.items() if k != "client_secret"})
    assert "missing: client_secret." in partial.error[0].value and not partial.button


def test_a_signed_in_user_sees_the_app_with_their_email_and_can_sign_out(oidc, monkeypatch):
    monkeypatch.setenv("SHARED_KEY_FOR_USERS", "on")
    at = visit(ANN)
    assert not at.exception
    assert "Signed in as ann@example.com" in captions(at)
    assert at.session_state["auth_identity"] == "ann@example.com"
    oidc.expect(Reply(text="Hello Ann."))
    send(at, "Hi")
    assert oidc.requests[-1]["headers"]["authorization"] == f"Bearer {TEST_KEY}"
    at.sidebar.button(key="auth_sign_out").click().run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and not at.chat_input


def test_an_email_not_on_the_allow_list_is_refused(oidc, monkeypatch):
    monkeypatch.setenv("AUTH_ALLOWED", "@example.org, bob@example.com")
    at = visit(ANN)
    assert "ann@example.com may not use this app" in error(at)
    assert [b.label for b in at.button] == ["Sign out"] and not at.chat_input and not at.sidebar.children
    at.button(key="auth_sign_out").click().run()
    assert [b.label for b in at.button] == ["Sign in"]


def test_a_provider_without_an_email_or_with_an_unverified_one_is_refused(oidc):
    assert "gave no e-mail address" in visit({"is_logged_in": True, "sub": "42"}).error[0].value
    unverified = visit({**ANN, "email_verified": False})
    assert "is not verified at the sign-in provider" in unverified.error[0].value and not unverified.chat_input


def test_an_admin_is_marked_and_may_use_the_shared_key(oidc, monkeypatch):
    monkeypatch.setenv("AUTH_ADMINS", "ann@example.com")
    at = visit(ANN)
    assert "Signed in as ann@example.com (admin)" in captions(at)
    oidc.expect(Reply(text="Hello."))
    send(at, "Hi")
    assert oidc.requests[-1]["headers"]["authorization"] == f"Bearer {TEST_KEY}"


def test_without_the_shared_key_a_user_brings_their_own_and_it_is_never_shown(oidc, caplog):
    at = visit(ANN)
    assert "Type your own API key under Connection (kept in this browser session only)." in captions(at)
    assert "Using the key from .env" not in everything_said(at)
    oidc.expect(Reply(text="A server that needs no key answers."))
    send(at, "Hi")
    assert oidc.requests[-1]["headers"]["authorization"] == "Bearer not-needed"  # never the .env key
    at.sidebar.text_input(key="api_key_input").input(OWN_KEY)
    at.run()
    oidc.expect(Reply(text="Hi with your key."))
    send(at, "Hi again")
    assert oidc.requests[-1]["headers"]["authorization"] == f"Bearer {OWN_KEY}"
    caplog.set_level(logging.INFO)
    oidc.expect(Reply.fail(401, f"Incorrect API key provided: {OWN_KEY}. Find yours at the dashboard."))
    send(at, "Again")
    assert "Incorrect API key provided: [redacted]" in everything_said(at)
    assert OWN_KEY not in everything_said(at)
    assert OWN_KEY not in caplog.text and TEST_KEY not in caplog.text


def test_another_person_in_the_same_session_starts_clean(oidc, monkeypatch):
    monkeypatch.setenv("SHARED_KEY_FOR_USERS", "on")
    at = visit(ANN)
    oidc.expect(Reply(text="For Ann only."))
    send(at, "Ann's question")
    at.user = {"is_logged_in": True, "email": "bob@example.com"}
    at.run()
    assert at.session_state["auth_identity"] == "bob@example.com"
    assert not at.chat_message and "Ann's question" not in everything_said(at)


def test_header_mode_refuses_a_connection_from_no_trusted_proxy(app_env, monkeypatch):
    monkeypatch.setenv("AUTH", "header")
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    at = AppTest.from_file(APP, default_timeout=60).run()  # AppTest's run has no real peer address: never a proxy
    assert "does not come from a trusted proxy" in error(at) and "its X-Forwarded-Email header" in error(at)
    assert not at.chat_input and not at.sidebar.children and not at.button


def test_malformed_sign_in_settings_are_a_configuration_problem(app_env, monkeypatch):
    monkeypatch.setenv("AUTH", "header")
    monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "10.0.0.0/33")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "Configuration problem: AUTH_TRUSTED_PROXIES entry '10.0.0.0/33'" in at.error[0].value
    assert not at.chat_input


def test_without_auth_nothing_changes(app_env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and at.chat_input and "auth_identity" not in at.session_state
    assert not [c for c in at.sidebar.caption if "Signed in" in c.value]


def test_each_person_sees_only_their_own_chats(oidc, monkeypatch):
    monkeypatch.setenv("SHARED_KEY_FOR_USERS", "on")
    ann = visit(ANN)
    oidc.expect(Reply(text="Ann's answer."))
    send(ann, "Ann's secret question")
    chat_id = ann.query_params["chat"]
    bob = AppTest.from_file(APP, default_timeout=60)
    bob.user, bob.secrets = {"is_logged_in": True, "email": "bob@example.com"}, {"auth": AUTH_SECTION}
    bob.query_params["chat"] = chat_id
    bob.run()
    assert not bob.exception and not bob.chat_message
    assert "Ann's secret question" not in everything_said(bob) and "Ann's secret question" not in chat_list(bob)
    assert "Ann's secret question" in chat_list(visit(ANN))
