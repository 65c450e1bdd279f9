import json

import pytest
import tiktoken
import tiktoken.load

import model_catalog
import offline_encodings
import token_tracker
from token_tracker import (
    Cost,
    PriceBook,
    Totals,
    Usage,
    count_messages,
    count_text,
    count_tools,
    encoding_for,
    estimate_usage,
    image_tokens,
    token_pieces,
)

# The example list from OpenAI's cookbook "How to count tokens with tiktoken".
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def test_cookbook_message_counts():
    assert count_messages(COOKBOOK_MESSAGES, "gpt-3.5-turbo") == 129
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4") == 129
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4o") == 124
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4o-mini") == 124


def test_models_use_their_encoding():
    assert encoding_for("gpt-4o").name == "o200k_base"
    assert encoding_for("gpt-3.5-turbo").name == "cl100k_base"
    assert encoding_for("some-unknown-model").name == "o200k_base"
    assert count_text("hello world", "gpt-4o") == 2


def test_tool_calls_and_tool_definitions_add_tokens():
    plain = [{"role": "assistant", "content": ""}]
    with_call = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "function": {"name": "calculate", "arguments": '{"expression": "1+1"}'}}],
        }
    ]
    assert count_messages(with_call, "gpt-4o") > count_messages(plain, "gpt-4o")
    # func_init 7 + name:desc + prop_init 3 + 2 keys * 3 + enum (-3 + 2 * 3 + item tokens) + lines + func_end 12
    encoding = tiktoken.get_encoding("o200k_base")
    lines = [
        "get_current_weather:Get the current weather in a given location",
        "location:string:The city and state, e.g. San Francisco, CA",
        "unit:string:The unit of temperature to return",
    ]
    items = len(encoding.encode("celsius")) + len(encoding.encode("fahrenheit"))
    expected = 7 + 3 + 6 + (-3 + 2 * 3 + items) + 12 + sum(len(encoding.encode(line)) for line in lines)
    assert count_tools(COOKBOOK_TOOLS, "gpt-4o") == expected
    assert count_tools([], "gpt-4o") == 0


def test_prices_per_million_tokens_and_cached_input():
    book = PriceBook(usd_cny_rate=7.0)
    cost = book.cost("gpt-4o-mini", Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000))
    assert round(cost.usd, 6) == 0.75
    assert round(cost.cny, 6) == 5.25
    cached = book.cost("gpt-4o", Usage(prompt_tokens=1_000_000, cached_tokens=1_000_000))
    assert round(cached.usd, 6) == 1.25


def test_cny_priced_models_convert_to_usd():
    cost = PriceBook(usd_cny_rate=8.0).cost("deepseek-chat", Usage(prompt_tokens=1_000_000, completion_tokens=0))
    assert round(cost.cny, 6) == 2.0
    assert round(cost.usd, 6) == 0.25


def test_dated_snapshots_use_their_family_price_and_unknown_models_are_flagged():
    book = PriceBook(usd_cny_rate=7.0)
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    assert book.cost("gpt-4o-mini-2024-07-18", usage) == book.cost("gpt-4o-mini", usage)
    unknown = book.cost("my-finetune", usage)
    assert unknown.priced is False and unknown.usd == 0


def test_totals_sum_usage_and_cost_and_keep_the_estimated_mark():
    totals = Totals.of(
        [
            (Usage(10, 5), Cost(usd=0.1, cny=0.7)),
            (Usage(20, 7, estimated=True), Cost(usd=0.2, cny=1.4)),
        ]
    )
    assert totals.calls == 2
    assert totals.usage.total_tokens == 42
    assert totals.usage.estimated
    assert round(totals.cost.usd, 6) == 0.3
    assert Totals.of([]).calls == 0


def test_estimate_usage_is_marked_estimated():
    usage = estimate_usage([{"role": "user", "content": "hi"}], "hello there", "gpt-4o")
    assert usage.estimated
    assert usage.prompt_tokens == count_messages([{"role": "user", "content": "hi"}], "gpt-4o")
    assert usage.completion_tokens == 2


def test_encodings_load_from_the_bundled_files_without_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    target = offline_encodings.seed_cache(tmp_path / "cache")
    assert (target / offline_encodings.cache_file_name("cl100k_base")).exists()
    assert offline_encodings.cache_file_name("cl100k_base") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    encoding = tiktoken.get_encoding("o200k_base")
    assert encoding.encode("hello world") == [24912, 2375]


def test_cookbook_tool_counts():
    for model, expected in [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]:
        total = count_messages(COOKBOOK_TOOL_MESSAGES, model) + count_tools(COOKBOOK_TOOLS, model)
        assert total == expected, model


