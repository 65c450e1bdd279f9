import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import function_tools
from function_tools import (
    CALCULATOR,
    Calculator,
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
        raise RuntimeError("boom in /srv/app/secret_module.py")

    def hang(x: int) -> int:
        """Never returns in time."""
        time.sleep(5)
        return x

    executor = executor_with(explode, hang, timeout=0.3)
    started = time.monotonic()
    outcomes = executor.run_all([ToolCall("a", "explode", '{"x": 1}'), ToolCall("b", "hang", '{"x": 1}')])
    assert time.monotonic() - started < 3
    assert json.loads(outcomes[0].content)["error"] == "tool 'explode' failed unexpectedly (RuntimeError)"
    assert "did not finish within 0.3 s" in json.loads(outcomes[1].content)["error"]


def test_disabled_tools_are_not_offered_or_run():
    registry = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g")
    executor = ToolExecutor(registry, enabled=["calculate"])
    assert [s["function"]["name"] for s in executor.schemas()] == ["calculate"]
    assert executor.run(ToolCall("c", "get_current_time", "{}")).is_error


def _geocoding(query: dict[str, list[str]]) -> dict:
    name = query["name"][0]
    if name != "北京":
        return {}
    return {"results": [{"name": name, "country": "China", "latitude": 39.9, "longitude": 116.4}]}


def _forecast(query: dict[str, list[str]]) -> dict:
    current = {
        "time": "2026-11-25T10:00",
        "temperature_2m": 3.5,
        "relative_humidity_2m": 40,
        "weather_code": 1,
        "wind_speed_10m": 12.0,
    }
    return {"current": current}


@pytest.fixture
def open_meteo(server):
    """Open-Meteo's geocoding and forecast services as routes of the scripted server: its base URL."""
    server.route("/open-meteo/search", _geocoding)
    server.route("/open-meteo/forecast", _forecast)
    return server.url("/open-meteo")


def test_weather_tool_reads_geocoding_and_forecast(open_meteo, server):
    registry = default_registry(f"{open_meteo}/forecast", f"{open_meteo}/search")
    outcome = ToolExecutor(registry).run(ToolCall("w", "get_current_weather", '{"city": "北京"}'))
    result = json.loads(outcome.content)
    assert not outcome.is_error
    assert result["temperature"] == 3.5
    assert result["conditions"] == "mainly clear"
    missing = ToolExecutor(registry).run(ToolCall("w", "get_current_weather", '{"city": "Atlantis"}'))
    assert "no place called 'Atlantis'" in json.loads(missing.content)["error"]
    search, forecast, search_again = (parse_qs(urlsplit(r["path"]).query) for r in server.requests)
    assert search["name"] == ["北京"] and search["language"] == ["zh"]
    assert forecast["latitude"] == ["39.9"] and forecast["temperature_unit"] == ["celsius"]
    assert search_again["name"] == ["Atlantis"] and search_again["language"] == ["en"]


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
    first = json.loads(outcome.content)[0]  # named as a citation names it: the document and the passage's number
    assert (first["document"], first["cite"]) == ("function-calling.md", f"[function-calling.md #{first['passage']}]")


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


# --- the calculator cannot freeze the app ---------------------------------------------------------

HUGE = "10**999"  # the largest power of ten the calculator builds (1,000 digits)

# Extreme arguments for every whitelisted function, and for the operators: each must come back at
# once as a result or a clear error from the function's own bound, not from the worker being killed.
EXTREMES: dict[str, list[str]] = {
    "sqrt": [f"sqrt({HUGE})", "sqrt(-1e308)", "sqrt(1e308)"],
    "cbrt": [f"cbrt(-{HUGE})", "cbrt(1e308)"],
    "exp": [f"exp({HUGE})", "exp(1e308)", "exp(-1e308)"],
    "log": [f"log({HUGE})", "log(0)", f"log({HUGE}, {HUGE})", "log(1, 1)", "log(2, 10**-300)"],
    "log10": [f"log10({HUGE})", "log10(-1)"],
    "log2": [f"log2({HUGE})", "log2(0)"],
    "sin": [f"sin({HUGE})", "sin(1e308)"],
    "cos": [f"cos(-{HUGE})", "cos(1e308)"],
    "tan": [f"tan({HUGE})", "tan(1e308)"],
    "asin": [f"asin({HUGE})", "asin(-2)"],
    "acos": [f"acos({HUGE})", "acos(2)"],
    "atan": [f"atan(-{HUGE})", "atan(1e308)"],
    "degrees": [f"degrees({HUGE})", "degrees(1e308)"],
    "radians": [f"radians({HUGE})", "radians(-1e308)"],
    "abs": [f"abs(-{HUGE})", "abs(-1e308)"],
    "round": [
        "round(1, -10**300)",
        "round(1, -10**7)",
        "round(1, 10**300)",
        f"round({HUGE}, -1000)",
        "round(1e308, 10**300)",
        "round(1.5, -1001)",
        "round(1e308)",
        "round(2.5, 0.5)",
    ],
    "floor": [f"floor(-{HUGE})", "floor(1e308)"],
    "ceil": [f"ceil({HUGE})", "ceil(-1e308)"],
    "factorial": ["factorial(10**300)", "factorial(1e308)", "factorial(500)", "factorial(-1)", "factorial(2.5)"],
    "min": [f"min({HUGE}, -{HUGE}, 1e308)", "min()"],
    "max": [f"max(-{HUGE}, {HUGE}, -1e308)", "max(1)"],
    "hypot": [f"hypot({HUGE}, {HUGE})", "hypot(1e308, 1e308)", "hypot()"],
    "operators": [
        f"{HUGE} * {HUGE}",
        f"({HUGE}) ** 2",
        "2 ** 10**300",
        "(-2) ** (10**300 + 1)",
        "10 ** -10**300",
        "0 ** -1",
        "(-8) ** (1/3)",
        "1e308 * 10",
        f"{HUGE} / 3",
        f"{HUGE} // 3 % 7",
        f"{HUGE} / 10**-999",
        f"-{HUGE} - {HUGE}",
        "1 << 10**300",
        "1 >> 10**300",
        "10**300 & 1",
        "~(10**300)",
        "1e999",
        "-1e999 + 1e999",
        "9" * 499,
        "0x" + "f" * 498,
        "factorial(factorial(5))",
        "9 ** 9 ** 9",
    ],
}
KILLED = ("took longer than", "too much time or memory", "failed unexpectedly", "calculation failed", "did not finish")
A_PATH = re.compile(r"(^|[\s'\"(\[=])(/|[A-Za-z]:\\)[^\s/\\]+[/\\]")


def assert_path_free(message: str) -> None:
    assert not A_PATH.search(message), message
    assert "Traceback" not in message and str(Path(function_tools.__file__).parent) not in message


def test_every_whitelisted_function_is_covered_by_the_extremes():
    assert set(EXTREMES) == set(function_tools._FUNCTIONS) | {"operators"}


@pytest.mark.parametrize("expression", [e for cases in EXTREMES.values() for e in cases])
def test_extreme_arguments_give_a_result_or_a_clear_error_at_once(expression):
    CALCULATOR.evaluate("1")
    worker = CALCULATOR._process.pid
    executor = executor_with(calculate, timeout=60)  # longer than the calculator's own limit: that one must act
    outcome = executor.run(ToolCall("c", "calculate", json.dumps({"expression": expression})))
    content = json.loads(outcome.content)
    if outcome.is_error:
        assert not any(words in content["error"] for words in KILLED), content["error"]
        assert_path_free(content["error"])
    else:
        assert isinstance(content["result"], int | float) and abs(content["result"]) < float("inf")
    assert CALCULATOR._process.pid == worker  # answered by the bounds: the worker did not have to be killed


def test_round_with_huge_negative_digits_is_refused_by_its_bound():
    for expression in ("round(1, -10**300)", "round(1, -10**7)"):
        with pytest.raises(ToolError, match="round takes a whole number of digits"):
            calculate(expression)
    assert calculate("round(123456, -3)")["result"] == 123000
    assert calculate("round(2.675, 2)")["result"] == 2.67


def test_a_worker_that_stops_answering_is_killed_and_the_app_keeps_running():
    calculator = Calculator(seconds=0.5)
    try:
        assert calculator.evaluate("6*7") == 42
        stalled = calculator._process.pid
        os.kill(stalled, signal.SIGSTOP)  # what a runaway calculation looks like from the app
        ticks = 0
        done = threading.Event()

        def other_session() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                time.sleep(0.001)

        thread = threading.Thread(target=other_session)
        thread.start()
        try:
            with pytest.raises(ToolError, match="took longer than 0.5 s"):
                calculator.evaluate("1+1")
        finally:
            done.set()
            thread.join()
        assert ticks > 0  # the app's other threads ran while it waited: no GIL held, nothing frozen
        with pytest.raises(ProcessLookupError):
            os.kill(stalled, 0)
        assert calculator.evaluate("2+2") == 4
        assert calculator._process.pid != stalled
    finally:
        calculator.close()


def test_a_worker_that_dies_mid_calculation_gives_an_error_and_is_replaced():
    calculator = Calculator(seconds=30)
    try:
        calculator.evaluate("1")
        dying = calculator._process.pid
        os.kill(dying, signal.SIGSTOP)
        killer = threading.Timer(1.0, os.kill, (dying, signal.SIGKILL))  # the kernel's CPU or memory limit
        killer.start()
        with pytest.raises(ToolError, match="needed too much time or memory"):
            calculator.evaluate("1+1")
        killer.join()
        assert calculator.evaluate("3*3") == 9 and calculator._process.pid != dying
    finally:
        calculator.close()


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc")
def test_the_worker_runs_with_cpu_and_memory_limits_and_no_environment():
    CALCULATOR.evaluate("1")
    pid = CALCULATOR._process.pid
    limits = {
        line[:26].strip(): line[26:].split()[0] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    }
    assert int(limits["Max address space"]) == function_tools.CALCULATION_MEMORY
    assert limits["Max cpu time"] != "unlimited"
    assert limits["Max core file size"] == "0"
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""  # no API key in the worker
    assert pid != os.getpid()


# --- error text never shows a path or a traceback -------------------------------------------------


def test_error_text_of_every_tool_is_path_free(open_meteo):
    registry = default_registry(f"{open_meteo}/forecast", f"{open_meteo}/search", knowledge=KnowledgeBase.bundled())
    unreachable = default_registry("http://127.0.0.1:9/forecast", "http://127.0.0.1:9/search")
    calls = [
        (registry, "get_current_time", {"timezone": "a" * 5000}),
        (registry, "get_current_time", {"timezone": "Europe"}),
        (registry, "get_current_time", {"timezone": "../../etc/passwd"}),
        (registry, "get_current_time", {"timezone": "Asia/../../../etc/hostname"}),
        (registry, "get_current_time", {"timezone": "zone.tab"}),
        (registry, "get_current_time", {"timezone": "a\x00b"}),
        (registry, "calculate", {"expression": "open('/etc/passwd')"}),
        (registry, "calculate", {"expression": "round(1, -10**300)"}),
        (registry, "search_knowledge_base", {"query": "x", "top_k": 99}),
        (registry, "get_current_weather", {"city": "Atlantis"}),
        (unreachable, "get_current_weather", {"city": "Paris"}),
    ]
    messages = []
    for tools, name, arguments in calls:
        outcome = ToolExecutor(tools).run(ToolCall("c", name, json.dumps(arguments)))
        assert outcome.is_error, (name, arguments)
        messages.append(json.loads(outcome.content)["error"])
    for message in messages:
        assert_path_free(message)
        assert len(message) < 300
    assert all(message.startswith("unknown time zone") for message in messages[:6])
    assert messages[-1] == "weather service unreachable (Connection refused); try again later"
