"""The welcome of an empty chat in the UI (AppTest against the scripted server): what is connected and four
examples per backend; an example sends exactly its prompt with its template and tools, the inspector example opens
the last request; the demo model's defaults (tools off, temperature low) give way to what the user chose."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import page_text, refreshed, rendered, send, start
from prompt_templates import TEMPLATES, wrap_user
from scripted_server import Reply
from turn import Action
from welcome import DEMO_EXAMPLES, MODEL_EXAMPLES

TOOL, TEMPLATE, CHINESE, INSPECTOR = MODEL_EXAMPLES


def welcome_buttons(at: AppTest) -> dict[str, str]:
    """The welcome's buttons drawn: key -> label."""
    return {button.key: button.label for button in at.main.button if str(button.key).startswith("welcome_")}


def click(at: AppTest, key: str) -> AppTest:
    return refreshed(at.button(key=f"welcome_{key}").click().run())


def last_request_expander(at: AppTest) -> Any:
    (expander,) = [e for e in at.sidebar.expander if e.label == "Last request sent"]
    return expander


def test_an_empty_chat_shows_the_connected_model_its_price_and_four_examples(app_env):
    at = start()
    assert not at.exception, at.exception
    assert welcome_buttons(at) == {f"welcome_{e.key}": e.label("en") for e in MODEL_EXAMPLES}
    shown = rendered(page_text(at))
    assert "Connected: Custom: one-api / new-api / any OpenAI-compatible · gpt-4o-mini · " in shown
    assert "per million tokens: $0.15 in, $0.60 out" in shown  # the catalog's gpt-4o-mini, never a formula
    assert "the sidebar has 6 templates to choose from" in shown
    assert "Tools are off" not in shown


def test_the_welcome_speaks_chinese(app_env, monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "zh")
    at = start()
    assert welcome_buttons(at) == {f"welcome_{e.key}": e.label("zh") for e in MODEL_EXAMPLES}
    assert "每百万 tokens：输入 $0.15，输出 $0.60" in rendered(page_text(at))


def test_the_tool_example_switches_its_tool_on_and_sends_exactly_its_prompt(app_env):
    at = start()
    at.sidebar.multiselect(key="tools").set_value([]).run()
    app_env.expect(Reply(tool_calls=[("calculate", '{"expression": "1234*5678"}')]), Reply(text="It is 7006652."))
    click(at, "tool")
    first = app_env.chat_requests()[0]
    assert first["messages"][-1] == {"role": "user", "content": TOOL.text("en")}
    assert [tool["function"]["name"] for tool in first["tools"]] == ["calculate"]
    assert at.sidebar.multiselect(key="tools").value == ["calculate"]
    assert '"result": 7006652' in app_env.chat_requests()[1]["messages"][-1]["content"]
    assert welcome_buttons(at) == {}  # the chat has messages now
    assert not last_request_expander(at).proto.expanded  # only the inspector example opens it


def test_the_template_example_uses_its_template_for_that_one_send(app_env):
    at = start()
    at.sidebar.selectbox(key="template").select("chain_of_thought").run()  # the user's own choice
    app_env.expect(Reply(text="早上好！明天的会议改到下午三点。"), Reply(text="Paris."))
    click(at, "template")
    sent = app_env.chat_requests()[0]["messages"]
    assert sent[0] == {"role": "system", "content": TEMPLATES["translator"].system["en"]}
    assert sent[-1] == {"role": "user", "content": wrap_user("translator", "en", TEMPLATE.text("en"))}
    asked = at.session_state["session"].conversation.messages[0]
    assert (asked.content, asked.template) == (TEMPLATE.text("en"), "translator")  # kept as asked, with its template
    assert at.sidebar.selectbox(key="template").value == "chain_of_thought"  # the user's again
    send(at, "What is the capital of France?")
    second = app_env.chat_requests()[1]["messages"]
    assert second[0]["content"] == TEMPLATES["chain_of_thought"].system["en"]
    question = wrap_user("chain_of_thought", "en", "What is the capital of France?")
    assert second[-1] == {"role": "user", "content": question}
    assert question != "What is the capital of France?"  # the template the user had, not a bare message
    assert {"role": "user", "content": TEMPLATE.text("en")} in second  # the example itself, as history keeps it