def test_image_tokens_follow_the_published_rule():
    assert image_tokens(4096, 4096, "low") == 85
    assert image_tokens(1024, 1024, "high") == 765
    assert image_tokens(2048, 4096, "high") == 1105
    assert image_tokens(512, 512, "auto") == 255
    part = {"type": "image_url", "image_url": {"url": "data:,", "detail": "low"}}
    text = {"type": "text", "text": "What is in this image?"}
    with_image = count_messages([{"role": "user", "content": [text, part]}], "gpt-4o")
    assert with_image == count_messages([{"role": "user", "content": "What is in this image?"}], "gpt-4o") + 85


def test_an_override_file_adds_and_reprices_models(tmp_path, monkeypatch):
    overrides = tmp_path / "models.json"
    overrides.write_text(
        json.dumps(
            {
                "my-local-finetune": {"context_window": 32768, "input": 1.0, "output": 2.0, "currency": "cny"},
                "gpt-4o-mini": {"input": 0.3},
            }
        )
    )
    monkeypatch.setenv("MODELS_FILE", str(overrides))
    added = model_catalog.lookup("my-local-finetune")
    assert (added.context_window, added.input_price, added.output_price, added.currency) == (32768, 1.0, 2.0, "CNY")
    assert added.priced
    repriced = model_catalog.lookup("gpt-4o-mini")
    assert (repriced.input_price, repriced.output_price, repriced.context_window) == (0.3, 0.60, 128_000)
    cost = PriceBook(7.0).cost("my-local-finetune", Usage(1_000_000, 1_000_000))
    assert round(cost.cny, 6) == 3.0
    overrides.write_text("{broken")
    monkeypatch.setenv("MODELS_FILE", str(tmp_path / "other.json"))
    assert model_catalog.lookup("my-local-finetune").priced is False
    monkeypatch.setenv("MODELS_FILE", str(overrides))
    model_catalog._overrides.cache_clear()
    with pytest.raises(model_catalog.CatalogError, match="models.json"):
        model_catalog.lookup("gpt-4o")
    model_catalog._overrides.cache_clear()


def test_a_known_models_output_limit_caps_max_tokens():
    assert model_catalog.lookup("gpt-4o-mini").output_room(100_000) == 16_384
    assert model_catalog.lookup("gpt-4o-mini").output_room(500) == 500
    assert model_catalog.lookup("some-gateway-model").output_room(100_000) == 100_000


def test_token_pieces_give_each_tokens_text_and_id_and_a_split_character_as_escapes():
    text = "Hello 你好, 𝔘nicode"
    pieces = token_pieces(text, "gpt-4o-mini")
    assert [token for _, token in pieces] == encoding_for("gpt-4o-mini").encode(text)
    shown = [piece for piece, _ in pieces]
    split = ["\\xf0\\x9d", "\\x94", "\\x98"]  # 𝔘 is four bytes, in three tokens
    assert shown == ["Hello", " ", "你好", ",", " ", *split, "nic", "ode"]


def exact(text: str, encoding: str) -> int:
    offline_encodings.seed_cache()
    return len(tiktoken.get_encoding(encoding).encode(text, disallowed_special=()))


def test_remembered_counts_are_per_text_and_encoding():
    long = "这是一段很长的中文文本，用来比较两种编码。" * 200
    texts = ["hi", "你好，世界", long, long[:-1] + "!", long + " ", "x" * 64, "x" * 65, "a\ud800b" * 40]
    assert exact(long, "o200k_base") != exact(long, "cl100k_base")  # a cache shared by encodings would show
    for _ in range(2):  # counted, then remembered
        for text in texts:
            assert count_text(text, "gpt-4o") == exact(text, "o200k_base")
            assert count_text(text, "gpt-3.5-turbo") == exact(text, "cl100k_base")


def test_a_model_moved_to_another_encoding_by_the_models_file_counts_in_that_one(tmp_path, monkeypatch):
    text = "这是一段很长的中文文本。" * 50
    assert count_text(text, "my-model") == exact(text, "o200k_base")  # unknown: estimated with o200k
    overrides = tmp_path / "models.json"
    overrides.write_text(json.dumps({"my-model": {"encoding": "cl100k_base"}}))
    monkeypatch.setenv("MODELS_FILE", str(overrides))
    encoding_for.cache_clear()
    try:
        assert count_text(text, "my-model") == exact(text, "cl100k_base")
    finally:
        encoding_for.cache_clear()
        model_catalog._overrides.cache_clear()


def test_the_count_cache_keeps_at_most_its_size(monkeypatch):
    monkeypatch.setattr(token_tracker, "COUNT_CACHE_SIZE", 8)
    texts = [f"text number {n} " * (n + 10) for n in range(20)]
    for text in texts:
        count_text(text, "gpt-4o")
    assert len(token_tracker._counts) <= 8
    assert [count_text(text, "gpt-4o") for text in texts] == [exact(text, "o200k_base") for text in texts]
