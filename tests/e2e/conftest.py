"""Starts the real app with `streamlit run` and a real headless Chromium (Debian's package)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningApp:
    """The app as scripts/run-app.sh starts it: from the repo folder, so .streamlit/config.toml applies
    (listening address included)."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"streamlit-{self.port}.log"  # one per app: a test may run several
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--browser.gatherUsageStats",
            "false",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
            if self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"streamlit did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


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


@pytest.fixture
def launch_app(tmp_path: Path) -> Iterator:
    apps: list[RunningApp] = []

    def launch(**variables: str) -> RunningApp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["MCP_CONFIG"] = str(tmp_path / "absent-mcp.json")  # a developer's mcp.json starts nothing
        env["AUTO_TITLE"] = "off"  # no title request after a first reply unless a test asks for one
        env["LOCAL_SERVERS"] = "off"  # a developer's running Ollama must not replace the demo model
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
