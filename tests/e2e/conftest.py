"""Starts the real app with `streamlit run` and a real headless Chromium (Debian's package)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_KEY
from streamlit_process import CHROMIUM, CHROMIUM_ARGS, StreamlitProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


class RunningApp(StreamlitProcess):
    """The app as scripts/run-app.sh starts it: from the repo folder, so .streamlit/config.toml applies."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        log = tmp / f"streamlit-{len(list(tmp.glob('streamlit-*.log')))}.log"  # one per app: a test may run several
        super().__init__(ROOT / "app.py", ROOT, env, log)
        self.wait_ready(60)


def provider_env(server, **overrides: str) -> dict[str, str]:
    """The variables that point a launched app at the scripted server, in English, without retries."""
    return {
        "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "UI_LANGUAGE": "en",
        "MAX_RETRIES": "0",
        "APP_ENV_FILE": "/nonexistent.env",
    } | overrides


def send(page, text: str) -> None:
    """Types a message into the box once it takes input, and sends it."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled(timeout=30_000)
    box.fill(text)
    box.press("Enter")


@pytest.fixture
def launch_app(tmp_path: Path) -> Iterator:
    apps: list[RunningApp] = []

    def launch(**variables: str) -> RunningApp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["MCP_CONFIG"] = str(tmp_path / "absent-mcp.json")  # a developer's mcp.json starts nothing
        env["AUTO_TITLE"] = "off"  # no title request after a first reply unless a test asks for one
        env["LOCAL_SERVERS"] = "off"  # a developer's running Ollama must not replace the demo model
        env["HEALTH_CHECK_MINUTES"] = "0"  # no GET /models in the background unless a test asks for it
        env.update(variables)
        app = RunningApp(env, tmp_path)
        apps.append(app)
        return app

    yield launch
    for app in apps:
        app.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (scripts/run-tests.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path: Path):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    context.close()
