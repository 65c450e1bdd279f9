"""MCP servers as tools beside the built-ins: `mcp.json` read and checked, each server started (stdio) or
connected (streamable HTTP) with the official `mcp` SDK, its tools turned into ``function_tools.Tool`` entries
that the same ``ToolExecutor`` runs (timeout, errors back to the model).

The SDK is async and the executor runs tools in threads, so one ``McpManager`` owns one asyncio loop in a
thread of its own: each server lives in a task there (its session and child process with it), and a tool call
from an executor thread is handed to that loop and waited for with a timeout. A server that cannot start is
kept with the reason; the others work without it.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

import httpx2
import jsonschema
import mcp_types
from jsonschema.exceptions import best_match
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from config import read_json_object, redact
from function_tools import Tool, ToolError

_log = logging.getLogger(__name__)

CONNECT_SECONDS = 30.0  # to start or reach a server and list its tools (`npx` may fetch its package first)
HTTP_READ_SECONDS = 300.0  # a streamable-HTTP server may hold a response stream open this long (the SDK's default)
CLOSE_SECONDS = 10.0  # for every session to close; a stdio server gets its stdin closed, then signals
STDERR_LINES = 20  # of a stdio server's stderr, kept to say why it stopped
NAME_LIMIT = 64  # OpenAI's limit on a function name, which must match [a-zA-Z0-9_-]
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_T = TypeVar("_T")


class McpConfigError(ValueError):
    """`mcp.json` cannot be read, or one server's entry is wrong; the message names the file or the server."""


class ServerConfig(BaseModel):
    """One entry of ``mcpServers``, in the shape Claude Desktop and Cursor use: ``command``/``args``/``env`` for a
    server started over stdio, or ``url``/``headers`` for one reached over streamable HTTP. Keys other clients
    add (``type``, ``autoApprove``, ...) are left alone; ``disabled`` skips the server."""

    model_config = ConfigDict(extra="ignore")

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    url: str | None = None
    headers: dict[str, str] = {}
    disabled: bool = False

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a server started over stdio) or url (streamable HTTP)")
        if self.command is not None and not self.command.strip():
            raise ValueError("command is empty")
        if self.url is not None and not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError("url must start with http:// or https://")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"


def _validation_message(error: ValidationError) -> str:
    """Pydantic's errors as one line: where, and what is wrong."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_config(data: Mapping[str, Any]) -> tuple[dict[str, ServerConfig], dict[str, str]]:
    """The servers of a parsed `mcp.json`, and the entries that are wrong (server name -> why), so one bad entry
    does not stop the others. A file without ``mcpServers`` is wrong as a whole (McpConfigError)."""
    entries = data.get("mcpServers")
    if not isinstance(entries, dict):
        raise McpConfigError('must hold "mcpServers": an object of servers by name')
    servers: dict[str, ServerConfig] = {}
    invalid: dict[str, str] = {}
    for name, entry in entries.items():
        if not name.strip():
            invalid[name] = "a server needs a name"
            continue
        try:
            servers[name] = ServerConfig.model_validate(entry)
        except ValidationError as error:
            invalid[name] = _validation_message(error)
    return servers, invalid


def read_config(path: Path) -> tuple[dict[str, ServerConfig], dict[str, str]]:
    """``parse_config`` of the file; no file means no servers."""
    if not path.is_file():
        return {}, {}
    data = read_json_object(path, McpConfigError)
    try:
        return parse_config(data)
    except McpConfigError as error:
        raise McpConfigError(f"{path}: {error}") from None


def expand(values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """``${NAME}`` in env and header values, taken from the app's environment: a key reaches a server only when
    its entry names it."""

    def value(match: re.Match[str]) -> str:
        if match[1] not in environ:
            raise McpConfigError(f"${{{match[1]}}} is not set in the environment")
        return environ[match[1]]

    return {key: _VARIABLE.sub(value, text) for key, text in values.items()}


def tool_name(server: str, tool: str, taken: set[str]) -> str:
    """The name the model calls a server's tool by: ``server__tool``, always, so names never clash with the
    built-ins or another server's and stay the same when servers come and go (a chat keeps its tool choice).
    Characters OpenAI refuses become ``_``; a name too long or already taken ends in a short hash."""
    name = _UNSAFE.sub("_", f"{server}__{tool}")
    if len(name) > NAME_LIMIT or name in taken:
        digest = hashlib.sha1(f"{server}\0{tool}".encode(), usedforsecurity=False).hexdigest()[:8]
        name = f"{name[: NAME_LIMIT - 9]}_{digest}"
    taken.add(name)
    return name


@dataclass(frozen=True)
class McpTool(Tool):
    """A server's tool: its JSON schema is the server's own, so arguments are checked against that schema."""

    server: str = ""
    validator: Any = None  # a jsonschema validator; None when the server's schema is not valid JSON Schema

    def check_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self.validator is not None and (problem := best_match(self.validator.iter_errors(arguments))):
            where = problem.json_path.removeprefix("$").lstrip(".")
            raise ToolError(f"arguments do not match the schema: {f'{where}: ' if where else ''}{problem.message}")
        return arguments


def _validator(schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)


def _block_text(block: mcp_types.ContentBlock) -> str:
    """What the model reads of one content block: text as it is, anything else named, not inlined."""
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
        return f"[{block.type} ({block.mime_type}) not shown to the model]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        return f"[binary resource {resource.uri} not shown to the model]"
    return f"[resource {block.uri}]"


def result_value(result: mcp_types.CallToolResult) -> Any:
    """A tool's answer for the model: its text content (its structured content when it sends no text); a result
    flagged as an error becomes a ToolError with the server's words."""
    text = "\n".join(_block_text(block) for block in result.content)
    if result.is_error:
        raise ToolError(text or "the tool reported an error without saying why")
    if not result.content and result.structured_content is not None:
        return result.structured_content
    return text


