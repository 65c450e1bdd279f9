"""The embedded backend for real: llama.cpp's server with the packaged SmolLM2 model, through our client."""

import importlib.util
import json
import os
import platform
import re
import signal
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config import load_settings
from events import Finished, Interrupted, RequestSent, TextDelta, ToolResult, UsageReported
from function_tools import ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner
from local_backend import LocalBackendUnavailable, LocalModelServer, local_spec, packaged_model, resolve_model
from retry_policy import RetryPolicy

pytestmark = pytest.mark.local_model

CRASHING_SERVER = Path(__file__).with_name("crashing_model_server.py")

# Instructions a portable x86-64 build must not contain: AMX tiles, and AVX-512 (zmm registers, mask
# registers, the upper 16 vector registers only EVEX can address, EVEX-only mnemonics).
FORBIDDEN = re.compile(
    r"\b(ldtilecfg|sttilecfg|tilerelease|tilezero|tileloadd\w*|tilestored|tdp\w+)\b"
    r"|%zmm\d+|\{%k[1-7]\}|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b"
    r"|\b(vpternlog[dq]|vpermt2\w+|vpermi2\w+|kmov[bwdq]|vpcompress\w+|vpexpand\w+|vp?scatter\w+)\b"
)


def forbidden_instructions(disassembly: str) -> list[str]:
    return [line.strip() for line in disassembly.splitlines() if FORBIDDEN.search(line)]


@pytest.fixture(scope="module")
def local_server():
    settings = load_settings({})
    spec = local_spec(settings.local_model_path, settings.local_chat_format, 1, 2048)
    server = LocalModelServer(spec)
    server.ensure_running()
    yield server
    server.stop()


def client_for(server: LocalModelServer, read_timeout: float = 120) -> LLMClient:
    return LLMClient(server.api_key, server.base_url, read_timeout=read_timeout)


def test_the_packaged_model_is_found():
    path = packaged_model()
    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert resolve_model(None) == path
    with pytest.raises(LocalBackendUnavailable, match="is not a file"):
        resolve_model("/nowhere/model.gguf")


def test_the_portability_check_finds_amx_and_avx512():
    portable = "  4011a0:\tvfmadd231ps %ymm1,%ymm2,%ymm3\n  4011a6:\tvmaskmovps (%rbx),%ymm0,%ymm7\n"
    assert forbidden_instructions(portable) == []
    for line in (
        "  4011b0:\ttileloadd (%rsi,%rdx,1),%tmm0",
        "  4011b0:\tldtilecfg (%rdi)",
        "  4011b0:\ttdpbssd %tmm2,%tmm1,%tmm0",
        "  4011b0:\tvaddps %zmm1,%zmm2,%zmm3",
        "  4011b0:\tvmovups (%rax),%ymm1{%k1}",
        "  4011b0:\tvpaddd %ymm17,%ymm1,%ymm2",
        "  4011b0:\tvpternlogd $0x96,%ymm1,%ymm2,%ymm3",
    ):
        assert forbidden_instructions(portable + line) == [line.strip()]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86-64 baseline check")
def test_the_built_llama_cpp_runs_on_any_x86_64_cpu_with_avx2():
    """No AMX, no AVX-512: a build with them dies with an illegal instruction on CPUs without them."""
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin is not None
    libraries = sorted((Path(spec.origin).parent / "lib").glob("lib*.so"))
    assert any(lib.name == "libggml-cpu.so" for lib in libraries), libraries
    for library in libraries:
        disassembly = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=True
        ).stdout
        assert len(disassembly) > 10_000
        found = forbidden_instructions(disassembly)
        assert not found, f"{library.name} is not portable: {found[:5]}"


def test_the_server_is_private_and_ready_only_after_generating(local_server):
    assert local_server.log_path is not None
    assert stat.S_IMODE(local_server.log_path.stat().st_mode) == 0o600
    log = local_server.log_path.read_text()
    assert "POST /v1/chat/completions" in log, "ready means a one-token generation succeeded"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{local_server.base_url}/models", timeout=10)
    assert refused.value.code == 401
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    port = f"{local_server.port:04X}"
    mine = [row.split() for row in listening if row.split()[1].endswith(f":{port}") and row.split()[3] == "0A"]
    assert [row[1] for row in mine] == [f"0100007F:{port}"], "listening on 127.0.0.1 only"


