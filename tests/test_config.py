from pathlib import Path

import pytest

from config import (
    APP_DIR,
    CUSTOM,
    LOCAL,
    NO_KEY_PLACEHOLDER,
    PROVIDER_PRESETS,
    ConfigError,
    Secret,
    load_settings,
    preset_for,
    redact,
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
