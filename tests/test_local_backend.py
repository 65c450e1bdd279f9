"""The embedded backend for real: llama.cpp's server with the packaged SmolLM2 model, through our client."""

import json
import os
import signal
import threading
import time

import pytest

from config import load_settings
from events import Finished, RequestSent, TextDelta, ToolResult, UsageReported
from function_tools import ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner
from local_backend import LocalBackendUnavailable, LocalModelServer, local_spec, packaged_model, resolve_model


@pytest.fixture(scope="module")
def local_server():
    settings = load_settings({})
    spec = local_spec(settings.local_model_path, settings.local_chat_format, 1, 2048)
    server = LocalModelServer(spec)
    server.ensure_running()
    yield server
    server.stop()


def test_the_packaged_model_is_found():
    path = packaged_model()
    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert resolve_model(None) == path
    with pytest.raises(LocalBackendUnavailable, match="is not a file"):
        resolve_model("/nowhere/model.gguf")


def test_a_reply_streams_from_the_local_model(local_server):
    client = LLMClient("not-needed", local_server.base_url, read_timeout=120)
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
    client = LLMClient("not-needed", local_server.base_url, read_timeout=120)
    executor = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=5)
    messages = [
        {"role": "system", "content": "You are a helpful assistant. Use tools when useful."},
        {"role": "user", "content": "What time is it in Tokyo?"},
    ]
    runner = TurnRunner([Target(client, local_server.spec.alias, stream_tools=False)])
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


def test_a_dead_server_is_restarted(local_server):
    os.kill(local_server._process.pid, signal.SIGKILL)
    local_server._process.wait(10)
    assert not local_server.healthy()
    # restart from a short-lived thread, as a Streamlit script run does; the server must outlive it
    urls: list[str] = []
    starter = threading.Thread(target=lambda: urls.append(local_server.ensure_running()))
    starter.start()
    starter.join(120)
    time.sleep(1.0)
    url = urls[0]
    assert local_server.healthy() and local_server.restarts == 1
    assert LLMClient("not-needed", url, read_timeout=60).list_models() == [local_server.spec.alias]
