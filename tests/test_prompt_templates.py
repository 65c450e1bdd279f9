import pytest

from prompt_templates import TEMPLATES, few_shot_messages, get_template, prefix_messages, wrap_user

EXPECTED = {"standard", "few_shot", "chain_of_thought", "react", "code_assistant", "translator"}


def test_six_templates_each_in_chinese_and_english():
    assert set(TEMPLATES) == EXPECTED
    for template in TEMPLATES.values():
        assert set(template.name) == {"zh", "en"}
        assert set(template.system) == {"zh", "en"}
        assert all(text.strip() for text in template.system.values())


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_template_opens_with_its_system_prompt(language):
    for key, template in TEMPLATES.items():
        messages = prefix_messages(key, language, ["calculate"])
        assert messages[0]["role"] == "system"
        assert messages[0]["content"].startswith(template.system[language])


def test_few_shot_examples_include_a_tool_call_only_when_the_calculator_is_enabled():
    with_tool = few_shot_messages("en", ["calculate"])
    without = few_shot_messages("en", [])
    calls = [m for m in with_tool if m.get("tool_calls")]
    assert len(calls) == 1
    call_id = calls[0]["tool_calls"][0]["id"]
    assert any(m["role"] == "tool" and m["tool_call_id"] == call_id for m in with_tool)
    assert not any(m.get("tool_calls") or m["role"] == "tool" for m in without)
    assert len(prefix_messages("few_shot", "zh", ["calculate"])) == 1 + len(few_shot_messages("zh", ["calculate"]))
    assert len(prefix_messages("standard", "zh", ["calculate"])) == 1


def test_chain_of_thought_and_translator_wrap_only_the_new_message():
    assert wrap_user("chain_of_thought", "en", "Why?") == "Why?\n\nLet's think step by step."
    assert wrap_user("chain_of_thought", "zh", "为什么？").endswith("请一步一步地思考。")
    assert wrap_user("translator", "en", "你好").endswith("你好")
    assert wrap_user("standard", "en", "Hi") == "Hi"


def test_react_lists_the_enabled_tools():
    content = prefix_messages("react", "en", ["calculate", "get_current_time"])[0]["content"]
    assert "Thought:" in content and "calculate, get_current_time" in content
    assert "none" in prefix_messages("react", "en", [])[0]["content"]


def test_unknown_template_falls_back_to_standard():
    assert get_template("nope").key == "standard"


def test_a_templates_file_adds_templates(tmp_path, monkeypatch):
    import json

    import prompt_templates

    path = tmp_path / "templates.json"
    path.write_text(
        json.dumps(
            {
                "sql": {"name": {"zh": "SQL 专家", "en": "SQL expert"}, "system": "You write PostgreSQL."},
                "poet": {
                    "name": "Poet",
                    "system": {"zh": "你是诗人。", "en": "You are a poet."},
                    "user_wrapper": "Poem: {question}",
                },
            }
        )
    )
    monkeypatch.setenv("TEMPLATES_FILE", str(path))
    templates = prompt_templates.all_templates()
    assert set(EXPECTED) < set(templates) and {"sql", "poet"} < set(templates)
    assert prefix_messages("sql", "zh", [])[0]["content"] == "You write PostgreSQL."
    assert prefix_messages("poet", "zh", [])[0]["content"] == "你是诗人。"
    assert wrap_user("poet", "en", "rain") == "Poem: rain"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": {"system": 5}}))
    monkeypatch.setenv("TEMPLATES_FILE", str(bad))
    with pytest.raises(prompt_templates.TemplateFileError, match="system must be"):
        prompt_templates.all_templates()


def test_a_custom_system_prompt_replaces_the_templates():
    messages = prefix_messages("few_shot", "en", ["calculate"], custom_system="Answer like a pirate.")
    assert messages[0] == {"role": "system", "content": "Answer like a pirate."}
    assert len(messages) > 1  # the template's examples still follow


def write_templates(tmp_path, monkeypatch, entries) -> None:
    import json

    path = tmp_path / "wrapper-templates.json"
    path.write_text(json.dumps(entries))
    monkeypatch.setenv("TEMPLATES_FILE", str(path))


def test_a_wrapper_with_literal_braces_is_filled_by_plain_replacement(tmp_path, monkeypatch):
    wrapper = 'Reply as JSON {"answer": ..., "sources": [{"id": 1}]} to: {question}'
    write_templates(tmp_path, monkeypatch, {"json": {"system": "Be exact.", "user_wrapper": wrapper}})
    for _ in range(2):  # every rerun, not only the first
        assert wrap_user("json", "en", "Why is the sky blue?") == (
            'Reply as JSON {"answer": ..., "sources": [{"id": 1}]} to: Why is the sky blue?'
        )


def test_a_wrapper_cannot_evaluate_a_field_lookup_and_the_message_is_not_reformatted(tmp_path, monkeypatch):
    wrapper = {
        "zh": "{question.__class__} {question!r} {0} {question}",
        "en": "{question.__init__.__globals__}{question}",
    }
    write_templates(tmp_path, monkeypatch, {"probe": {"system": "s", "user_wrapper": wrapper}})
    assert wrap_user("probe", "zh", "hi") == "{question.__class__} {question!r} {0} hi"
    assert (
        wrap_user("probe", "en", "{question} {x.__class__}")
        == "{question.__init__.__globals__}{question} {x.__class__}"
    )
    assert wrap_user("chain_of_thought", "en", "{oops} {}") == "{oops} {}\n\nLet's think step by step."


def test_a_wrapper_without_the_question_placeholder_is_refused(tmp_path, monkeypatch):
    import prompt_templates

    write_templates(tmp_path, monkeypatch, {"lost": {"system": "s", "user_wrapper": {"zh": "{question}", "en": "Hi"}}})
    with pytest.raises(prompt_templates.TemplateFileError, match="user_wrapper must contain {question}"):
        prompt_templates.all_templates()


def test_an_explicit_templates_file_wins_over_the_setting(tmp_path, monkeypatch):
    import json

    import prompt_templates

    write_templates(tmp_path, monkeypatch, {"from_setting": {"system": "s"}})
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"explicit": {"system": "e"}}))
    assert "explicit" in prompt_templates.all_templates(explicit)
    assert "from_setting" not in prompt_templates.all_templates(explicit)
    assert "from_setting" in prompt_templates.all_templates()


def test_an_edited_templates_file_is_read_again(tmp_path, monkeypatch):
    import prompt_templates

    write_templates(tmp_path, monkeypatch, {"first": {"system": "s"}})
    assert "first" in prompt_templates.all_templates()
    write_templates(tmp_path, monkeypatch, {"first": {"system": "s"}, "added_later": {"system": "later"}})
    assert "added_later" in prompt_templates.all_templates()  # the file's new version, without a restart
    assert prompt_templates.all_templates()["added_later"].system == {"zh": "later", "en": "later"}