def _root_cause(error: BaseException) -> BaseException:
    """The one failure inside the task groups the SDK wraps errors in."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _reason(error: BaseException) -> str:
    error = _root_cause(error)
    text = str(error).strip()
    if isinstance(error, BaseExceptionGroup):
        text = "; ".join(_reason(inner) for inner in error.exceptions)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _StderrTail:
    """The last lines a stdio server writes to stderr (read from a pipe in a thread), to say why it stopped."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.writer: TextIO = os.fdopen(write_fd, "w")
        self.lines: deque[str] = deque(maxlen=STDERR_LINES)
        self._reader = threading.Thread(
            target=self._read, args=(os.fdopen(read_fd, encoding="utf-8", errors="replace"),), daemon=True
        )
        self._reader.start()

    def _read(self, pipe: TextIO) -> None:
        with pipe:
            for line in pipe:
                if line.strip():
                    self.lines.append(line.rstrip())

    def close_writer(self) -> None:
        """The server has its own copy once started; ours closed, the pipe ends when the server does."""
        if not self.writer.closed:
            self.writer.close()

    async def text(self, seconds: float = 2.0) -> str:
        """The tail, once the server's end of the pipe is closed (or after ``seconds``)."""
        self.close_writer()
        await asyncio.to_thread(self._reader.join, seconds)
        return "\n".join(self.lines)


@dataclass
class _Server:
    """One configured server in the manager's loop: its client while connected, else why not."""

    name: str
    config: ServerConfig
    environ: Mapping[str, str]
    client: Client | None = None
    tools: list[mcp_types.Tool] = field(default_factory=list)
    error: str | None = None
    stopping: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None
    secrets: tuple[str, ...] = ()

    def _transport(self, stack: AsyncExitStack, stderr: _StderrTail | None) -> Any:
        config = self.config
        if config.command is not None:
            assert stderr is not None
            env = expand(config.env, self.environ)
            self.secrets = tuple(env.values())
            parameters = StdioServerParameters(command=config.command, args=config.args, env=env)
            return stdio_client(parameters, errlog=stderr.writer)
        headers = expand(config.headers, self.environ)
        self.secrets = tuple(headers.values())
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(CONNECT_SECONDS, read=HTTP_READ_SECONDS))
        stack.push_async_callback(http.aclose)
        assert config.url is not None
        return streamable_http_client(config.url, http_client=http)

    async def run(self, ready: asyncio.Future[None]) -> None:
        """Connects, lists the tools, then holds the session open until asked to stop."""
        self.stopping = asyncio.Event()
        stderr = _StderrTail() if self.config.transport == "stdio" else None
        try:
            async with AsyncExitStack() as stack:
                client = Client(self._transport(stack, stderr), client_info=_CLIENT_INFO)
                try:
                    await stack.enter_async_context(client)
                finally:
                    if stderr is not None:
                        stderr.close_writer()
                self.tools = await _list_tools(client)
                self.client = client
                ready.set_result(None)
                await self.stopping.wait()
        except Exception as error:  # noqa: BLE001 - a server that fails is recorded with the reason, never raised
            self.error = await self._why(error, stderr)
            _log.warning("MCP server %s stopped: %s", self.name, self.error)
        finally:
            self.client = None
            if stderr is not None:  # also where the entry was wrong before the server started: its reader ends
                stderr.close_writer()
            if not ready.done():
                ready.set_result(None)

    async def _why(self, error: Exception, stderr: _StderrTail | None) -> str:
        """The error in a line, and what a stdio server last wrote to stderr (its own words on why it stopped)."""
        if isinstance(error, McpConfigError):
            return str(error)
        tail = await stderr.text() if stderr is not None else ""
        return redact(f"{_reason(error)}\n{tail}".rstrip(), *self.secrets)


_CLIENT_INFO = mcp_types.Implementation(name="ai-chat-app", version="1")


async def _list_tools(client: Client) -> list[mcp_types.Tool]:
    """Every tool the server lists, page by page."""
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            return tools


