"""Tokens made visible and formulas rendered, in the page (AppTest against the scripted server)."""

from __future__ import annotations

import html
import re

from streamlit.testing.v1 import AppTest

from app_driver import send, start
from scripted_server import Reply
from token_tracker import encoding_for


def sidebar_texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption") for e in getattr(at.sidebar, kind)]


def shown_parts(at: AppTest) -> dict[str, int]:
    """The breakdown's legend (in the sidebar's HTML, tags left out): part → tokens."""
    text = html.unescape("\n".join(re.sub(r"<[^>]+>", "\n", str(block.value)) for block in at.sidebar.get("html")))
    return {name: int(tokens) for name, tokens in re.findall(r"^■\n ([^:\n]+): (\d+)$", text, re.MULTILINE)}


def next_request_tokens(at: AppTest) -> int:
    line = next(text for text in sidebar_texts(at) if "prompt tokens (history + template + tools)" in text)
    return int(re.search(r"≈ (\d+) prompt tokens", line).group(1))


def test_the_breakdown_opens_from_the_usage_panel_and_adds_up_to_the_next_request(app_env):
    app_env.expect(Reply.fail(500, "overloaded"))  # the question stays waiting: the next request asks it again
    at = start()
    at.sidebar.selectbox(key="template").select("few_shot").run()
    send(at, "What is a token?")
    assert not shown_parts(at)  # closed: neither counted nor drawn
    at.session_state["token_breakdown"] = True  # the learner opens it
    at.run()
    assert not at.exception
    parts = shown_parts(at)
    assert {"System prompt", "Few-shot examples", "Tool definitions", "New message", "Message framing"} <= set(parts)
    assert parts["New message"] == len(encoding_for("gpt-4o-mini").encode("What is a token?"))
    total = next_request_tokens(at)
    assert sum(parts.values()) == total
    assert f"**Total {total}** = the next request's prompt tokens" in sidebar_texts(at)


def test_the_tokenizer_shows_each_token_with_its_id(app_env):
    at = start()
    at.session_state["tokenizer"] = True
    at.run()
    text = "Hello world, 你好"
    at.text_area(key="tokenizer_text").input(text).run()
    assert not at.exception
    ids = encoding_for("gpt-4o-mini").encode(text)
    chips = at.html[0].value
    assert re.findall(r"<small[^>]*>(\d+)</small>", chips) == [str(i) for i in ids]
    assert ">Hello</code>" in chips and ">␣world</code>" in chips
    assert f"{len(ids)} tokens · {len(text)} characters · encoding o200k_base (gpt-4o-mini)" in sidebar_texts(at)


def test_a_formula_in_brackets_renders_in_dollars(app_env):
    app_env.expect(Reply(text="The area is \\( x^2 \\) and `\\(code\\)` stays.", reasoning="So \\[ A = x^2 \\]"))
    at = send(start(), "area?")
    reply = [md.value for md in at.chat_message[1].markdown]
    assert reply == ["So \n$$\nA = x^2\n$$", "The area is $x^2$ and `\\(code\\)` stays."]  # the reasoning, the text


def test_cached_prompt_tokens_show_in_the_replys_usage_line(app_env):
    app_env.expect(Reply(text="Cached.", usage=(1200, 5), cached_tokens=1024))
    at = send(start(), "hi")
    assert any("↑1200 (cached 1024) ↓5 = 1205 tokens" in c.value for c in at.caption)


def test_rate_limits_show_the_clients_use_and_the_providers_headers(app_env, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_RPM", "7")
    monkeypatch.setenv("RATE_LIMIT_TPM", "987654")  # a limiter of its own (they are shared per process)
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-remaining-tokens": "199000",
    }
    app_env.expect(Reply(text="Limited.", headers=headers))
    at = send(start(), "hi")
    at.session_state["rate_limits"] = True
    at.run()
    assert not at.exception
    client = next(text for text in sidebar_texts(at) if text.startswith("This app's limiter"))
    assert re.fullmatch(r"This app's limiter, last minute: 1/7 requests · \d+/987654 tokens", client)
    table = at.table[0].value
    assert list(table["remaining"]) == ["499", "199000"]
    assert list(table["limit"]) == ["500", "–"] and list(table["resets in"]) == ["120ms", "–"]
