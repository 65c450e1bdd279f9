"""Shared fixtures: the scripted OpenAI-compatible server (the only fake) and a clean environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_server import ScriptedServer  # noqa: E402

APP_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "TEMPERATURE",
    "MAX_TOKENS",
    "MAX_TOOL_ROUNDS",
    "REQUEST_TIMEOUT",
    "MAX_RETRIES",
    "TOOL_TIMEOUT",
    "USD_CNY_RATE",
    "UI_LANGUAGE",
    "WEATHER_API_URL",
    "GEOCODING_API_URL",
    "DATA_DIR",
    "LOCAL_MODEL_PATH",
    "MODELS_FILE",
    "TEMPLATES_FILE",
)

TEST_KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    scripted_server.reset()
    return scripted_server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `.env` or shell variable leaks into a test."""
    for name in APP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> ScriptedServer:
    """Point the app at the scripted server, in English, with no SDK retries (tests stay fast)."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("UI_LANGUAGE", "en")
    monkeypatch.setenv("MAX_RETRIES", "0")
    monkeypatch.setenv("REQUEST_TIMEOUT", "10")
    return server
