import json
import os

import pytest

import model_catalog


@pytest.mark.parametrize(
    ("name", "family", "encoding"),
    [
        ("gpt-4o", "gpt-4o", "o200k_base"),
        ("gpt-4o-2024-08-06", "gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "gpt-4.1-nano", "o200k_base"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo", "cl100k_base"),
        ("openai/gpt-4o", "gpt-4o", "o200k_base"),
        ("DeepSeek-Chat", "deepseek-chat", "o200k_base"),
        ("moonshot-v1-128k", "moonshot-v1-128k", "o200k_base"),
        ("qwen-max", "qwen-max", "o200k_base"),
        ("glm-4", "glm-4", "o200k_base"),
    ],
)
def test_lookup_finds_the_family(name, family, encoding):
    info = model_catalog.lookup(name)
    assert (info.name, info.encoding, info.priced) == (family, encoding, True)


def test_the_table_covers_what_users_pick_and_chinese_providers_bill_in_cny():
    for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "gpt-3.5-turbo"):
        assert model_catalog.lookup(name).currency == "USD"
    for name in ("deepseek-chat", "deepseek-reasoner", "moonshot-v1-8k", "qwen-turbo", "qwen-plus", "glm-4"):
        assert model_catalog.lookup(name).currency == "CNY"


def test_an_unknown_model_is_usable_and_says_it_has_no_price():
    info = model_catalog.lookup("llama3.2:3b")
    assert (info.encoding, info.priced, info.input_price) == ("o200k_base", False, 0.0)
    assert info.context_window == model_catalog.UNKNOWN_CONTEXT_WINDOW


def test_an_explicit_models_file_wins_over_the_setting(tmp_path, monkeypatch):
    from_setting = tmp_path / "setting.json"
    from_setting.write_text(json.dumps({"setting-model": {"input": 1.0, "output": 2.0}}))
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"gpt-4o": {"input": 9.0}}))
    monkeypatch.setenv("MODELS_FILE", str(from_setting))
    assert model_catalog.table(explicit)["gpt-4o"][3] == 9.0
    assert "setting-model" not in model_catalog.table(explicit)
    assert model_catalog.lookup("setting-model").priced
    assert model_catalog.lookup("gpt-4o").input_price == 2.50


def test_the_models_file_named_in_the_env_file_is_honoured(tmp_path, monkeypatch):
    models = tmp_path / "my-models.json"
    models.write_text(json.dumps({"env-file-model": {"context_window": 32_000, "input": 1.0, "output": 3.0}}))
    env_file = tmp_path / "app.env"
    env_file.write_text(f"MODELS_FILE={models}\n")
    monkeypatch.delenv("MODELS_FILE", raising=False)
    monkeypatch.setenv("APP_ENV_FILE", str(env_file))
    info = model_catalog.lookup("env-file-model")
    assert (info.priced, info.context_window, info.output_price) == (True, 32_000, 3.0)
    env_file.write_text("TEMPERATURE=hot\n")  # an unrelated bad setting does not break a price lookup
    assert model_catalog.lookup("gpt-4o").priced


def test_the_models_file_and_the_env_file_naming_it_are_read_once_per_version(tmp_path, monkeypatch):
    first, other = tmp_path / "first.json", tmp_path / "other.json"  # names of one length: .env keeps its size
    first.write_text(json.dumps({"versioned-model": {"input": 1.0}}))
    other.write_text(json.dumps({"versioned-model": {"input": 2.0}}))
    env_file = tmp_path / "app.env"
    env_file.write_text(f"MODELS_FILE={first}\n")
    monkeypatch.delenv("MODELS_FILE", raising=False)
    monkeypatch.setenv("APP_ENV_FILE", str(env_file))
    assert model_catalog.lookup("versioned-model").input_price == 1.0
    then = env_file.stat().st_mtime_ns
    env_file.write_text(f"MODELS_FILE={other}\n")
    os.utime(env_file, ns=(then, then))  # the same size and time: the same version, not read again
    assert model_catalog.lookup("versioned-model").input_price == 1.0
    later = then + 1_000_000_000
    os.utime(env_file, ns=(later, later))
    assert model_catalog.lookup("versioned-model").input_price == 2.0
    other.write_text(json.dumps({"versioned-model": {"input": 3.0}}))  # the models file edited: read again
    os.utime(other, ns=(later, later))
    assert model_catalog.lookup("versioned-model").input_price == 3.0
