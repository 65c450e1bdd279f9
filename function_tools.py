"""Tools the model may call, and the ToolExecutor that runs them safely.

A tool is a plain function: its type hints (``Annotated`` descriptions, ``Literal`` enums) and
docstring make its JSON schema, so schema and code cannot drift apart. The executor parses the
model's JSON arguments, checks them against the schema, runs the function with a timeout, and
turns every failure into an error result for the model instead of an exception.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import operator
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from knowledge_base import KnowledgeBase


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


# --- calculate: a parsed AST with a whitelist, never eval -------------------------------------

MAX_EXPRESSION_LENGTH = 500
MAX_NODES = 200
MAX_EXPONENT = 10_000
MAX_RESULT_DIGITS = 1_000
MAX_FACTORIAL = 500

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
    "round": round,
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
    try:
        return base**exponent
    except OverflowError as exc:
        raise ToolError("result is too large") from exc


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _check_magnitude(_power(left, right))
        if isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_RESULT_DIGITS * 3.33:
                raise ToolError(f"result has more than {MAX_RESULT_DIGITS} digits")
        try:
            return _check_magnitude(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as exc:
            raise ToolError("division by zero") from exc
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_evaluate(arg) for arg in node.args]
        try:
            return _check_magnitude(_FUNCTIONS[node.func.id](*args))
        except (ValueError, TypeError, OverflowError) as exc:
            raise ToolError(f"{node.func.id}: {exc}") from exc
    if isinstance(node, ast.Name):
        raise ToolError(f"unknown name {node.id!r}; allowed: {', '.join(sorted(_FUNCTIONS) + sorted(_CONSTANTS))}")
    raise ToolError(f"not allowed in an expression: {type(node).__name__}")


def evaluate_expression(expression: str) -> int | float:
    """Evaluate arithmetic safely: numbers, + - * / // % **, whitelisted math functions."""
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


def calculate(expression: Annotated[str, "Arithmetic expression, e.g. 123*456 or sqrt(2)/3"]) -> dict[str, Any]:
    """Evaluate a math expression exactly. Supports + - * / // % ** and sqrt, log, sin, cos, factorial, pi, e."""
    result = evaluate_expression(expression)
    if isinstance(result, float) and result.is_integer() and abs(result) < 1e15:
        result = int(result)
    return {"expression": expression, "result": result}


# --- get_current_time: honours the timezone -------------------------------------------------


def make_time_tool(default_timezone: str = "UTC") -> Callable[..., dict[str, Any]]:
    def get_current_time(
        timezone: Annotated[str, "IANA time zone such as Asia/Shanghai or Europe/London"] = default_timezone,
    ) -> dict[str, Any]:
        """Get the current date and time in a time zone."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ToolError(f"unknown time zone {timezone!r}; use an IANA name like Asia/Shanghai") from exc
        now = datetime.now(UTC).astimezone(zone)
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


def _get_json(url: str, params: dict[str, Any], timeout: float) -> Any:
    full = f"{url}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=timeout) as response:  # noqa: S310 (configured https URL)
            return json.loads(response.read().decode("utf-8"))
    except OSError as exc:
        raise ToolError(f"weather service unreachable ({exc}); try again later") from exc
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
            raise ToolError(f"no place called {city!r} was found")
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


def make_knowledge_tool(knowledge: KnowledgeBase) -> Callable[..., list[dict[str, Any]]]:
    def search_knowledge_base(
        query: Annotated[str, "What to look up, in Chinese or English"],
        top_k: Annotated[int, "How many passages to return (1-5)"] = 3,
    ) -> list[dict[str, Any]]:
        """Search the app's knowledge base about the OpenAI API, tokens, streaming, tools and this app."""
        if not 1 <= top_k <= 5:
            raise ToolError("top_k must be between 1 and 5")
        hits = knowledge.search(query, top_k)
        if not hits:
            return [{"note": f"nothing in the knowledge base matches {query!r}"}]
        return [{"title": h.title, "source": h.source, "text": h.text, "score": round(h.score, 3)} for h in hits]

    return search_knowledge_base


# --- registry and executor -------------------------------------------------------------------


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

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
    knowledge: KnowledgeBase | None = None,
) -> ToolRegistry:
    return ToolRegistry(
        [
            Tool.from_function(make_weather_tool(weather_api_url, geocoding_api_url)),
            Tool.from_function(calculate),
            Tool.from_function(make_knowledge_tool(knowledge or KnowledgeBase.bundled())),
            Tool.from_function(make_time_tool(default_timezone)),
        ]
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
            deadline = time.monotonic() + self.timeout
            return [self._collect(call, job, deadline) for call, job in pending]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

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
            return _error(call, f"tool {call.name!r} failed: {type(exc).__name__}: {exc}")
        return ToolOutcome(call, json.dumps(value, ensure_ascii=False, default=str), False)
