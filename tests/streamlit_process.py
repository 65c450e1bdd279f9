"""A `streamlit run` process and the headless Chromium that drives it: shared by the browser tests (tests/e2e) and
the browser benchmark (bench/browser.py), so both start the app and the browser the same way."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package: never `playwright install`
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
        return int(sock.getsockname()[1])


class StreamlitProcess:
    """``streamlit run script`` from ``cwd`` (the app's folder, so its .streamlit/config.toml applies, listening
    address included) on a free port, its output in ``log``. ``runner``: what runs instead of ``python -m streamlit``
    (the benchmark's profiler)."""

    def __init__(
        self, script: Path, cwd: Path, env: dict[str, str], log: Path, runner: Sequence[str] = ("-m", "streamlit")
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        flags = ["--server.headless", "true", "--server.port", str(self.port), "--browser.gatherUsageStats", "false"]
        command = [sys.executable, *runner, "run", str(script), *flags]
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 90.0) -> Self:
        """Until its health endpoint answers; stopped, with its log in the error, when it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start ({self.log.name}):\n{self.log.read_text()}")

    def stop(self, wait: float = 10.0) -> None:
        self.process.terminate()
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
