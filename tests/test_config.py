import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from config import (
    APP_DIR,
    CUSTOM,
    GROUPS,
    LOCAL,
    NO_KEY_PLACEHOLDER,
    PROVIDER_PRESETS,
    SETTINGS,
    ConfigError,
    Secret,
    Setting,
    Settings,
    env_example,
    load_settings,
    preset_for,
    readme_table,
    redact,
    shown_default,
)


def test_without_any_configuration_the_local_backend_is_the_default():
    settings = load_settings({})
    assert settings.api_key is None
    assert settings.base_url is None
    assert settings.provider == LOCAL and settings.is_local
    assert not settings.needs_setup
    assert settings.key_for_client() == NO_KEY_PLACEHOLDER
    assert settings.local_chat_format == "chatml-function-calling" and settings.local_threads == 1


@pytest.mark.parametrize(
    ("base_url", "has_key", "provider"),
    [
        (None, True, "openai"),
        ("https://api.deepseek.com/v1", True, "deepseek"),
        ("https://api.moonshot.cn/v1/", True, "moonshot"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", True, "qwen"),
        ("http://localhost:11434/v1", False, "ollama"),
        ("http://gateway.internal:3000/v1", True, CUSTOM),
        (None, False, LOCAL),
    ],
)
def test_configured_settings_pick_their_preset(base_url, has_key, provider):
    assert preset_for(base_url, has_key) == provider


def test_a_provider_that_needs_a_key_and_has_none_needs_setup():
    settings = load_settings({"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    assert settings.provider == "openai" and settings.needs_setup
    assert settings.with_overrides(api_key=Secret("sk-typed-1234567")).needs_setup is False
    assert settings.with_overrides(provider=CUSTOM, base_url=None).needs_setup
    assert PROVIDER_PRESETS["ollama"].needs_key is False


def test_env_file_is_read_and_environment_wins(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-from-file-123456\nOPENAI_MODEL=deepseek-chat\nTEMPERATURE=0.2\n")
    settings = load_settings({"OPENAI_MODEL": "qwen-plus"}, env_file=env_file)
    assert settings.api_key == Secret("sk-from-file-123456")
    assert settings.model == "qwen-plus"
    assert settings.temperature == 0.2
    assert not settings.needs_setup


def test_base_url_without_key_is_usable_for_local_servers():
    settings = load_settings({"OPENAI_BASE_URL": "http://localhost:11434/v1/"})
    assert settings.base_url == "http://localhost:11434/v1"
    assert not settings.needs_setup


def test_invalid_values_are_named_in_one_message():
    with pytest.raises(ConfigError) as caught:
        load_settings({"TEMPERATURE": "hot", "MAX_TOKENS": "0", "OPENAI_BASE_URL": "api.example.com"})
    message = str(caught.value)
    assert "TEMPERATURE='hot' is not a float" in message
    assert "MAX_TOKENS='0' must be between 1" in message
    assert "must start with http:// or https://" in message


def test_the_key_never_appears_in_a_repr():
    settings = load_settings({"OPENAI_API_KEY": "sk-very-secret-value-123"})
    assert "sk-very-secret-value-123" not in repr(settings)
    assert "sk-very-secret-value-123" not in str(settings.api_key)
    assert settings.api_key.reveal() == "sk-very-secret-value-123"


def test_redact_removes_given_secrets_and_key_shaped_strings():
    text = "bad key sk-proj-abcdefghijklmnop and mysecretvalue"
    cleaned = redact(text, Secret("mysecretvalue"))
    assert "abcdefghijklmnop" not in cleaned
    assert "mysecretvalue" not in cleaned
    assert cleaned.count("[redacted]") == 2


def test_the_env_key_only_goes_to_the_endpoint_it_was_configured_for():
    settings = load_settings(
        {"OPENAI_API_KEY": "sk-deepseek-0123456789", "OPENAI_BASE_URL": "https://api.deepseek.com/v1"}
    )
    same = settings.for_endpoint("deepseek", "https://api.deepseek.com/v1/")
    assert same.api_key == settings.api_key
    elsewhere = settings.for_endpoint("openai", "https://api.openai.com/v1")
    assert elsewhere.api_key is None and elsewhere.needs_setup
    typed = settings.for_endpoint("openai", None, "sk-typed-for-openai-123")
    assert typed.api_key == Secret("sk-typed-for-openai-123") and typed.endpoint == "https://api.openai.com/v1"
    openai_default = load_settings({"OPENAI_API_KEY": "sk-openai-0123456789"})
    assert openai_default.for_endpoint("openai", "https://api.openai.com/v1").api_key == openai_default.api_key


def test_every_error_kind_has_words_in_both_languages():
    from errors import ERROR_KINDS
    from i18n import STRINGS

    for kind in ERROR_KINDS:
        zh, en = STRINGS[f"err_{kind}"]
        assert zh.strip() and en.strip()


def test_models_and_templates_files_named_in_the_env_file_are_honoured(tmp_path: Path, monkeypatch):
    import json

    import model_catalog
    import prompt_templates

    models = tmp_path / "catalog" / "models.json"
    models.parent.mkdir()
    models.write_text(json.dumps({"team-model": {"context_window": 65_536, "input": 0.5, "output": 1.5}}))
    templates = tmp_path / "catalog" / "templates.json"
    templates.write_text(json.dumps({"team": {"name": "Team", "system": "You help the team."}}))
    env_file = tmp_path / "team.env"
    env_file.write_text(f"MODELS_FILE={models}\nTEMPLATES_FILE={templates}\n")
    monkeypatch.delenv("MODELS_FILE", raising=False)
    monkeypatch.delenv("TEMPLATES_FILE", raising=False)
    monkeypatch.setenv("APP_ENV_FILE", str(env_file))

    settings = load_settings()
    assert (settings.models_file, settings.templates_file) == (models, templates)
    assert model_catalog.table(settings.models_file)["team-model"][1] == 65_536
    assert model_catalog.lookup("team-model").context_window == 65_536
    assert "team" in prompt_templates.all_templates(settings.templates_file)
    assert prompt_templates.prefix_messages("team", "en", [])[0]["content"] == "You help the team."

    elsewhere = tmp_path / "elsewhere.json"
    monkeypatch.setenv("MODELS_FILE", str(elsewhere))  # the environment still wins over the file
    assert load_settings().models_file == elsewhere
    assert not model_catalog.lookup("team-model").priced


def test_without_a_setting_the_table_files_sit_beside_the_app():
    settings = load_settings({})
    assert settings.models_file == APP_DIR / "models.json"
    assert settings.templates_file == APP_DIR / "templates.json"
    assert load_settings({"MODELS_FILE": "~/m.json"}).models_file == Path.home() / "m.json"


# --- one table of settings: Settings, validation, .env.example, the README and the tests' scrubbing ---------


def test_every_settings_field_is_declared_once_in_the_table():
    attributes = [setting.attribute for setting in SETTINGS]
    assert len(set(attributes)) == len(attributes) and len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert set(attributes) == {f.name for f in fields(Settings)} - {"provider"}
    assert set(GROUPS) == {setting.group for setting in SETTINGS}
    for setting in SETTINGS:
        assert setting.help and (setting.kind in ("integer", "number")) == (setting.low is not None), setting
        assert (setting.kind == "choice") == bool(setting.choices), setting


def test_the_env_example_is_made_from_the_table_and_changes_nothing():
    assert (APP_DIR / ".env.example").read_text(encoding="utf-8") == env_example(), (
        "run: python -m config --env-example"
    )
    assert load_settings({}, env_file=APP_DIR / ".env.example") == load_settings({})
    for setting in SETTINGS:
        default = shown_default(setting)
        assert (f"# {setting.name}={default}\n" if default else f"\n{setting.name}=\n") in env_example()


def test_the_readme_configuration_table_is_made_from_the_table():
    readme = (APP_DIR / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "run: python -m config --readme-table, and paste it into README.md"
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in readme_table()


def test_the_command_prints_the_documents():
    run = subprocess.run(
        [sys.executable, "-m", "config", "--env-example"], cwd=APP_DIR, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout == env_example()


BOUNDED = [setting for setting in SETTINGS if setting.low is not None]


@pytest.mark.parametrize("setting", BOUNDED, ids=lambda setting: setting.name)
def test_each_bounded_setting_takes_its_bounds_and_refuses_beyond_them(setting: Setting):
    step = 1 if setting.kind == "integer" else 0.01
    low, high = setting.low, setting.high
    assert getattr(load_settings({setting.name: str(low)}), setting.attribute) == low
    assert getattr(load_settings({setting.name: str(high)}), setting.attribute) == high
    for outside in (low - step, high + step):
        with pytest.raises(ConfigError, match=f"^{setting.name}=.* must be between"):
            load_settings({setting.name: str(outside)})
    with pytest.raises(ConfigError, match=f"^{setting.name}='many' is not an? (int|float)$"):
        load_settings({setting.name: "many"})


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.choices], ids=lambda setting: setting.name)
def test_each_choice_setting_takes_its_choices_in_any_case_and_refuses_others(setting: Setting):
    for choice in setting.choices:
        assert getattr(load_settings({setting.name: choice.swapcase()}), setting.attribute) == choice
    with pytest.raises(ConfigError, match=f"^{setting.name}='other' must be .* or "):
        load_settings({setting.name: "other"})


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.kind == "url"], ids=lambda setting: setting.name)
def test_each_url_setting_must_be_http(setting: Setting):
    assert getattr(load_settings({setting.name: "http://host:1/v1/"}), setting.attribute) == "http://host:1/v1"
    with pytest.raises(ConfigError, match=f"^{setting.name}='ftp://host' must start with http"):
        load_settings({setting.name: "ftp://host"})


def test_the_tests_environment_holds_no_setting_but_the_data_folder_an_absent_mcp_file_and_no_local_servers():
    leaked = {setting.name for setting in SETTINGS if setting.name in os.environ} - {"DATA_DIR", "MCP_CONFIG"}
    assert not Path(os.environ["MCP_CONFIG"]).exists()
    assert os.environ["LOCAL_SERVERS"] == "off"
    leaked.discard("LOCAL_SERVERS")
    assert os.environ["AUTO_TITLE"] == "off"  # a title request after a first reply only where a test asks
    leaked.discard("AUTO_TITLE")
    assert os.environ["HEALTH_CHECK_MINUTES"] == "0"  # GET /models in the background only where a test asks
    leaked.discard("HEALTH_CHECK_MINUTES")
    assert leaked == set()
