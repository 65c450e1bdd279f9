"""The "auto" model's rules, one by one, and the words each decision gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from config import load_settings
from model_router import CODE_SCAN_CHARS, RouteRules, route, rule_table, tool_words

RULES = RouteRules("cheap-model", "strong-model", long_chars=200, code=True, tools=True)
TOOLS = ("get_current_weather", "calculate", "search_knowledge_base", "get_current_time")


def test_a_short_plain_message_goes_to_the_cheap_model():
    decided = route("Hello, how are you today?", RULES, "", TOOLS, "en")
    assert (decided.model, decided.rule, decided.strong) == ("cheap-model", "default", "strong-model")
    assert decided.why == "a short plain message"


def test_a_long_message_goes_to_the_strong_model_and_says_how_long_it_was():
    text = "Tell me a story. " * 12  # 204 characters
    decided = route(text, RULES, "", TOOLS, "en")
    assert (decided.model, decided.rule) == ("strong-model", "length")
    assert decided.why == f"the message has {len(text)} characters (≥ 200)"
    assert route(text[:199], RULES, "", TOOLS, "en").rule == "default"


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Why does this fail?\n```\nx = 1\n```", "```"),
        ("def area(r):\n    return 3.14 * r * r", "def"),
        ("what does const f = (a) => a + 1 do", "=>"),
        ("import numpy as np\nnp.zeros(3)", "import"),
        ("SELECT name FROM users WHERE id = 1 is slow", "SELECT name FROM"),
    ],
)
def test_a_message_with_code_goes_to_the_strong_model_naming_what_looked_like_code(text, sign):
    decided = route(text, RULES, "", TOOLS, "en")
    assert (decided.model, decided.rule) == ("strong-model", "code")
    assert decided.why.startswith(f"the message holds code ({sign}")


def test_a_message_asking_for_what_a_switched_on_tool_does_goes_to_the_strong_model():
    decided = route("What's the weather in Paris?", RULES, "", TOOLS, "en")
    assert (decided.model, decided.rule) == ("strong-model", "tools")
    assert decided.why == "the message asks about weather (tool get_current_weather is on)"
    assert route("Do the calculation for me", RULES, "", ("calculate",), "en").rule == "tools"
    assert route("What's the weather in Paris?", RULES, "", ("calculate",), "en").rule == "default"  # tool is off


def test_tool_words_come_from_the_tools_names_without_filler():
    assert tool_words(TOOLS) == {
        "weather": "get_current_weather",
        "calculate": "calculate",
        "knowledge": "search_knowledge_base",
        "time": "get_current_time",
    }


def test_a_picked_task_type_decides_before_every_rule():
    code = "def f():\n    return 1"
    for task in ("chat", "simple"):
        decided = route(code, RULES, task, TOOLS, "en")
        assert (decided.model, decided.rule, decided.why) == ("cheap-model", "task", f"task type: {task}")
    for task in ("code", "reasoning"):
        decided = route("hi", RULES, task, TOOLS, "en")
        assert (decided.model, decided.rule, decided.why) == ("strong-model", "task", f"task type: {task}")
    assert route("hi", RULES, "code", TOOLS, "zh").why == "任务类型：代码"


def test_rules_switched_off_do_not_match():
    off = RouteRules("cheap-model", "strong-model", long_chars=0, code=False, tools=False)
    text = "```\nprint(1)\n``` and the weather " + "x" * 1000
    assert route(text, off, "", TOOLS, "en").rule == "default"


def test_the_rules_come_from_the_settings_and_are_shown_in_order_with_where_to_change_them():
    settings = load_settings({"AUTO_CHEAP_MODEL": "a", "AUTO_STRONG_MODEL": "b", "AUTO_LONG_CHARS": "0"})
    rules = RouteRules.of(settings)
    assert rules == RouteRules("a", "b", 0, True, True)
    rows = rule_table(rules, "en")
    assert [row["rule"] for row in rows] == ["task", "length", "code", "tools", "default"]
    assert rows[1] == {"rule": "length", "when": "(off)", "Model": "b", "setting": "AUTO_LONG_CHARS"}
    assert rows[-1]["Model"] == "a"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text", [" \n" * 16_000, "SELECT " * 4_572, " " * 32_000 + "x"])
def test_a_long_run_of_blank_lines_or_sql_words_routes_at_once_by_its_rules(text):
    """Without bounds these took seconds to tens of seconds to match, holding every session of the app."""
    assert len(text) >= 32_000
    decided = route(text, replace(RULES, long_chars=0), "", TOOLS, "en")
    assert (decided.model, decided.rule) == ("cheap-model", "default")


def test_the_code_rule_looks_at_the_start_of_a_message_only():
    before = "plain words " * (CODE_SCAN_CHARS // 12 + 1)
    assert route(before + "\ndef area(r):", replace(RULES, long_chars=0), "", (), "en").rule == "default"
    assert (
        route(before[: CODE_SCAN_CHARS - 20] + "\ndef area(r):", replace(RULES, long_chars=0), "", (), "en").rule
        == "code"
    )