def test_a_reply_streams_from_the_local_model(local_server):
    client = client_for(local_server)
    assert client.list_models() == [local_server.spec.alias]
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    runner = TurnRunner([Target(client, local_server.spec.alias, stream_tools=False)])
    events = list(runner.run(messages, ChatParams(local_server.spec.alias, 0.0, 24)))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3, "the reply should arrive in several pieces"
    assert "".join(deltas).strip()
    assert isinstance(events[-1], Finished)
    usage = next(e for e in events if isinstance(e, UsageReported)).usage
    assert usage.estimated  # llama.cpp ignores stream_options.include_usage
    assert usage.completion_tokens > 0


def test_one_tool_round_the_local_way(local_server):
    executor = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=5)
    messages = [
        {"role": "system", "content": "You are a helpful assistant. Use tools when useful."},
        {"role": "user", "content": "What time is it in Tokyo?"},
    ]
    runner = TurnRunner([Target(client_for(local_server), local_server.spec.alias, stream_tools=False)])
    events = list(runner.run(messages, ChatParams(local_server.spec.alias, 0.0, 48), executor))
    requests = [e.body for e in events if isinstance(e, RequestSent)]
    assert requests[0]["stream"] is False and requests[0]["tools"]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert results, "at temperature 0 the packaged model calls get_current_time for this question"
    assert results[0].name == "get_current_time"
    final = requests[-1]
    assert final["stream"] is True and "tools" not in final
    assert final["messages"][-1] == {"role": "tool", "tool_call_id": results[0].call_id, "content": results[0].content}
    assert isinstance(events[-1], Finished)
    json.loads(results[0].content)


def test_a_crash_mid_reply_is_explained_and_the_server_restarts_once(local_server):
    target = Target(client_for(local_server), local_server.spec.alias, stream_tools=False, explain=local_server.explain)
    runner = TurnRunner([target], RetryPolicy(max_retries=0))
    messages = [{"role": "user", "content": "Tell me a long story about a dragon and a knight."}]
    events = []
    for event in runner.run(messages, ChatParams(local_server.spec.alias, 0.0, 400)):
        events.append(event)
        if isinstance(event, TextDelta) and len(events) < 50:
            os.kill(local_server._process.pid, signal.SIGKILL)
    assert any(isinstance(e, TextDelta) for e in events), "the text before the crash is kept"
    interrupted = events[-1]
    assert isinstance(interrupted, Interrupted) and interrupted.error.kind == "local_crashed"
    assert "SIGKILL" in interrupted.error.detail and "llama" in interrupted.error.detail.lower()
    assert not local_server.healthy()
    # restart from a short-lived thread, as a Streamlit script run does; the server must outlive it
    urls: list[str] = []
    starter = threading.Thread(target=lambda: urls.append(local_server.ensure_running()))
    starter.start()
    starter.join(120)
    time.sleep(1.0)
    assert local_server.healthy() and local_server.restarts == 1
    assert client_for(local_server, 60).list_models() == [local_server.spec.alias]


def test_a_server_that_dies_on_its_first_generation_never_counts_as_ready():
    settings = load_settings({})
    spec = local_spec(settings.local_model_path, settings.local_chat_format, 1, 2048)
    server = LocalModelServer(spec, startup_timeout=30, process_script=CRASHING_SERVER)
    try:
        with pytest.raises(LocalBackendUnavailable, match="crashed on its first generation") as failed:
            server.ensure_running()
        assert "SIGILL" in str(failed.value) and "tile instruction" in str(failed.value)
        with pytest.raises(LocalBackendUnavailable, match="SIGILL"):  # no restart loop: it stays failed
            server.ensure_running()
        assert server._process is None
        server.reset()
        with pytest.raises(LocalBackendUnavailable, match="SIGILL"):  # tried again, once asked
            server.ensure_running()
    finally:
        server.stop()
    assert server.log_path is None
