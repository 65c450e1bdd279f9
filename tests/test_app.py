"""UI behaviour with streamlit.testing AppTest, talking to the scripted server over real HTTP."""

import pytest
from hypothesis import given, strategies
from streamlit.testing.v1 import AppTest

from app_driver import page_text, refreshed, rendered, send, start, tags, tool_steps
from conftest import TEST_KEY
from scripted_server import Reply
from ui_chat import literal_markdown
from ui_sidebar import LAST_REQUEST_OPEN


def chat_texts(at: AppTest) -> list[tuple[str, list[str]]]:
    return [(m.name, [md.value for md in m.markdown]) for m in at.chat_message]


def test_a_provider_without_its_key_gets_the_setup_explanation(monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "zh")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    at = start()
    assert not at.exception
    assert "还没有配置模型服务" in at.info[0].value
    assert "OPENAI_API_KEY" in at.info[0].value
    assert at.chat_input[0].disabled


def test_a_message_gets_a_streamed_reply_and_sidebar_totals(app_env):
    app_env.expect(Reply(text="Hello! How can I help?", usage=(21, 7)))
    at = send(start(), "Hi there")
    assert chat_texts(at) == [("user", ["Hi there"]), ("assistant", ["Hello! How can I help?"])]
    sidebar = "\n".join(md.value for md in at.sidebar.markdown)
    assert "**Last reply**  \nPrompt 21 · Completion 7 · Total 28" in sidebar
    assert "**This conversation**  \nPrompt 21 · Completion 7 · Total 28" in sidebar
    assert "$0.000007" in sidebar  # 21 * 0.15/1M + 7 * 0.60/1M
    assert any("↑21 ↓7 = 28 tokens" in c.value for c in at.caption)
    sent = app_env.chat_requests()[0]
    assert sent["messages"][0]["role"] == "system" and sent["messages"][-1] == {"role": "user", "content": "Hi there"}
    app_env.expect(Reply(text="Second.", usage=(40, 2)))
    send(at, "Again")
    sidebar = "\n".join(md.value for md in at.sidebar.markdown)
    assert "**Last reply**  \nPrompt 40 · Completion 2 · Total 42" in sidebar
    assert "**This conversation**  \nPrompt 61 · Completion 9 · Total 70" in sidebar
    assert [m["content"] for m in app_env.chat_requests()[1]["messages"][1:]] == [
        "Hi there",
        "Hello! How can I help?",
        "Again",
    ]


def test_a_tool_turn_shows_each_call_and_its_result_then_the_answer(app_env):
    app_env.expect(
        Reply(
            tool_calls=[
                ("calculate", '{"expression": "123*456"}'),
                ("get_current_time", '{"timezone": "Asia/Shanghai"}'),
            ]
        ),
        Reply(text="123 × 456 = 56088"),
    )
    at = send(start(), "北京现在几点？顺便算一下 123*456")
    steps = {step.label: step.icon for step in tool_steps(at)}
    assert steps == {"🔧 Tool call calculate": ":material/check:", "🔧 Tool call get_current_time": ":material/check:"}
    codes = [c.value for c in at.code]
    assert '{"expression": "123*456", "result": 56088}' in codes
    assert chat_texts(at)[-1] == ("assistant", ["123 × 456 = 56088"])
    assert [m["role"] for m in app_env.chat_requests()[1]["messages"][-4:]] == ["user", "assistant", "tool", "tool"]


def test_switching_template_changes_what_is_sent_next(app_env):
    app_env.expect(Reply(text="First."), Reply(text="Because of Rayleigh scattering."))
    at = send(start(), "first")
    at.session_state[LAST_REQUEST_OPEN] = True  # the last request, as sent: drawn while its expander is open
    at.sidebar.selectbox(key="template").select("chain_of_thought").run()
    send(at, "Why is the sky blue?")
    first, second = app_env.chat_requests()
    assert first["messages"][0]["content"].startswith("You are a helpful AI assistant")
    assert second["messages"][0]["content"].startswith("You are a careful reasoning assistant")
    assert second["messages"][-1]["content"] == "Why is the sky blue?\n\nLet's think step by step."
    assert any("careful reasoning assistant" in str(j.value) for j in at.sidebar.json)


