"""The welcome's table: four examples per backend in both languages, naming only templates and tools that exist, and
the price line of the connected model."""

from __future__ import annotations

import re

import pytest

from config import load_settings
from function_tools import default_registry
from i18n import LANGUAGES, STRINGS
from prompt_templates import TEMPLATES
from token_tracker import PriceBook
from welcome import DEMO_EXAMPLES, MODEL_EXAMPLES, Example, Rate, examples, on_this_machine, rate

ALL = DEMO_EXAMPLES + MODEL_EXAMPLES
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_four_examples_for_each_backend():
    assert examples(demo=True) == DEMO_EXAMPLES and examples(demo=False) == MODEL_EXAMPLES
    for chosen in (DEMO_EXAMPLES, MODEL_EXAMPLES):
        assert len(chosen) == 4
        assert len({example.key for example in chosen}) == 4


@pytest.mark.parametrize("example", ALL, ids=lambda example: example.key)
def test_every_example_is_written_in_both_languages(example: Example):
    assert f"welcome_{example.key}_label" in STRINGS  # its label and note are i18n's, checked there in both languages
    assert CJK.search(example.label("zh")) and not CJK.search(example.label("en"))
    if isinstance(example.prompt, dict):  # one text where both languages ask the same
        assert set(example.prompt) == set(LANGUAGES) and example.prompt["zh"] != example.prompt["en"]
    assert all(example.text(lang).strip() for lang in LANGUAGES)
    note = STRINGS.get(f"welcome_{example.key}_note", ("", ""))
    assert set(re.findall(r"\{(\w+)", "".join(note))) <= {"templates", "last_request", "trace"}
    assert all("{" not in example.caption(lang, 6) for lang in LANGUAGES)


def test_every_template_and_tool_an_example_names_exists():
    tools = default_registry("http://127.0.0.1:9/v1/forecast", "http://127.0.0.1:9/v1/search").names()
    for example in ALL:
        assert example.template is None or example.template in TEMPLATES, example.key
        assert set(example.tools) <= set(tools), example.key


def test_the_demo_model_gets_short_english_prompts_and_no_tools():
    for example in DEMO_EXAMPLES:
        assert not CJK.search(example.text("zh") + example.text("en")), example.key  # its Chinese is weak
        assert not example.tools and example.template is None and not example.opens_inspector
        assert example.caption("en", 6) == example.caption("zh", 6) == ""  # no note under its button


def test_a_real_model_gets_a_tool_the_templates_chinese_and_the_inspector():
    tool, template, chinese, inspector = MODEL_EXAMPLES
    assert tool.tools == ("calculate",)
    assert template.template == "translator"
    assert template.caption("en", len(TEMPLATES)) == (
        "Uses the Translator template for this message; the sidebar has 6 templates to choose from."
    )
    assert "6 种模板" in template.caption("zh", len(TEMPLATES))
    assert chinese.text("en") == chinese.text("zh") == "用三句话介绍一下长城的历史。"
    assert chinese.caption("en", 6) == "A model answers in the language you ask in."
    assert inspector.opens_inspector
    assert "“Last request sent” opens" in inspector.caption("en", 6) and "“Trace” button" in inspector.caption("en", 6)
    assert [example for example in MODEL_EXAMPLES if example.tools] == [tool]
    assert [example for example in MODEL_EXAMPLES if example.opens_inspector] == [inspector]


def test_a_model_is_priced_by_the_catalog_and_free_on_this_machine():
    base = load_settings()  # nothing configured: the demo model
    book = PriceBook(7.2)
    assert rate(base, book) == Rate(free=True)
    remote = base.with_overrides(provider="custom", base_url="https://gateway.example.com/v1")
    assert rate(remote.with_overrides(model="gpt-4o-mini"), book) == Rate(False, True, 0.15, 0.60, "USD")
    assert rate(remote.with_overrides(model="deepseek-chat"), book) == Rate(False, True, 2.0, 3.0, "CNY")
    assert rate(remote.with_overrides(model="my-own-model"), book) == Rate(free=False, priced=False)
    loopback = base.with_overrides(provider="custom", base_url="http://127.0.0.1:11434/v1")
    assert rate(loopback.with_overrides(model="llama3.2:3b"), book) == Rate(free=True)
    assert rate(loopback.with_overrides(model="gpt-4o-mini"), book).priced  # a gateway here may still bill
    served = PriceBook(7.2, frozenset({"my-own-model"}))
    assert rate(remote.with_overrides(model="my-own-model"), served) == Rate(free=True)
    found_here = PriceBook(7.2, on_this_machine=True)  # a server found running here: free, whatever the name
    assert rate(remote.with_overrides(model="gpt-4o-mini"), found_here) == Rate(free=True)


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("http://localhost:1234/v1", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.0.0.2:8000/v1", True),
        ("http://[::1]:11434/v1", True),
        ("http://192.168.1.20:11434/v1", False),
        ("https://api.openai.com/v1", False),
        ("https://localhost.example.com/v1", False),
    ],
)
def test_on_this_machine_means_loopback(endpoint: str, local: bool):
    assert on_this_machine(endpoint) is local
