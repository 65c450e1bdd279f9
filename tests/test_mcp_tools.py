"""MCP servers as tools: real servers made with the `mcp` SDK (one over stdio started by the test, one over
streamable HTTP on 127.0.0.1), their tools called by the model through the turn loop against the scripted server."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mcp_types
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer

from app_driver import send, start
from conftest import TEST_KEY
from events import Finished, ToolResult
from function_tools import ToolCall, ToolError, ToolExecutor, ToolRegistry
from llm_client import ChatParams, LLMClient, Target, TurnRunner
from mcp_tools import McpConfigError, McpManager, parse_config, read_config, result_value, tool_name
from retry_policy import RetryPolicy
from scripted_server import Reply

PARAMS = ChatParams("gpt-4o-mini", temperature=0.3, max_tokens=200)

# A stdio server in a few lines: run by the test with this interpreter.
STDIO_SERVER = textwrap.dedent(
    """
    import os, sys

    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("demo")

    @server.tool()
    def add(a: int, b: int) -> int:
        \"\"\"Add two whole numbers.\"\"\"
        return a + b

    @server.tool()
    def refuse(reason: str) -> str:
        \"\"\"Always fails, saying why.\"\"\"
        raise ToolError(f"refused: {reason}")

    @server.tool()
    async def wait_forever() -> str:
        \"\"\"Never answers.\"\"\"
        await anyio.sleep_forever()
        return "never"

    @server.tool()
    def environment(name: str) -> str:
        \"\"\"One variable of the server's environment, or (unset).\"\"\"
        return os.environ.get(name, "(unset)")

    if __name__ == "__main__":
        with open(sys.argv[1], "w") as pid_file:
            pid_file.write(str(os.getpid()))
        server.run()
    """
)

CRASHING_SERVER = "import sys; print('cannot open the database', file=sys.stderr); sys.exit(3)"


@pytest.fixture
def stdio_script(tmp_path: Path) -> Path:
    script = tmp_path / "demo_server.py"
    script.write_text(STDIO_SERVER, encoding="utf-8")
    return script


def stdio_entry(script: Path, **extra: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(script), str(script.with_suffix(".pid"))], **extra}


@pytest.fixture
def http_url() -> Iterator[str]:
    """A streamable-HTTP MCP server in a thread of this process, on 127.0.0.1."""
    web = MCPServer("web")

    @web.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(web.streamable_http_app(), log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    server.should_exit = True
    thread.join()
    sock.close()


@pytest.fixture
def managers(tmp_path: Path) -> Iterator[Callable[..., McpManager]]:
    """Starts the servers of an mcp.json written from a dict; every manager is closed after the test."""
    started: list[McpManager] = []

    def make(servers: dict[str, Any], call_seconds: float = 20, **options: Any) -> McpManager:
        path = tmp_path / "mcp.json"
        path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
        started.append(McpManager.start(path, call_seconds, **options))
        return started[-1]

    yield make
    for manager in started:
        manager.close()


def run_turn(server, manager: McpManager, question: str) -> list[Any]:
    client = LLMClient(TEST_KEY, server.base_url, read_timeout=10)
    runner = TurnRunner([Target(client, PARAMS.model, True)], RetryPolicy(max_retries=0))
    executor = ToolExecutor(ToolRegistry(manager.tools()), timeout=20)
    return list(runner.run([{"role": "user", "content": question}], PARAMS, executor, 3))


def statuses(manager: McpManager) -> dict[str, Any]:
    return {status.name: status for status in manager.statuses()}


# --- through the loop ----------------------------------------------------------------------------------


def test_the_model_calls_a_stdio_servers_tool_through_the_loop(server, managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script)})
    server.expect(Reply(tool_calls=[("demo__add", '{"a": 2, "b": 40}')]), Reply(text="2 + 40 = 42."))
    events = run_turn(server, manager, "What is 2 + 40?")
    first, second = server.chat_requests()
    offered = {tool["function"]["name"]: tool["function"] for tool in first["tools"]}
    assert offered["demo__add"]["description"] == "Add two whole numbers."
    assert offered["demo__add"]["parameters"]["required"] == ["a", "b"]
    result = [event for event in events if isinstance(event, ToolResult)][0]
    assert not result.is_error and json.loads(result.content) == "42"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_0", "content": result.content}
    assert isinstance(events[-1], Finished)


def test_the_model_calls_a_streamable_http_servers_tool_through_the_loop(server, managers, http_url):
    manager = managers({"web": {"url": http_url}})
    assert statuses(manager)["web"].transport == "http"
    server.expect(Reply(tool_calls=[("web__shout", '{"text": "hello"}')]), Reply(text="HELLO."))
    run_turn(server, manager, "Shout hello")
    assert json.loads(server.chat_requests()[1]["messages"][-1]["content"]) == "HELLO"


def test_stdio_and_http_servers_work_side_by_side(managers, stdio_script, http_url):
    manager = managers({"demo": stdio_entry(stdio_script), "web": {"url": http_url}})
    names = [tool.name for tool in manager.tools()]
    assert names == ["demo__add", "demo__refuse", "demo__wait_forever", "demo__environment", "web__shout"]
    executor = ToolExecutor(ToolRegistry(manager.tools()), timeout=20)
    calls = [ToolCall("1", "demo__add", '{"a": 1, "b": 2}'), ToolCall("2", "web__shout", '{"text": "hi"}')]
    outcomes = executor.run_all(calls)
    assert [json.loads(outcome.content) for outcome in outcomes] == ["3", "HI"]


# --- failures --------------------------------------------------------------------------------------------


def test_a_server_that_fails_to_start_says_why_and_the_others_keep_working(managers, stdio_script, tmp_path):
    manager = managers(
        {
            "missing": {"command": str(tmp_path / "no-such-program")},
            "crashing": {"command": sys.executable, "args": ["-c", CRASHING_SERVER]},
            "demo": stdio_entry(stdio_script),
        }
    )
    found = statuses(manager)
    assert "No such file or directory" in found["missing"].error and not found["missing"].tools
    assert "cannot open the database" in found["crashing"].error  # the server's own words, from its stderr
    assert found["demo"].error is None and "demo__add" in found["demo"].tools
    assert all(tool.name.startswith("demo__") for tool in manager.tools())
    outcome = ToolExecutor(ToolRegistry(manager.tools())).run(ToolCall("1", "demo__add", '{"a": 5, "b": 5}'))
    assert json.loads(outcome.content) == "10"


def test_a_server_that_does_not_answer_while_connecting_is_given_up(managers):
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"]}
    manager = managers({"silent": silent}, connect_seconds=1)
    assert statuses(manager)["silent"].error == "no answer within 1 s"
    assert manager.tools() == []


def test_a_tool_that_fails_comes_back_to_the_model_as_an_error_result(managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script)})
    outcome = ToolExecutor(ToolRegistry(manager.tools())).run(ToolCall("1", "demo__refuse", '{"reason": "no"}'))
    assert outcome.is_error and json.loads(outcome.content) == {"error": "Error executing tool refuse: refused: no"}


def test_arguments_that_break_the_servers_schema_are_refused_before_the_call(managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script)})
    executor = ToolExecutor(ToolRegistry(manager.tools()))
    outcome = executor.run(ToolCall("1", "demo__add", '{"a": "two", "b": 2}'))
    assert outcome.is_error and "a: 'two' is not of type 'integer'" in json.loads(outcome.content)["error"]


def test_a_tool_that_does_not_answer_in_time_is_an_error_and_the_server_goes_on(managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script)}, call_seconds=0.5)
    executor = ToolExecutor(ToolRegistry(manager.tools()), timeout=30)
    outcome = executor.run(ToolCall("1", "demo__wait_forever", "{}"))
    assert outcome.is_error and "did not answer within 0.5 s" in outcome.content
    assert json.loads(executor.run(ToolCall("2", "demo__add", '{"a": 1, "b": 1}')).content) == "2"


def test_close_stops_the_server_process_and_later_calls_are_errors(managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script)})
    pid = int(stdio_script.with_suffix(".pid").read_text())
    tools = manager.tools()
    manager.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    outcome = ToolExecutor(ToolRegistry(tools)).run(ToolCall("1", "demo__add", '{"a": 1, "b": 1}'))
    assert outcome.is_error and "not running" in outcome.content


def test_the_apps_key_never_reaches_a_server_but_a_variable_its_entry_names_does(managers, stdio_script, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("DEMO_TOKEN", "token-for-demo")
    manager = managers({"demo": stdio_entry(stdio_script, env={"TOKEN": "${DEMO_TOKEN}"})})
    executor = ToolExecutor(ToolRegistry(manager.tools()))
    asked = [ToolCall(name, "demo__environment", json.dumps({"name": name})) for name in ("OPENAI_API_KEY", "TOKEN")]
    assert [json.loads(outcome.content) for outcome in executor.run_all(asked)] == ["(unset)", "token-for-demo"]


def test_a_variable_an_entry_names_but_nobody_set_stops_only_that_server(managers, stdio_script, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    manager = managers(
        {"needs": stdio_entry(stdio_script, env={"TOKEN": "${NOT_SET_ANYWHERE}"}), "demo": stdio_entry(stdio_script)}
    )
    assert statuses(manager)["needs"].error == "${NOT_SET_ANYWHERE} is not set in the environment"
    assert statuses(manager)["demo"].tools


# --- mcp.json ----------------------------------------------------------------------------------------------


def test_the_claude_desktop_shape_is_read_and_other_clients_keys_are_left_alone():
    servers, invalid = parse_config(
        {
            "globalShortcut": "",
            "mcpServers": {
                "files": {"command": "npx", "args": ["-y", "server-filesystem", "/tmp"], "autoApprove": []},
                "remote": {"type": "http", "url": "https://mcp.example.com/mcp", "headers": {"X-Key": "${KEY}"}},
                "off": {"command": "uvx", "disabled": True},
            },
        }
    )
    assert invalid == {}
    assert servers["files"].transport == "stdio" and servers["files"].args == ["-y", "server-filesystem", "/tmp"]
    assert servers["remote"].transport == "http" and servers["remote"].headers == {"X-Key": "${KEY}"}
    assert servers["off"].disabled


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({}, "give either command"),
        ({"command": "x", "url": "http://127.0.0.1:1/mcp"}, "give either command"),
        ({"command": "  "}, "command is empty"),
        ({"url": "ftp://example.com/mcp"}, "url must start with http:// or https://"),
        ({"command": "x", "args": "--flag"}, "args: Input should be a valid list"),
        ({"command": "x", "env": {"N": 1}}, "env.N: Input should be a valid string"),
        ("npx server", "Input should be a valid dictionary"),
    ],
)
def test_a_wrong_entry_is_named_with_why_and_the_others_are_kept(entry, why):
    servers, invalid = parse_config({"mcpServers": {"wrong": entry, "fine": {"command": "x"}}})
    assert list(servers) == ["fine"]
    assert why in invalid["wrong"]


def test_a_file_without_mcp_servers_or_not_json_is_wrong_as_a_whole(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text('{"servers": {}}', encoding="utf-8")
    with pytest.raises(McpConfigError, match=r"mcp\.json: must hold \"mcpServers\""):
        read_config(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(McpConfigError, match=r"mcp\.json: Expecting property name"):
        read_config(path)
    assert read_config(tmp_path / "absent.json") == ({}, {})


def test_a_manager_of_a_broken_file_has_no_tools_and_says_why(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text("[]", encoding="utf-8")
    manager = McpManager.start(path, call_seconds=5)
    try:
        assert manager.tools() == [] and manager.statuses() == []
        assert manager.problem is not None and "must hold a JSON object" in manager.problem
    finally:
        manager.close()


def test_a_disabled_server_is_not_started(managers, stdio_script):
    manager = managers({"demo": stdio_entry(stdio_script, disabled=True)})
    assert manager.statuses() == [] and not stdio_script.with_suffix(".pid").exists()


# --- names and results -------------------------------------------------------------------------------------


def test_tool_names_are_namespaced_within_openais_rule():
    taken: set[str] = set()
    assert tool_name("files", "read_file", taken) == "files__read_file"
    dotted = tool_name("my server", "fs.read", taken)
    assert dotted == "my_server__fs_read"
    assert tool_name("my.server", "fs read", taken) not in {dotted, "my_server__fs_read"}  # same once made safe
    long = tool_name("s" * 40, "t" * 40, taken)
    assert len(long) == 64 and long.startswith("s" * 40 + "__")
    assert all(len(name) <= 64 and name.replace("_", "").replace("-", "").isalnum() for name in taken)


def test_a_result_reads_as_its_text_and_an_error_result_raises():
    image = mcp_types.ImageContent(data="AAAA", mime_type="image/png")
    text = mcp_types.TextContent(text="a chart of sales")
    assert result_value(mcp_types.CallToolResult(content=[text, image])) == (
        "a chart of sales\n[image (image/png) not shown to the model]"
    )
    assert result_value(mcp_types.CallToolResult(content=[], structured_content={"total": 3})) == {"total": 3}
    with pytest.raises(ToolError, match="quota exceeded"):
        result_value(mcp_types.CallToolResult(content=[mcp_types.TextContent(text="quota exceeded")], is_error=True))


# --- the app -----------------------------------------------------------------------------------------------


def test_the_sidebar_lists_mcp_tools_says_why_a_server_failed_and_a_turn_calls_one(
    app_env, stdio_script, tmp_path, monkeypatch
):
    import ui_sidebar

    config = tmp_path / "app-mcp.json"
    servers = {"demo": stdio_entry(stdio_script), "broken": {"command": str(tmp_path / "no-such-program")}}
    config.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    monkeypatch.setenv("MCP_CONFIG", str(config))
    try:
        at = start()
        tools = at.sidebar.multiselect(key="tools")
        assert {"demo__add", "demo__refuse", "calculate"} <= set(tools.options)
        assert "demo__add" in tools.value  # enabled like the built-ins
        warnings = [w.value for w in at.sidebar.warning]
        assert any("broken" in w and "No such file or directory" in w for w in warnings), warnings
        assert any("demo" in c.value and "4 tools" in c.value for c in at.sidebar.caption)
        app_env.expect(Reply(tool_calls=[("demo__add", '{"a": 20, "b": 22}')]), Reply(text="It is 42."))
        send(at, "20 + 22?")
        assert json.loads(app_env.chat_requests()[1]["messages"][-1]["content"]) == "42"
    finally:
        ui_sidebar.mcp_manager.clear()  # releasing the shared manager closes it
    with pytest.raises(ProcessLookupError):
        os.kill(int(stdio_script.with_suffix(".pid").read_text()), 0)