def test_sidebar_parameters_and_tools_reach_the_request(app_env):
    at = start()
    at.sidebar.slider(key="temperature").set_value(1.3)
    at.sidebar.number_input(key="max_tokens").set_value(333)
    at.sidebar.multiselect(key="tools").set_value(["calculate"])
    at.sidebar.selectbox(key="model_custom").select("deepseek-chat")
    at.run()
    app_env.expect(Reply(text="Hello."))
    send(at, "hello")
    sent = app_env.chat_requests()[0]
    assert sent["temperature"] == 1.3 and sent["max_tokens"] == 333 and sent["model"] == "deepseek-chat"
    assert [t["function"]["name"] for t in sent["tools"]] == ["calculate"]


def test_an_error_is_explained_and_nothing_typed_or_received_is_lost(app_env):
    app_env.expect(Reply(text="First answer."), Reply.fail(401, f"Incorrect API key provided: {TEST_KEY}"))
    at = send(start(), "one")
    send(at, "two")
    assert "The API key was rejected (401)" in at.error[0].value
    assert [texts for _, texts in chat_texts(at)][:3] == [["one"], ["First answer."], ["two"]]
    raw = [c.value for c in at.code]
    assert any("AuthenticationError" in c for c in raw)
    assert TEST_KEY not in page_text(at) + "".join(raw)
    app_env.expect(Reply(text="Third answer."))
    send(at, "three")
    assert chat_texts(at)[-1] == ("assistant", ["Third answer."])


def test_a_cut_stream_keeps_the_partial_reply_marked_interrupted(app_env):
    app_env.expect(Reply(text="alpha beta gamma delta", cut_after=2))
    at = send(start(), "go")
    assert chat_texts(at)[-1] == ("assistant", ["alpha beta"])
    assert at.session_state["session"].conversation.messages[-1].content == "alpha beta "
    assert "connection dropped mid-reply" in at.error[0].value
    assert any("(estimated)" in c.value for c in at.caption)


def test_model_output_is_markdown_without_raw_html(app_env):
    app_env.expect(Reply(text="<script>alert(1)</script> **bold**"))
    at = send(start(), "html please")
    reply = at.chat_message[-1].markdown[0]
    assert reply.value == "<script>alert(1)</script> **bold**"
    assert reply.proto.allow_html is False