@dataclass(frozen=True)
class ServerStatus:
    """What the sidebar says of a server: its tools (as the model calls them) or why it is not running."""

    name: str
    transport: Literal["stdio", "http"] | None  # None: its entry in mcp.json is wrong
    tools: tuple[str, ...] = ()
    error: str | None = None


class McpManager:
    """The MCP servers of one `mcp.json`, shared by every browser session of the app process.

    ``start`` connects them all at once and returns when each is up or has failed (at most ``connect_seconds``);
    ``tools`` are the connected servers' tools; ``close`` ends the sessions and stops the child processes.
    """

    def __init__(self, call_seconds: float, connect_seconds: float = CONNECT_SECONDS) -> None:
        self.call_seconds = call_seconds
        self.connect_seconds = connect_seconds
        self.problem: str | None = None  # the file as a whole could not be read
        self._servers: dict[str, _Server] = {}
        self._invalid: dict[str, str] = {}
        self._tools: list[Tool] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp", daemon=True)
        self._thread.start()
        self._closed = False
        atexit.register(self.close)

    @classmethod
    def start(
        cls,
        path: Path,
        call_seconds: float,
        connect_seconds: float = CONNECT_SECONDS,
        environ: Mapping[str, str] | None = None,
    ) -> McpManager:
        """The servers of the file at ``path``, connected (those that could be)."""
        manager = cls(call_seconds, connect_seconds)
        try:
            configs, manager._invalid = read_config(path)
        except McpConfigError as error:
            manager.problem = str(error)
            return manager
        environment = os.environ if environ is None else environ
        manager._servers = {
            name: _Server(name, config, environment) for name, config in configs.items() if not config.disabled
        }
        manager._submit(manager._connect_all()).result()
        manager._tools = manager._make_tools()
        return manager

    def _submit(self, coroutine: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _connect_all(self) -> None:
        await asyncio.gather(*(self._connect(server) for server in self._servers.values()))

    async def _connect(self, server: _Server) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()
        server.task = asyncio.create_task(server.run(ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.connect_seconds)
        except TimeoutError:
            server.task.cancel()
            await asyncio.gather(server.task, return_exceptions=True)
            server.error = f"no answer within {self.connect_seconds:g} s"

    def _make_tools(self) -> list[Tool]:
        taken: set[str] = set()
        made: list[Tool] = []
        for server in self._servers.values():
            for listed in server.tools:
                name = tool_name(server.name, listed.name, taken)
                made.append(self._tool(server.name, listed, name))
        return made

    def _tool(self, server: str, listed: mcp_types.Tool, name: str) -> McpTool:
        schema = dict(listed.input_schema)
        description = listed.description or listed.title or listed.name
        return McpTool(
            name=name,
            function=self._caller(server, listed.name),
            schema={"type": "function", "function": {"name": name, "description": description, "parameters": schema}},
            param_types={},
            server=server,
            validator=_validator(schema),
        )

    def _caller(self, server: str, tool: str) -> Callable[..., Any]:
        def call(**arguments: Any) -> Any:
            return self.call(server, tool, arguments)

        return call

    def call(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        """Runs a server's tool from any thread; every failure is a ToolError the model reads."""
        running = self._servers.get(server)
        client = running.client if running is not None else None
        if running is None or client is None:
            why = running.error if running is not None and running.error else "it is not running"
            raise ToolError(f"MCP server {server!r} cannot run {tool!r}: {why}")
        job = self._submit(client.call_tool(tool, arguments))
        try:
            result = job.result(timeout=self.call_seconds)
        except TimeoutError as error:
            job.cancel()
            raise ToolError(f"MCP server {server!r} did not answer within {self.call_seconds:g} s") from error
        except Exception as error:  # noqa: BLE001 - the model reads what went wrong, the app goes on
            raise ToolError(f"MCP server {server!r} failed: {redact(_reason(error), *running.secrets)}") from error
        return result_value(result)

    def tools(self) -> list[Tool]:
        """The connected servers' tools, in the order of `mcp.json`."""
        return list(self._tools)

    def statuses(self) -> list[ServerStatus]:
        """Every server of the file, connected or not, and the entries that are wrong."""
        shown = [ServerStatus(name, None, error=why) for name, why in self._invalid.items()]
        for server in self._servers.values():
            names = tuple(t.name for t in self._tools if isinstance(t, McpTool) and t.server == server.name)
            error = server.error or (None if server.client is not None else "it is not running")
            shown.append(ServerStatus(server.name, server.config.transport, names, error))
        return shown

    def close(self) -> None:
        """Ends every session (a stdio server's process with it) and the loop; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._submit(self._stop_all()).result(timeout=CLOSE_SECONDS)
        except TimeoutError:
            _log.warning("MCP servers did not all stop within %g s", CLOSE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    async def _stop_all(self) -> None:
        for server in self._servers.values():
            if server.stopping is not None:
                server.stopping.set()
        await asyncio.gather(*(s.task for s in self._servers.values() if s.task is not None), return_exceptions=True)
