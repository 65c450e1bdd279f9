import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from function_tools import (
    Tool,
    ToolCall,
    ToolError,
    ToolExecutor,
    ToolRegistry,
    calculate,
    default_registry,
    evaluate_expression,
    make_time_tool,
)
from knowledge_base import KnowledgeBase


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("123*456", 56088),
        ("2 ** 10", 1024),
        ("2^10", 1024),
        ("(1 + 2) × 3 ÷ 3", 3),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 3)", 3.142),
        ("factorial(5)", 120),
        ("-7 // 2", -4),
        ("10 % 4", 2),
        ("（2+3）*2", 10),
    ],
)
def test_calculate_evaluates_arithmetic(expression, expected):
    assert calculate(expression)["result"] == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('echo hi')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("open('/etc/passwd')", "not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("9 ** 9 ** 9", "exponent"),
        ("10 ** 50000", "exponent"),
        ("10 ** 5000", "digits"),
        ("2 ** 9999", "digits"),
        ("factorial(100000)", "factorial"),
        ("1 / 0", "division by zero"),
        ("1 +", "cannot parse"),
        ("1+" * 300 + "1", "longer than"),
        ("lambda: 1", "not allowed"),
        ("[1, 2]", "not allowed"),
        ("'a' * 3", "not allowed"),
    ],
)
def test_calculate_refuses_what_is_not_arithmetic(expression, reason):
    with pytest.raises(ToolError, match=reason):
        evaluate_expression(expression)


def test_schema_comes_from_type_hints_and_docstring():
    registry = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g")
    names = registry.names()
    assert names == ["get_current_weather", "calculate", "search_knowledge_base", "get_current_time"]
    weather = registry.get("get_current_weather").schema["function"]
    assert weather["parameters"]["required"] == ["city"]
    assert weather["parameters"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert weather["description"].startswith("Get the current weather")
    time_tool = registry.get("get_current_time").schema["function"]
    assert "timezone" in time_tool["parameters"]["properties"]


def test_current_time_honours_the_timezone():
    get_time = make_time_tool("UTC")
    shanghai = get_time("Asia/Shanghai")
    assert shanghai["utc_offset"] == "+0800"
    assert shanghai["datetime"].endswith("+08:00")
    assert get_time()["utc_offset"] == "+0000"
    with pytest.raises(ToolError, match="unknown time zone"):
        get_time("Mars/Olympus")


def executor_with(*functions, timeout=2.0):
    return ToolExecutor(ToolRegistry(Tool.from_function(f) for f in functions), timeout=timeout)


def test_executor_runs_a_call_and_returns_json():
    outcome = executor_with(calculate).run(ToolCall("c1", "calculate", '{"expression": "6*7"}'))
    assert not outcome.is_error
    assert json.loads(outcome.content) == {"expression": "6*7", "result": 42}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (ToolCall("c", "rm_rf", "{}"), "unknown tool 'rm_rf'"),
        (ToolCall("c", "calculate", '{"expression": "1+'), "not valid JSON"),
        (ToolCall("c", "calculate", "[1, 2]"), "must be a JSON object"),
        (ToolCall("c", "calculate", "{}"), "missing required argument(s): expression"),
        (ToolCall("c", "calculate", '{"expression": 5}'), "must be of type string"),
        (ToolCall("c", "calculate", '{"expression": "1", "extra": 1}'), "unknown argument(s): extra"),
        (ToolCall("c", "calculate", '{"expression": "1/0"}'), "division by zero"),
    ],
)
def test_every_failure_becomes_an_error_result(call, message):
    outcome = executor_with(calculate).run(call)
    assert outcome.is_error
    assert message in json.loads(outcome.content)["error"]


def test_a_raising_tool_and_a_hanging_tool_become_error_results():
    def explode(x: int) -> int:
        """Always fails."""
        raise RuntimeError("boom")

    def hang(x: int) -> int:
        """Never returns in time."""
        time.sleep(5)
        return x

    executor = executor_with(explode, hang, timeout=0.3)
    started = time.monotonic()
    outcomes = executor.run_all([ToolCall("a", "explode", '{"x": 1}'), ToolCall("b", "hang", '{"x": 1}')])
    assert time.monotonic() - started < 3
    assert "RuntimeError: boom" in json.loads(outcomes[0].content)["error"]
    assert "did not finish within 0.3 s" in json.loads(outcomes[1].content)["error"]


def test_disabled_tools_are_not_offered_or_run():
    registry = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g")
    executor = ToolExecutor(registry, enabled=["calculate"])
    assert [s["function"]["name"] for s in executor.schemas()] == ["calculate"]
    assert executor.run(ToolCall("c", "get_current_time", "{}")).is_error


class _OpenMeteo(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/search":
            name = query["name"][0]
            assert query["language"] == (["zh"] if name == "北京" else ["en"])
            results = (
                [{"name": name, "country": "China", "latitude": 39.9, "longitude": 116.4}] if name == "北京" else []
            )
            payload = {"results": results} if results else {}
        else:
            assert query["latitude"] == ["39.9"] and query["temperature_unit"] == ["celsius"]
            payload = {
                "current": {
                    "time": "2026-11-25T10:00",
                    "temperature_2m": 3.5,
                    "relative_humidity_2m": 40,
                    "weather_code": 1,
                    "wind_speed_10m": 12.0,
                }
            }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def open_meteo():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _OpenMeteo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base
    httpd.shutdown()


def test_weather_tool_reads_geocoding_and_forecast(open_meteo):
    registry = default_registry(f"{open_meteo}/forecast", f"{open_meteo}/search")
    outcome = ToolExecutor(registry).run(ToolCall("w", "get_current_weather", '{"city": "北京"}'))
    result = json.loads(outcome.content)
    assert not outcome.is_error
    assert result["temperature"] == 3.5
    assert result["conditions"] == "mainly clear"
    missing = ToolExecutor(registry).run(ToolCall("w", "get_current_weather", '{"city": "Atlantis"}'))
    assert "no place called 'Atlantis'" in json.loads(missing.content)["error"]


def test_weather_tool_reports_an_unreachable_service():
    registry = default_registry("http://127.0.0.1:9/forecast", "http://127.0.0.1:9/search")
    outcome = ToolExecutor(registry).run(ToolCall("w", "get_current_weather", '{"city": "Paris"}'))
    assert outcome.is_error
    assert "weather service unreachable" in json.loads(outcome.content)["error"]


def test_knowledge_search_finds_english_and_chinese_passages():
    knowledge = KnowledgeBase.bundled()
    english = knowledge.search("insufficient_quota retry", top_k=1)
    assert english and english[0].source == "errors-and-retries.md"
    chinese = knowledge.search("流式输出中断怎么办", top_k=2)
    assert chinese and chinese[0].source == "streaming.md"
    assert knowledge.search("zzzz qqqq") == []
    registry = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g", knowledge=knowledge)
    outcome = ToolExecutor(registry).run(ToolCall("k", "search_knowledge_base", '{"query": "tool_call_id"}'))
    assert json.loads(outcome.content)[0]["source"] == "function-calling.md"


def test_hanging_calls_in_one_round_share_one_deadline():
    def hang(x: int) -> int:
        """Never returns in time."""
        time.sleep(3)
        return x

    executor = executor_with(hang, timeout=0.3)
    started = time.monotonic()
    outcomes = executor.run_all([ToolCall(str(i), "hang", '{"x": 1}') for i in range(3)])
    assert time.monotonic() - started < 1.5
    assert all(o.is_error and "did not finish" in o.content for o in outcomes)