def as_seen(text: str) -> str:
    """Text as a reader sees it: line breaks kept, tabs as spaces, a non-breaking space reads as a space and
    a line of one space as an empty one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).replace("\u00a0", " ").split("\n")
    return "\n".join("" if line == " " else line for line in lines)


def test_user_messages_show_exactly_as_typed(app_env):
    typed = "123*456\n    indented _not italic_ <b>not bold</b>  two  spaces\n\n# not a heading\n1. $x$ :red[plain]"
    app_env.expect(Reply(text="Seen."))
    at = send(start(), typed)
    echo = at.chat_message[0].markdown[0]
    assert as_seen(rendered(echo.value)) == as_seen(typed)
    assert tags(echo.value) <= {"p", "br"} and echo.proto.allow_html is False
    assert rendered(at.title[0].value) == "123*456"
    reopened = start(at.session_state["session"].conversation.id)
    assert as_seen(rendered(reopened.chat_message[0].markdown[0].value)) == as_seen(typed)
    chat_id = at.session_state["session"].conversation.id
    assert rendered(reopened.sidebar.button(key=f"open_{chat_id}").label) == "123*456"
    assert app_env.chat_requests()[0]["messages"][-1]["content"] == typed  # only the display is escaped


@given(
    strategies.text(
        strategies.characters(blacklist_categories=("Cs", "Cc")) | strategies.sampled_from("\n\r\t "), max_size=60
    )
)
def test_any_text_reads_as_itself_through_literal_markdown(text):
    assert as_seen(rendered(literal_markdown(text))) == as_seen(text)
    assert tags(literal_markdown(text)) <= {"p", "br"}


def test_a_key_typed_in_the_sidebar_is_used_but_never_shown(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("UI_LANGUAGE", "en")
    at = start()
    at.sidebar.text_input(key="api_key_input").input("sk-typed-in-sidebar-987654321")
    at.run()
    server.expect(Reply(text="Hi."))
    send(at, "hi")
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-typed-in-sidebar-987654321"
    assert "sk-typed-in-sidebar-987654321" not in page_text(at) + str([j.value for j in at.sidebar.json])


def test_chinese_interface(app_env, monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "zh")
    at = start()
    assert at.title[0].value == "AI 对话"
    app_env.expect(Reply(text="你好！"))
    send(at, "你好")
    assert at.title[0].value == "你好"
    assert "**上一条回复**  \n输入" in "\n".join(md.value for md in at.sidebar.markdown)
    assert app_env.chat_requests()[0]["messages"][0]["content"].startswith("你是一个乐于助人的 AI 助手")


def test_long_conversations_render_only_recent_messages(app_env):
    at = start()
    app_env.expect(*[Reply(text=f"answer {index}") for index in range(20)])
    for index in range(20):
        send(at, f"message {index}")
    rendered = [texts for _, texts in chat_texts(at)]
    assert len(rendered) <= 32
    assert ["message 19"] in rendered and ["message 0"] not in rendered
    at.button(key="show_earlier").click().run()
    assert len(chat_texts(at)) == 40


def test_new_chat_starts_over_and_the_old_one_stays_listed(app_env):
    app_env.expect(Reply(text="Remembered."))
    at = send(start(), "remember me")
    at.sidebar.button(key="new_chat").click().run()
    assert chat_texts(at) == []
    assert at.session_state["session"].conversation.nodes == {}
    assert [b.label for b in at.sidebar.button if b.key.startswith("open_")] == ["remember me"]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_export_buttons_are_offered(app_env, monkeypatch, language):
    monkeypatch.setenv("UI_LANGUAGE", language)
    app_env.expect(Reply(text="Exported."))
    at = send(start(), "export me")
    labels = [b.proto.label for b in at.get("download_button")][:4]
    expected = {
        "en": ["Download Markdown", "Download JSON", "Download Python script (last request)"],
        "zh": ["下载 Markdown", "下载 JSON", "下载 Python 脚本（复现最近请求）"],
    }[language]
    assert labels[:3] == expected


def test_the_model_picker_lists_what_get_models_returns(app_env):
    at = start()
    picker = at.sidebar.selectbox(key="model_custom")
    listed = ["deepseek-chat", "gpt-4o", "gpt-4o-mini"]
    assert picker.options == [*listed, "auto (a cheap or strong model by rule)"] and picker.value == "gpt-4o-mini"
    assert any(r["method"] == "GET" and r["path"] == "/v1/models" for r in app_env.requests)


def test_a_preset_fills_its_base_url_and_model(app_env):
    at = start()
    assert at.sidebar.selectbox(key="provider").value == "custom"
    at.sidebar.selectbox(key="provider").select("ollama").run()
    assert at.sidebar.text_input(key="base_url_ollama").value == "http://localhost:11434/v1"
    assert at.sidebar.selectbox(key="model_ollama").value == "llama3.2"
    assert any("lists no models" in c.value for c in at.sidebar.caption)


def test_the_model_picker_says_why_a_provider_lists_no_models(app_env):
    app_env.models_raw = (200, "text/html", b"<html><body>Welcome to nginx!</body></html>")
    at = start()
    why = [c.value for c in at.sidebar.caption if c.value.startswith("Why no list")]
    assert len(why) == 1 and "did not answer JSON" in rendered(why[0]) and "<html>" in rendered(why[0])
    assert tags(why[0]) <= {"p", "br"}  # the provider's words as text, never its HTML


@pytest.mark.local_model
def test_with_no_configuration_the_local_model_answers():
    at = start(timeout=180)
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert any("Local demo model SmolLM2-135M-Instruct" in c.value for c in at.caption)
    at.sidebar.number_input(key="max_tokens").set_value(24)
    at.sidebar.multiselect(key="tools").set_value([])
    at.run()
    refreshed(at.chat_input[0].set_value("What is the capital of France?").run(timeout=180))
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.role == "assistant" and reply.content.strip() and reply.status == "done"
    assert reply.cost.local and reply.usage.estimated
    assert "local model, free" in "\n".join(md.value for md in at.sidebar.markdown)


def test_the_env_key_is_not_offered_to_another_provider(app_env):
    at = start()
    at.sidebar.selectbox(key="provider").select("deepseek").run()
    assert "This provider needs an API key" in at.info[0].value
    assert at.chat_input[0].disabled
    assert not any("Using the key from .env" in c.value for c in at.sidebar.caption)


def test_max_tokens_beyond_the_models_limit_is_capped(app_env):
    at = start()
    at.sidebar.number_input(key="max_tokens").set_value(100_000).run()
    app_env.expect(Reply(text="A long answer."))
    send(at, "long answer please")
    assert app_env.chat_requests()[0]["max_tokens"] == 16_384


def test_a_max_tokens_setting_beyond_the_old_widget_range_is_kept_then_capped(app_env, monkeypatch):
    monkeypatch.setenv("MAX_TOKENS", "300000")
    app_env.expect(Reply(text="Fine."))
    at = start()
    assert at.sidebar.number_input(key="max_tokens").value == 300_000
    send(at, "long answer please")
    assert app_env.chat_requests()[0]["max_tokens"] == 16_384


def test_the_sidebar_shows_what_went_out_and_what_came_back(app_env):
    app_env.expect(Reply(text="Short answer.", usage=(9, 2)))
    at = start()
    at.session_state[LAST_REQUEST_OPEN] = True  # drawn while its expander is open
    send(at, "hi")
    shown = [j.value for j in at.sidebar.json]
    request, response = shown[-2], shown[-1]
    assert '"stream_options"' in request and '"include_usage"' in request
    assert '"chat.completion.chunk"' in response and '"completion_tokens"' in response
    assert any("What came back: 5 chunks" in c.value for c in at.sidebar.caption)


@pytest.mark.local_model  # without llama-cpp-python the message names that instead
def test_a_local_model_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setenv("LOCAL_MODEL_PATH", "/nowhere/model.gguf")
    monkeypatch.setenv("UI_LANGUAGE", "en")
    at = start()
    assert "The local model cannot start: LOCAL_MODEL_PATH=/nowhere/model.gguf is not a file" in at.error[0].value
    assert at.chat_input[0].disabled


def test_an_unusable_data_directory_is_explained_not_a_traceback(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    monkeypatch.setenv("DATA_DIR", str(blocker))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    at = start()
    assert not at.exception
    assert "Configuration problem" in at.error[0].value or "配置有误" in at.error[0].value
    assert "not-a-directory" in at.error[0].value


def test_the_finished_reply_has_its_controls_before_the_page_is_drawn_again(app_env):
    """After a reply the script ends without rerunning (its last words go out first); the reply is complete in
    place: its text, the user's message with its edit button, regenerate and the wire trace under the reply. The
    browser's refresh then draws the same chat from the history."""
    app_env.expect(Reply(text="In place.", usage=(5, 2)))
    at = start()
    at.chat_input[0].set_value("Draw it in place").run()
    assert not at.exception, at.exception
    conversation = at.session_state["session"].conversation
    question, reply = conversation.messages
    assert chat_texts(at) == [("user", ["Draw it in place"]), ("assistant", ["In place."])]
    keys = {str(button.key) for button in at.button}
    assert {f"edit_{question.id}", f"regenerate_{reply.id}"} <= keys
    refreshed(at)
    assert chat_texts(at) == [("user", ["Draw it in place"]), ("assistant", ["In place."])]
    assert {f"edit_{question.id}", f"regenerate_{reply.id}"} <= {str(button.key) for button in at.button}


def test_what_the_app_process_holds_after_its_imports_is_out_of_the_collectors_reach(monkeypatch):
    """app.freeze_startup_objects: full collections under load then walk only what sessions made since."""
    import gc

    monkeypatch.setenv("UI_LANGUAGE", "en")
    at = start()
    assert not at.exception
    assert gc.get_freeze_count() > 10_000  # Streamlit, the SDKs and our tables, by the first page run
