"""Tools the model may call, and the ToolExecutor that runs them safely.

A tool is a plain function: its type hints (``Annotated`` descriptions, ``Literal`` enums) and
docstring make its JSON schema, so schema and code cannot drift apart. The executor parses the
model's JSON arguments, checks them against the schema, runs the function with a timeout, and
turns every failure into an error result for the model instead of an exception.
"""

from __future__ import annotations

import ast
import atexit
import functools
import inspect
import json
import logging
import math
import operator
import os
import resource
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, available_timezones

from knowledge_base import Hit, KnowledgeBase

_log = logging.getLogger(__name__)


class ToolError(Exception):
    """A failure the model should read and may recover from (bad input, service down)."""


_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _param_schema(hint: Any) -> tuple[dict[str, Any], type]:
    description = ""
    if get_origin(hint) is Annotated:
        hint, description = get_args(hint)[0], get_args(hint)[1]
    if get_origin(hint) is Literal:
        choices = list(get_args(hint))
        schema: dict[str, Any] = {"type": _JSON_TYPES[type(choices[0])], "enum": choices}
        python_type: type = type(choices[0])
    else:
        schema, python_type = {"type": _JSON_TYPES[hint]}, hint
    if description:
        schema["description"] = description
    return schema, python_type


@dataclass(frozen=True)
class Tool:
    name: str
    function: Callable[..., Any]
    schema: dict[str, Any]
    param_types: dict[str, type]

    @classmethod
    def from_function(cls, function: Callable[..., Any], name: str | None = None) -> Tool:
        hints = get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
        properties: dict[str, Any] = {}
        param_types: dict[str, type] = {}
        required: list[str] = []
        for param in signature.parameters.values():
            schema, python_type = _param_schema(hints[param.name])
            properties[param.name] = schema
            param_types[param.name] = python_type
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        tool_name = name or function.__name__
        description = inspect.cleandoc(function.__doc__ or tool_name)
        return cls(
            name=tool_name,
            function=function,
            schema={
                "type": "function",
                "function": {
                    "name": tool_name,
                    "description": description,
                    "parameters": {"type": "object", "properties": properties, "required": required},
                },
            },
            param_types=param_types,
        )

    def check_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate and coerce the model's arguments; ToolError names what is wrong."""
        unknown = sorted(set(arguments) - set(self.param_types))
        if unknown:
            raise ToolError(f"unknown argument(s): {', '.join(unknown)}")
        missing = [p for p in self.schema["function"]["parameters"]["required"] if p not in arguments]
        if missing:
            raise ToolError(f"missing required argument(s): {', '.join(missing)}")
        checked: dict[str, Any] = {}
        for key, value in arguments.items():
            expected = self.param_types[key]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
                raise ToolError(f"argument {key!r} must be of type {_JSON_TYPES[expected]}")
            enum = self.schema["function"]["parameters"]["properties"][key].get("enum")
            if enum and value not in enum:
                raise ToolError(f"argument {key!r} must be one of {enum}")
            checked[key] = value
        return checked


# --- calculate: a parsed AST with a whitelist, never eval, in a worker process that can be killed --

MAX_EXPRESSION_LENGTH = 500
MAX_NODES = 200
MAX_EXPONENT = 10_000
MAX_RESULT_DIGITS = 1_000
MAX_FACTORIAL = 500
CALCULATION_SECONDS = 2.0  # wall clock for one expression; the worker is killed when it overruns
CALCULATION_CPU_SECONDS = 2  # CPU time for one expression; past it the kernel kills the worker
CALCULATION_MEMORY = 256 * 2**20  # address space of the worker, in bytes
WORKER_START_SECONDS = 10.0  # a fresh worker imports this module first; a busy machine may be slow

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _factorial(n: float) -> int:
    if n != int(n) or n < 0 or n > MAX_FACTORIAL:
        raise ToolError(f"factorial takes a whole number from 0 to {MAX_FACTORIAL}")
    return math.factorial(int(n))


