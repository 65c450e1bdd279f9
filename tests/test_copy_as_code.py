"""Copy as code: a traced round as Python (the openai SDK), curl and JavaScript (the official openai npm package),
each run for real against the scripted server, which must receive the same request.

What differs on the wire, by design of each client: the Python SDK sends the very bytes the app sent (the same SDK);
curl sends the body as printed (indented, line breaks dropped by ``-d``); the npm package keeps the keys in the
order of the request object and writes 0.3 as 0.3 but 1.0 as 1. Parsed, all three are the same JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exporters import round_code
from function_tools import ToolExecutor, default_registry
from llm_client import ChatParams, LLMClient, Target, TurnRunner, summarize
from retry_policy import RetryPolicy
from scripted_server import Reply, ScriptedServer
from wire_trace import TraceBudget, TraceTape

KEY = "sk-test-SECRET-0123456789abcdef"
REPLAY_KEY = "sk-replay-0123456789"
JS_DIR = Path(__file__).resolve().parent / "js"
PARAMS = ChatParams("gpt-4o-mini", temperature=0.3, max_tokens=200)


def tool_round_trace(server: ScriptedServer) -> dict[str, Any]:
    """The second round of a real turn: the tool call and its result in the messages, the tools offered."""
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    executor = ToolExecutor(default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g"), timeout=2)
    server.expect(Reply(tool_calls=[("calculate", '{"expression": "6*7"}')]), Reply(text="It is 42."))
    runner = TurnRunner([Target(client, PARAMS.model)], RetryPolicy(max_retries=0), trace_kb=256)
    events = list(
        runner.run([{"role": "user", "content": "6*7 是多少？ \"quoted\" 'text' $HOME `x`"}], PARAMS, executor)
    )
    traces = [event.trace.to_dict() for event in events if hasattr(event, "trace")]
    assert [trace["purpose"] for trace in traces] == ["tools", "answer"]
    return traces[1]


def summary_trace(server: ScriptedServer) -> dict[str, Any]:
    """A non-stream round."""
    client = LLMClient(KEY, server.base_url, read_timeout=5)
    server.expect(Reply(text="A summary."))
    tape = TraceTape(0, "summary", TraceBudget(1024))
    summarize(Target(client, "gpt-4o-mini"), [{"role": "user", "content": "summarise: hello"}], tape=tape)
    return tape.trace.to_dict()


def replayed(server: ScriptedServer, trace: dict[str, Any]) -> dict[str, Any]:
    """The request the replay sent: the last one the server received."""
    request = server.requests[-1]
    assert request["method"] == "POST" and request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {REPLAY_KEY}"
    assert json.loads(request["raw"]) == json.loads(trace["request_body"])
    return request


def run(command: list[str], cwd: Path) -> str:
    environment = {"OPENAI_API_KEY": REPLAY_KEY, "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def javascript_folder(tmp_path: Path) -> Path:
    """A folder that resolves ``openai`` to the pinned package of tests/js (ES modules ignore NODE_PATH)."""
    modules = JS_DIR / "node_modules" / "openai"
    if not modules.is_dir():
        pytest.fail("the openai npm package is not installed: run bash scripts/run-tests.sh (npm ci --prefix tests/js)")
    (tmp_path / "node_modules").symlink_to(JS_DIR / "node_modules", target_is_directory=True)
    return tmp_path


@pytest.fixture(params=["stream", "whole"])
def trace(request: pytest.FixtureRequest, server: ScriptedServer) -> dict[str, Any]:
    made = tool_round_trace(server) if request.param == "stream" else summary_trace(server)
    server.reset()
    return made


def expect_replay(server: ScriptedServer, trace: dict[str, Any]) -> str:
    streamed = json.loads(trace["request_body"]).get("stream", False)
    text = "Replayed, 重放。" if streamed else "Replayed whole."
    server.expect(Reply(text=text, usage=(9, 3)))
    return text


def test_the_code_never_holds_the_key_and_goes_where_the_round_went(trace, scripted_server):
    code = round_code(trace)
    assert sorted(code) == ["curl", "javascript", "python"]
    for text in code.values():
        assert KEY not in text and "sk-" not in text and "OPENAI_API_KEY" in text
        assert f"{scripted_server.base_url}" in text


def test_the_python_code_replays_the_round_byte_for_byte(trace, server, tmp_path):
    text = expect_replay(server, trace)
    script = tmp_path / "replay.py"
    script.write_text(round_code(trace)["python"], encoding="utf-8")
    output = run([sys.executable, str(script)], tmp_path)
    assert replayed(server, trace)["raw"] == trace["request_body"].encode()
    if json.loads(trace["request_body"])["stream"]:
        assert output.startswith(text) and "completion_tokens=3" in output
    else:
        assert json.loads(output)["choices"][0]["message"]["content"] == text


def test_the_curl_code_replays_the_round(trace, server, tmp_path):
    text = expect_replay(server, trace)
    output = run(["/usr/bin/bash", "-c", round_code(trace)["curl"]], tmp_path)
    replayed(server, trace)
    body = json.loads(trace["request_body"])
    if body["stream"]:
        pieces = [json.loads(line[6:]) for line in output.splitlines() if line.startswith("data: {")]
        assert "".join(p["choices"][0]["delta"].get("content") or "" for p in pieces if p["choices"]) == text
        assert output.rstrip().endswith("data: [DONE]")
    else:
        assert json.loads(output)["choices"][0]["message"]["content"] == text


def test_the_javascript_code_replays_the_round_with_the_official_npm_package(trace, server, tmp_path):
    text = expect_replay(server, trace)
    folder = javascript_folder(tmp_path)
    (folder / "replay.mjs").write_text(round_code(trace)["javascript"], encoding="utf-8")
    output = run(["node", "replay.mjs"], folder)
    request = replayed(server, trace)
    assert request["headers"]["user-agent"].startswith("OpenAI/JS ")
    if json.loads(trace["request_body"])["stream"]:
        assert output.startswith(text) and "completion_tokens: 3" in output
    else:
        assert json.loads(output)["choices"][0]["message"]["content"] == text


def test_the_pinned_npm_package_is_the_one_installed():
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/openai"]["version"]
    assert json.loads((JS_DIR / "package.json").read_text())["dependencies"]["openai"] == pinned
    installed = JS_DIR / "node_modules" / "openai" / "package.json"
    assert installed.is_file(), "run bash scripts/run-tests.sh (npm ci --prefix tests/js)"
    assert json.loads(installed.read_text())["version"] == pinned
    assert os.access("/usr/bin/curl", os.X_OK)
