"""The providers panel and the fallback chain skipping a provider known to be down, in the app."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import rendered, send, start
from config import display_url
from provider_health import HealthChecker
from scripted_server import Reply, ScriptedServer
from test_provider_health import ended
from ui_health import health_checker

DOWN = (500, "application/json", b'{"error": {"message": "the gateway is on fire"}}')


@pytest.fixture
def fallback(app_env, monkeypatch) -> Iterator[ScriptedServer]:
    """A second provider as the fallback, health checks on, and a fresh checker (one per process) for this test."""
    other = ScriptedServer().start()
    monkeypatch.setenv("FALLBACK_MODELS", f"deepseek-chat@{other.base_url}")
    monkeypatch.setenv("HEALTH_CHECK_MINUTES", "5")
    health_checker.clear()
    yield other
    health_checker.clear()  # its thread stopped: nothing checks the scripted servers in later tests
    other.stop()


def panel_lines(at: AppTest) -> list[str]:
    (panel,) = [e for e in at.sidebar.expander if e.label == "Providers"]
    return [rendered(str(line.value)) for line in (*panel.markdown, *panel.caption)]


def checker() -> HealthChecker:
    """The app's checker (one per process, as the app's settings make it)."""
    return health_checker(int(os.environ["HEALTH_CHECK_MINUTES"]))


def check_now(at: AppTest) -> AppTest:
    """Presses "check now", waits for the background round, and draws the page again."""
    at.sidebar.button(key="health_check_now").click().run()
    assert ended(checker())
    return at.run()


def test_check_now_checks_in_the_background_and_says_checking_until_it_has_ended(app_env, fallback):
    release = threading.Event()

    def models() -> Iterator[bytes]:
        assert release.wait(10)
        yield b'{"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}'

    app_env.models_pieces = models
    at = start().sidebar.button(key="health_check_now").click().run()  # drawn while the check waits
    assert not at.exception
    assert "Checking…" in panel_lines(at)
    release.set()
    assert ended(checker())
    lines = panel_lines(at.run())
    assert "Checking…" not in lines
    assert len([line for line in lines if line.startswith("🟢 up")]) == 2


def test_the_providers_panel_shows_each_provider_up_or_down_with_its_last_error(app_env, fallback):
    fallback.models_raw = DOWN
    at = check_now(start())
    assert not at.exception
    lines = panel_lines(at)
    assert f"{display_url(app_env.base_url)} · gpt-4o-mini" in lines
    assert f"{display_url(fallback.base_url)} · deepseek-chat" in lines
    up = next(line for line in lines if line.startswith("🟢 up"))
    assert " ms · checked " in up
    assert any(line.startswith("🔴 down · checked ") for line in lines)
    error = next(line for line in lines if line.startswith("Last error ("))
    assert "server:" in error and "the gateway is on fire" in error
    fallback.models_raw = None
    lines = panel_lines(check_now(at))
    assert len([line for line in lines if line.startswith("🟢 up")]) == 2


def test_a_down_primary_is_skipped_for_its_fallback_and_the_reply_says_so(app_env, fallback):
    app_env.models_raw = DOWN
    at = check_now(start())
    fallback.expect(Reply(text="From the fallback."))
    send(at, "hello")
    assert app_env.chat_requests() == []  # the down provider received no request
    assert fallback.chat_requests()[0]["model"] == "deepseek-chat"
    captions = [rendered(str(c.value)) for c in at.main.caption]
    skipped = next(c for c in captions if c.startswith("⏭️ Skipped gpt-4o-mini"))
    assert f"({display_url(app_env.base_url)}): down since " in skipped
    assert "From the fallback." in [str(m.value) for m in at.main.markdown]


def test_with_checks_off_nothing_is_skipped(app_env, fallback, monkeypatch):
    monkeypatch.setenv("HEALTH_CHECK_MINUTES", "0")
    app_env.models_raw = DOWN
    at = check_now(start())
    assert any(line.startswith("🔴 down") for line in panel_lines(at))
    app_env.expect(Reply(text="From the primary."))
    send(at, "hello")
    assert [body["model"] for body in app_env.chat_requests()] == ["gpt-4o-mini"]
    assert fallback.chat_requests() == []


def test_model_names_in_the_panel_and_the_skipped_badge_are_shown_as_written(app_env, fallback, monkeypatch):
    monkeypatch.setenv("OPENAI_MODEL", "*gpt*_mini_")
    monkeypatch.setenv("FALLBACK_MODELS", f"**deep**seek@{fallback.base_url}")
    app_env.models_raw = DOWN
    at = check_now(start())
    lines = panel_lines(at)
    assert f"{display_url(app_env.base_url)} · *gpt*_mini_" in lines
    assert f"{display_url(fallback.base_url)} · **deep**seek" in lines
    fallback.expect(Reply(text="From the fallback."))
    send(at, "hello")
    captions = [rendered(str(c.value)) for c in at.main.caption]
    assert any(c.startswith("⏭️ Skipped *gpt*_mini_ (") for c in captions)