def test_the_chinese_example_sends_its_prompt_with_the_template_and_tools_left_as_they_were(app_env):
    at = start()
    tools = at.sidebar.multiselect(key="tools").value
    app_env.expect(Reply(text="长城始建于春秋战国时期。"))
    click(at, "chinese")
    sent = app_env.chat_requests()[0]
    assert sent["messages"][-1] == {"role": "user", "content": "用三句话介绍一下长城的历史。"}
    assert sent["messages"][0]["content"] == TEMPLATES["standard"].system["en"]
    assert [tool["function"]["name"] for tool in sent["tools"]] == tools
    assert "长城始建于春秋战国时期。" in page_text(at)


def test_the_inspector_example_opens_the_last_request(app_env):
    at = start()
    app_env.expect(Reply(text="A token is a piece of text."))
    at.button(key="welcome_inspector").click().run()  # the page as that run leaves it: opened in place
    assert app_env.chat_requests()[0]["messages"][-1]["content"] == INSPECTOR.text("en")
    for page in (at, refreshed(at)):  # and as the next run draws it
        expander = last_request_expander(page)
        assert expander.proto.expanded
        assert any('"messages"' in block.value for block in expander.json)


def test_a_chat_with_messages_shows_no_welcome(app_env):
    at = start()
    app_env.expect(Reply(text="Hello there."))
    at.chat_input[0].set_value("hi").run()
    assert welcome_buttons(at) == {} and "Connected:" not in page_text(at)
    reopened = start(at.session_state["session"].conversation.id)
    assert welcome_buttons(reopened) == {}


def test_no_welcome_while_the_provider_needs_setting_up(app_env):
    at = start()
    at.sidebar.selectbox(key="provider").select("deepseek").run()
    assert "This provider needs an API key" in at.info[0].value
    assert welcome_buttons(at) == {}


def demo_page(tools: tuple[str, ...]) -> None:
    from config import load_settings
    from ui_welcome import welcome

    settings = load_settings()  # nothing configured: the embedded demo model, as connect_local hands it over
    assert settings.is_local
    welcome(settings.with_overrides(model="SmolLM2-135M-Instruct"), tools, "en")


def test_the_demo_model_gets_its_own_examples_free_and_says_how_to_switch_tools_on():
    at = AppTest.from_function(demo_page, args=((),)).run()
    assert not at.exception, at.exception
    assert welcome_buttons(at) == {f"welcome_{e.key}": e.label("en") for e in DEMO_EXAMPLES}
    shown = rendered(page_text(at))
    assert "Connected: Local demo model (llama.cpp) / 本地演示模型 · SmolLM2-135M-Instruct · free" in shown
    assert "To switch them on: sidebar → Parameters and tools → Enabled tools." in shown
    at.button(key="welcome_definition").click().run()
    assert at.session_state["session"].send.pending == Action("prompt", "Define photosynthesis in one sentence.")
    assert welcome_buttons(at) == {}  # the prompt goes out on this run: no second click


def test_the_demo_hint_is_gone_once_tools_are_on():
    at = AppTest.from_function(demo_page, args=(("calculate",),)).run()
    assert len(welcome_buttons(at)) == 4
    assert "Tools are off" not in page_text(at)


@pytest.fixture
def demo(monkeypatch):
    """The demo model chosen, its server failing fast (no model file): the sidebar as a new user first sees it."""
    monkeypatch.setenv("UI_LANGUAGE", "en")
    monkeypatch.setenv("LOCAL_MODEL_PATH", "/nowhere/model.gguf")


def test_the_demo_model_starts_with_tools_off_and_a_low_temperature(demo):
    at = start()
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert at.sidebar.multiselect(key="tools").value == []
    assert at.sidebar.slider(key="temperature").value == 0.2
    assert welcome_buttons(at) == {}  # nothing connected: the reason is shown instead


def test_the_demo_defaults_follow_the_backend_until_the_user_changes_them(demo):
    at = start()
    every_tool = at.sidebar.multiselect(key="tools").options
    at.sidebar.slider(key="temperature").set_value(0.5).run()
    at.sidebar.selectbox(key="provider").select("ollama").run()
    assert at.sidebar.slider(key="temperature").value == 0.5  # the user's
    assert at.sidebar.multiselect(key="tools").value == every_tool  # left alone: a real model's default
    at.sidebar.multiselect(key="tools").set_value(["calculate"]).run()
    at.sidebar.selectbox(key="provider").select("local").run()
    assert at.sidebar.multiselect(key="tools").value == ["calculate"]
    assert at.sidebar.slider(key="temperature").value == 0.5


def test_a_lower_temperature_setting_stays_on_the_demo_model(demo, monkeypatch):
    monkeypatch.setenv("TEMPERATURE", "0")
    assert start().sidebar.slider(key="temperature").value == 0
