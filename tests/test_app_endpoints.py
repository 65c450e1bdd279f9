"""Keys and base URLs: a typed key goes only to the endpoint it was typed for, and a base URL's credentials
are never shown (page, sidebar, errors, exports)."""

import os
from pathlib import Path

import pytest

import exporters
from app_driver import page_text, send, start
from config import display_url, redact
from scripted_server import Reply

FIRST_KEY = "sk-typed-for-the-first-endpoint-111"


def stored_bytes() -> bytes:
    data = Path(os.environ["DATA_DIR"])
    return b"".join(path.read_bytes() for path in data.glob("chats.db*"))


def test_a_typed_key_belongs_to_the_endpoint_it_was_typed_for(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("UI_LANGUAGE", "en")
    at = start()
    at.sidebar.text_input(key="api_key_input").input(FIRST_KEY).run()
    at.sidebar.selectbox(key="provider").select("ollama").run()
    assert at.sidebar.text_input(key="api_key_input").value == ""
    at.sidebar.text_input(key="base_url_ollama").input(server.base_url.replace("/v1", "/ollama/v1")).run()
    server.expect(Reply(text="From ollama."))
    send(at, "to ollama")
    request = server.requests[-1]
    assert request["path"] == "/ollama/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer not-needed"
    at.sidebar.selectbox(key="provider").select("custom").run()
    assert at.sidebar.text_input(key="api_key_input").value == FIRST_KEY  # back where it was typed
    server.expect(Reply(text="From the first endpoint."))
    send(at, "to the first endpoint")
    assert server.requests[-1]["path"] == "/v1/chat/completions"
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {FIRST_KEY}"
    at.sidebar.text_input(key="base_url_custom").input(server.base_url.replace("/v1", "/other/v1")).run()
    assert at.sidebar.text_input(key="api_key_input").value == ""
    conversation = at.session_state["session"].conversation
    assert FIRST_KEY.encode() not in stored_bytes()
    assert FIRST_KEY not in exporters.to_json([conversation]) + exporters.to_markdown([conversation], "en")
    assert FIRST_KEY not in page_text(at)


def test_the_env_key_stays_with_its_endpoint_when_another_is_typed(app_env):
    at = start()
    at.sidebar.text_input(key="base_url_custom").input(app_env.base_url.replace("/v1", "/other/v1")).run()
    app_env.expect(Reply(text="From elsewhere."))
    send(at, "elsewhere")
    assert app_env.requests[-1]["headers"]["authorization"] == "Bearer not-needed"


CREDENTIALS = ("hunter2pass", "qsecret77token", "bob")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_base_url_with_credentials_shows_scheme_host_and_port_only(server, monkeypatch, language):
    monkeypatch.setenv("UI_LANGUAGE", language)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://bob:hunter2pass@127.0.0.1:9/v1?api-key=qsecret77token")
    at = send(start(), "anyone there?")
    assert any(c.value == "`gpt-4o-mini` · http://127.0.0.1:9" for c in at.caption)
    assert {"en": "(http://127.0.0.1:9)", "zh": "（http://127.0.0.1:9）"}[language] in at.error[0].value
    assert at.sidebar.text_input(key="base_url_custom").value == "http://127.0.0.1:9"
    from_env = {"en": "Using the base URL from .env", "zh": "使用 .env 中的 Base URL"}[language]
    assert any(from_env in c.value for c in at.sidebar.caption)
    conversation = at.session_state["session"].conversation
    shown = [page_text(at), *(c.value for c in at.code), *(str(j.value) for j in at.sidebar.json)]
    exported = [exporters.to_json([conversation]), exporters.to_markdown([conversation], language)]
    exported += [exporters.to_python(conversation.last_request), exporters.to_curl(conversation.last_request)]
    for secret in CREDENTIALS:
        assert not any(secret in text for text in shown + exported), secret


def test_the_sidebars_url_left_as_shown_sends_to_the_full_env_url(server, monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "en")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url.replace("http://", "http://bob:hunter2pass@"))
    server.expect(Reply(text="Hello back."))
    at = send(start(), "hello")
    assert at.sidebar.text_input(key="base_url_custom").value == display_url(server.base_url)
    assert server.requests[-1]["path"] == "/v1/chat/completions"
    assert at.session_state["session"].conversation.messages[-1].content == "Hello back."


def test_error_details_lose_a_urls_credentials_and_query(app_env):
    leaked = "http://bob:hunter2pass@gateway.example:8443/v1/chat?api-key=qsecret77token"
    app_env.expect(Reply.fail(404, f"no route for {leaked}"))
    at = send(start(), "hello")
    raw = "".join(c.value for c in at.code)
    assert "http://gateway.example:8443/v1/chat" in raw
    assert not any(secret in raw + page_text(at) for secret in CREDENTIALS)
    stored = at.session_state["session"].conversation.messages[-1].error["detail"]
    assert not any(secret in stored for secret in CREDENTIALS)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bob:pw@gw.example.com:8443/v1/x?key=1#f", "https://gw.example.com:8443"),
        ("https://api.deepseek.com/v1", "https://api.deepseek.com"),
        ("http://[::1]:8080/v1", "http://[::1]:8080"),
        ("HTTP://Host.Example/v1", "http://host.example"),
        ("http://host:notaport/v1", "http://host"),
        ("localhost:8000/v1", ""),
    ],
)
def test_display_url_keeps_scheme_host_and_port(url, shown):
    assert display_url(url) == shown


def test_redact_strips_userinfo_and_query_from_every_url_in_a_text():
    text = "tried 'https://u:p@ss@a.example/v1?k=1' then http://b.example:81/p#frag and ftp://c.example/x"
    assert redact(text) == "tried 'https://a.example/v1' then http://b.example:81/p and ftp://c.example/x"
