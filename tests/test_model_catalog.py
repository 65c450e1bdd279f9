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
