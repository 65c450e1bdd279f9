"""Shared fixtures: the scripted OpenAI-compatible server (the only fake) and a clean environment."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from config import SETTINGS, Settings, load_settings  # noqa: E402
from postgres import PostgresServer  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from store import Store  # noqa: E402

APP_VARIABLES = tuple(setting.name for setting in SETTINGS)  # every setting the app reads

TEST_KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(scripted_server: ScriptedServer, request: pytest.FixtureRequest) -> Iterator[ScriptedServer]:
    """The scripted server, emptied; a test that leaves replies unused or asks for one it did not queue fails."""
    scripted_server.reset()
    failed_before = request.session.testsfailed
    yield scripted_server
    problems = scripted_server.problems()
    if problems and request.session.testsfailed == failed_before:  # a failed test's leftovers say nothing new
        pytest.fail("scripted server: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def settings(app_env: ScriptedServer) -> Settings:
    """The app's settings as the environment gives them: pointed at the scripted server."""
    return load_settings()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A real SQLite store in the test's own folder."""
    return Store(tmp_path / "chats.db")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole run (tests/postgres.py), started when first asked."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of each kind, as Store.open takes it: a SQLite file in the test's folder, then a
    PostgreSQL database of its own."""
    if request.param == "sqlite":
        return str(tmp_path / "chats.db")
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def open_stores() -> Iterator[Callable[[str], Store]]:
    """Store.open for a test: every store it opened is closed at the end (PostgreSQL's connection pools)."""
    opened: list[Store] = []

    def open_store(url: str) -> Store:
        opened.append(Store.open(url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test of the local model fails, not skips, where its server cannot run: the suite must not pass without it."""
    if item.get_closest_marker("local_model") and importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed: run bash scripts/run-tests.sh", pytrace=False)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `.env` or shell variable leaks into a test."""
    for name in APP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MCP_CONFIG", str(tmp_path / "absent-mcp.json"))  # a developer's mcp.json starts nothing
    monkeypatch.setenv("AUTO_TITLE", "off")  # a title request after each first reply: only the titles' tests ask
    monkeypatch.setenv("LOCAL_SERVERS", "off")  # a developer's running Ollama is found only where a test asks
    monkeypatch.setenv("HEALTH_CHECK_MINUTES", "0")  # GET /models in the background: only the health tests ask


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