def _round(number: float, digits: int | None = None) -> float:
    """round() with the digits bounded: round(1, -10**7) alone builds a ten-million-digit power of ten."""
    if digits is None:
        return round(number)
    if not isinstance(digits, int) or abs(digits) > MAX_RESULT_DIGITS:
        raise ToolError(f"round takes a whole number of digits from -{MAX_RESULT_DIGITS} to {MAX_RESULT_DIGITS}")
    return round(number, digits)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "cbrt": math.cbrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "degrees": math.degrees,
    "radians": math.radians,
    "abs": abs,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": _factorial,
    "min": min,
    "max": max,
    "hypot": math.hypot,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_SPELLINGS = {"×": "*", "÷": "/", "^": "**", "（": "(", "）": ")", "，": ",", "−": "-"}


def _check_magnitude(value: Any) -> Any:
    if isinstance(value, complex):
        raise ToolError("result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_DIGITS * 3.33:
        raise ToolError(f"result has more than {MAX_RESULT_DIGITS} digits")
    if isinstance(value, float) and math.isinf(value):
        raise ToolError("result is too large")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent is larger than {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
            raise ToolError(f"result has more than {MAX_RESULT_DIGITS} digits")
    return base**exponent


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Pow):
        return _power(left, right)
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_RESULT_DIGITS * 3.33:
            raise ToolError(f"result has more than {MAX_RESULT_DIGITS} digits")
    return _BINARY[type(op)](left, right)


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _check_magnitude(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        try:
            return _check_magnitude(_binary(node.op, left, right))
        except ZeroDivisionError as exc:
            raise ToolError("division by zero") from exc
        except OverflowError as exc:
            raise ToolError("result is too large") from exc
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_evaluate(arg) for arg in node.args]
        try:
            return _check_magnitude(_FUNCTIONS[node.func.id](*args))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ToolError(f"{node.func.id}: {exc}") from exc
    if isinstance(node, ast.Name):
        raise ToolError(f"unknown name {node.id!r}; allowed: {', '.join(sorted(_FUNCTIONS) + sorted(_CONSTANTS))}")
    raise ToolError(f"not allowed in an expression: {type(getattr(node, 'op', node)).__name__}")


def evaluate_expression(expression: str) -> int | float:
    """Evaluate arithmetic safely: numbers, + - * / // % **, whitelisted math functions.

    Every operation is bounded, but this runs in the calculator's worker process (see ``Calculator``)
    so that a case the bounds miss costs a killed worker, not a frozen app."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    for written, python in _SPELLINGS.items():
        expression = expression.replace(written, python)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot parse expression: {exc.msg}") from exc
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"expression has more than {MAX_NODES} parts")
    return _evaluate(tree)


def _lower_limit(kind: int, value: int) -> None:
    """Set a soft resource limit, never above the hard one."""
    _, hard = resource.getrlimit(kind)
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def _answer(request: bytes) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _lower_limit(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime) + CALCULATION_CPU_SECONDS)
    try:
        return {"result": evaluate_expression(json.loads(request)["expression"])}
    except ToolError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": "the calculation needs too much memory"}
    except Exception as exc:  # noqa: BLE001 - the worker answers every request, and never with a traceback
        return {"error": f"the calculation failed ({type(exc).__name__})"}


def serve_calculations() -> None:
    """The worker's loop: a JSON request per line on stdin, a JSON answer per line on stdout, until EOF
    (the app closed the pipe or died)."""
    _lower_limit(resource.RLIMIT_AS, CALCULATION_MEMORY)
    _lower_limit(resource.RLIMIT_CORE, 0)  # a worker killed for CPU time leaves no core file
    for request in sys.stdin.buffer:
        sys.stdout.buffer.write(json.dumps(_answer(request)).encode("ascii") + b"\n")
        sys.stdout.buffer.flush()


_WORKER_CODE = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
    "import function_tools; function_tools.serve_calculations()"
)


def _read_line(fd: int, deadline: float) -> bytes:
    """One line from a pipe; TimeoutError at the deadline, EOFError when the writer is gone."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise TimeoutError
        chunk = os.read(fd, 65_536)
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Calculator:
    """Evaluates expressions in a separate Python process with CPU and memory limits.

    Big-integer work holds the GIL inside one C call, so a thread cannot be timed out; a process can
    be killed. One worker serves the whole app (a lock takes turns, each turn bounded by ``seconds``);
    it starts on first use, with an empty environment (no API key), and is replaced after a kill.
    """

    def __init__(self, seconds: float = CALCULATION_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def evaluate(self, expression: str) -> int | float:
        with self._lock:
            answer = self._ask(json.dumps({"expression": expression}).encode("ascii") + b"\n")
        if "error" in answer:
            raise ToolError(answer["error"])
        return answer["result"]

    def close(self) -> None:
        """Stop the worker (the next evaluation starts a new one)."""
        with self._lock:
            self._stop()

    def _ask(self, request: bytes) -> dict[str, Any]:
        deadline = time.monotonic() + self.seconds
        if self._process is None or self._process.poll() is not None:
            self._stop()
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _WORKER_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={},
            )
            deadline += WORKER_START_SECONDS
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(request)
            process.stdin.flush()
            return dict(json.loads(_read_line(process.stdout.fileno(), deadline)))
        except TimeoutError as exc:
            self._stop()
            raise ToolError(f"the calculation took longer than {self.seconds:g} s; try a simpler expression") from exc
        except (OSError, EOFError, ValueError) as exc:
            self._stop()
            raise ToolError("the calculation needed too much time or memory; try a simpler expression") from exc

    def _stop(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._process = None


CALCULATOR = Calculator()
atexit.register(CALCULATOR.close)


def calculate(expression: Annotated[str, "Arithmetic expression, e.g. 123*456 or sqrt(2)/3"]) -> dict[str, Any]:
    """Evaluate a math expression exactly. Supports + - * / // % ** and sqrt, log, sin, cos, factorial, pi, e."""
    result = CALCULATOR.evaluate(expression)
    if isinstance(result, float) and result.is_integer() and abs(result) < 1e15:
        result = int(result)
    return {"expression": expression, "result": result}


# --- get_current_time: honours the timezone -------------------------------------------------


@functools.lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _shown(text: str, limit: int = 60) -> str:
    """Input echoed in an error message, cut short: the model needs a hint, not its own 5,000 characters back."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def make_time_tool(default_timezone: str = "UTC") -> Callable[..., dict[str, Any]]:
    def get_current_time(
        timezone: Annotated[str, "IANA time zone such as Asia/Shanghai or Europe/London"] = default_timezone,
    ) -> dict[str, Any]:
        """Get the current date and time in a time zone."""
        if timezone not in _time_zones():  # checked first: ZoneInfo's own errors name files on this server
            raise ToolError(f"unknown time zone {_shown(timezone)}; use an IANA name like Asia/Shanghai")
        now = datetime.now(UTC).astimezone(ZoneInfo(timezone))
        return {
            "timezone": timezone,
            "datetime": now.isoformat(timespec="seconds"),
            "weekday": now.strftime("%A"),
            "utc_offset": now.strftime("%z"),
        }

    return get_current_time


# --- get_current_weather: Open-Meteo, no key needed ------------------------------------------

_WEATHER_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "rime fog",
    51: "light drizzle",
    53: "drizzle",
    55: "dense drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    80: "rain showers",
    81: "heavy rain showers",
    82: "violent rain showers",
    95: "thunderstorm",
    96: "thunderstorm with hail",
}


def _reason(exc: OSError) -> str:
    """Why a request failed, in words without file names (an OSError's text may carry a path)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", exc)
    return (reason.strerror if isinstance(reason, OSError) else None) or type(reason).__name__


def _get_json(url: str, params: dict[str, Any], timeout: float) -> Any:
    full = f"{url}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=timeout) as response:  # noqa: S310 (configured https URL)
            return json.loads(response.read().decode("utf-8"))
    except OSError as exc:
        raise ToolError(f"weather service unreachable ({_reason(exc)}); try again later") from exc
    except ValueError as exc:
        raise ToolError("weather service sent an unreadable answer") from exc


def make_weather_tool(api_url: str, geocoding_url: str, timeout: float = 8.0) -> Callable[..., dict[str, Any]]:
    def get_current_weather(
        city: Annotated[str, "City name in any language, e.g. 北京 or Paris"],
        unit: Annotated[Literal["celsius", "fahrenheit"], "Temperature unit"] = "celsius",
    ) -> dict[str, Any]:
        """Get the current weather for a city (live data from Open-Meteo)."""
        language = "zh" if any("\u3400" <= char <= "\u9fff" for char in city) else "en"
        places = _get_json(geocoding_url, {"name": city, "count": 1, "language": language, "format": "json"}, timeout)
        results = places.get("results") if isinstance(places, dict) else None
        if not results:
            raise ToolError(f"no place called {_shown(city)} was found")
        place = results[0]
        forecast = _get_json(
            api_url,
            {
                "latitude": place["latitude"],
                "longitude": place["longitude"],
                "current": "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m",
                "temperature_unit": unit,
                "timezone": "auto",
            },
            timeout,
        )
        current = forecast.get("current", {}) if isinstance(forecast, dict) else {}
        return {
            "city": place.get("name", city),
            "country": place.get("country", ""),
            "time": current.get("time"),
            "temperature": current.get("temperature_2m"),
            "unit": unit,
            "humidity_percent": current.get("relative_humidity_2m"),
            "wind_speed_kmh": current.get("wind_speed_10m"),
            "conditions": _WEATHER_CODES.get(current.get("weather_code", -1), "unknown"),
        }

    return get_current_weather


# --- search_knowledge_base: the user's documents and the bundled sample, with what to cite ---------------------

KNOWLEDGE_TOOL = "search_knowledge_base"


class KnowledgeIndex(Protocol):
    """What the knowledge tool searches: document_store.DocumentStore in the app, KnowledgeBase (the bundled
    sample in memory) where there is no database."""

    def search(self, query: str, top_k: int = 3, collections: Sequence[str] | None = None) -> list[Hit]: ...


def make_knowledge_tool(
    knowledge: KnowledgeIndex, collections: Sequence[str] | None = None
) -> Callable[..., list[dict[str, Any]]]:
    """The tool over ``knowledge``, seeing only ``collections`` (None: every one): the chat chooses, not the model."""

    def search_knowledge_base(
        query: Annotated[str, "What to look up, in Chinese or English"],
        top_k: Annotated[int, "How many passages to return (1-5)"] = 3,
    ) -> list[dict[str, Any]]:
        """Search the knowledge base: the user's documents, and notes on the OpenAI API, tokens, streaming, tools
        and this app. After a statement taken from a passage, put its cite mark, e.g. [streaming.md #2]."""
        if not 1 <= top_k <= 5:
            raise ToolError("top_k must be between 1 and 5")
        if collections is not None and not collections:
            return [{"note": "no knowledge collection is chosen for this chat; the user can choose them"}]
        hits = knowledge.search(query, top_k, collections)
        if not hits:
            return [{"note": f"nothing in the knowledge base matches {_shown(query)}"}]
        return [
            {
                "cite": f"[{h.source} #{h.passage}]",
                "document": h.source,
                "passage": h.passage,
                "collection": h.collection,
                "title": h.title,
                "text": h.text,
                "score": round(h.score, 3),
            }
            for h in hits
        ]

    return search_knowledge_base


@dataclass(frozen=True)
class CitedPassage:
    """A passage the knowledge tool gave the model: what a reply's citation names and opens."""

    document: str
    passage: int
    collection: str
    title: str
    text: str


def cited_passages(results: Iterable[tuple[str, str]]) -> list[CitedPassage]:
    """The passages in a reply's tool results ((tool name, result content) pairs), each once, in order; other
    tools, errors, notes and content that does not read are passed over."""
    found: dict[tuple[str, str, int], CitedPassage] = {}
    for name, content in results:
        if name != KNOWLEDGE_TOOL:
            continue
        try:
            items = json.loads(content)
        except ValueError:
            continue
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            document, number = item.get("document"), item.get("passage")
            if isinstance(document, str) and isinstance(number, int) and isinstance(item.get("text"), str):
                collection = str(item.get("collection", ""))
                cited = CitedPassage(document, number, collection, str(item.get("title", "")), item["text"])
                found.setdefault((collection, document, number), cited)
    return list(found.values())


# --- registry and executor -------------------------------------------------------------------


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = (), knowledge: KnowledgeIndex | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self.knowledge = knowledge  # what search_knowledge_base searches, to scope it per chat
        for tool in tools:
            self.register(tool)

    def scoped(self, collections: Sequence[str] | None) -> ToolRegistry:
        """This registry with search_knowledge_base seeing only ``collections`` (None: every one, this registry)."""
        if collections is None or self.knowledge is None or KNOWLEDGE_TOOL not in self._tools:
            return self
        scoped = ToolRegistry(self._tools.values(), self.knowledge)
        scoped.register(Tool.from_function(make_knowledge_tool(self.knowledge, collections)))
        return scoped

    def register(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self, enabled: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return [t.schema for n, t in self._tools.items() if enabled is None or n in enabled]


def default_registry(
    weather_api_url: str,
    geocoding_api_url: str,
    default_timezone: str = "UTC",
    knowledge: KnowledgeIndex | None = None,
) -> ToolRegistry:
    """The built-in tools; the knowledge tool searches ``knowledge`` (None: the bundled sample, in memory)."""
    index = knowledge or KnowledgeBase.bundled()
    return ToolRegistry(
        [
            Tool.from_function(make_weather_tool(weather_api_url, geocoding_api_url)),
            Tool.from_function(calculate),
            Tool.from_function(make_knowledge_tool(index)),
            Tool.from_function(make_time_tool(default_timezone)),
        ],
        index,
    )


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str

    def to_param(self) -> dict[str, Any]:
        """The call as it appears in an assistant message sent to the API."""
        return {"id": self.call_id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolOutcome:
    call: ToolCall
    content: str
    is_error: bool


def _error(call: ToolCall, message: str) -> ToolOutcome:
    return ToolOutcome(call, json.dumps({"error": message}, ensure_ascii=False), True)


class ToolExecutor:
    """Runs a round's tool calls in parallel threads; one that hangs is abandoned after ``timeout`` seconds.

    Each round gets its own pool, released at once afterwards, so an abandoned tool never holds up
    a later round.
    """

    def __init__(self, registry: ToolRegistry, timeout: float = 15.0, enabled: Sequence[str] | None = None) -> None:
        self.registry = registry
        self.timeout = timeout
        self.enabled = list(registry.names() if enabled is None else enabled)

    def schemas(self) -> list[dict[str, Any]]:
        return self.registry.schemas(self.enabled)

    def _prepare(self, call: ToolCall) -> tuple[Tool, dict[str, Any]]:
        tool = self.registry.get(call.name)
        if tool is None or call.name not in self.enabled:
            raise ToolError(f"unknown tool {call.name!r}; available: {', '.join(self.enabled) or 'none'}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolError(f"arguments are not valid JSON ({exc.msg} at position {exc.pos})") from exc
        if not isinstance(arguments, dict):
            raise ToolError("arguments must be a JSON object")
        return tool, tool.check_arguments(arguments)

    def run_all(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """Run several calls at once; results come back in the order of the calls."""
        pool = ThreadPoolExecutor(max_workers=max(len(calls), 1), thread_name_prefix="tool")
        try:
            pending: list[tuple[ToolCall, Any]] = []
            for call in calls:
                try:
                    tool, arguments = self._prepare(call)
                except ToolError as exc:
                    pending.append((call, exc))
                    continue
                pending.append((call, pool.submit(tool.function, **arguments)))
            started = time.monotonic()
            return [self._timed(call, job, started) for call, job in pending]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _timed(self, call: ToolCall, job: Any, started: float) -> ToolOutcome:
        """The call's outcome, logged with how long after the round's start it was in."""
        outcome = self._collect(call, job, started + self.timeout)
        elapsed = round((time.monotonic() - started) * 1000)
        if outcome.is_error:
            _log.warning("tool %s failed after %d ms: %s", call.name, elapsed, outcome.content[:200])
        else:
            _log.info("tool %s ran in %d ms", call.name, elapsed)
        return outcome

    def run(self, call: ToolCall) -> ToolOutcome:
        return self.run_all([call])[0]

    def _collect(self, call: ToolCall, job: Any, deadline: float) -> ToolOutcome:
        if isinstance(job, ToolError):
            return _error(call, str(job))
        try:
            value = job.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            return _error(call, f"tool {call.name!r} did not finish within {self.timeout:g} s")
        except ToolError as exc:
            return _error(call, str(exc))
        except Exception as exc:  # noqa: BLE001 - any tool failure goes back to the model
            _log.warning("tool %r failed", call.name, exc_info=exc)
            return _error(call, f"tool {call.name!r} failed unexpectedly ({type(exc).__name__})")
        return ToolOutcome(call, json.dumps(value, ensure_ascii=False, default=str), False)
