"""Tokens, cost, context and budget as the user sees them (AppTest against the scripted server)."""

from streamlit.testing.v1 import AppTest

from app_driver import charts, send, start
from prompt_templates import SUMMARY_INSTRUCTIONS
from scripted_server import Reply
from token_tracker import count_messages, count_tools


def sidebar_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "warning", "error") for e in getattr(at.sidebar, kind)]
    return "\n".join(str(p) for p in parts)


def test_the_next_request_is_estimated_before_sending_and_compared_after(app_env):
    at = start()
    assert "≈ " in sidebar_text(at) and "prompt tokens (history + template + tools)" in sidebar_text(at)
    assert at.sidebar.get("progress")
    app_env.expect(Reply(text="Hi!", usage=(500, 3)))
    send(at, "hello")
    body = app_env.chat_requests()[0]
    estimate = count_messages(body["messages"], "gpt-4o-mini") + count_tools(body["tools"], "gpt-4o-mini")
    caption = next(c.value for c in at.chat_message[-1].caption if "estimate" in c.value)
    assert f"estimate {estimate} → actual 500" in caption
    assert at.session_state["session"].conversation.messages[-1].estimated_prompt_tokens == estimate


def test_context_view_and_chart(app_env):
    app_env.expect(Reply(text="Answer one."), Reply(text="Answer two."))
    at = send(start(), "one")
    send(at, "two")
    assert not charts(at)  # drawn only while their expander is open
    at.session_state["usage_charts"] = True  # the user opens it
    assert charts(at.run())
    assert not at.sidebar.text  # the context view is drawn only while open
    at.session_state["context_view"] = True  # the user opens it
    view = "\n".join(t.value for t in at.run().sidebar.text)
    assert "✅ sent · user: one" in view and "✅ sent · assistant: Answer two." in view


def test_a_budget_warns_at_80_percent_and_asks_at_100(app_env, monkeypatch):
    # gpt-4o-mini: 1,000,000 prompt tokens cost $0.15
    monkeypatch.setenv("BUDGET_PER_CHAT", "0.1")
    app_env.expect(Reply(text="pricey", usage=(600_000, 0)))
    at = send(start(), "first")
    assert any("Chat budget: $0.0900 of $0.1000 used (90%)" in w.value for w in at.sidebar.warning)
    app_env.expect(Reply(text="over now", usage=(100_000, 0)))
    send(at, "second")
    assert any("Chat budget: $0.1050 of $0.1000 used (105%)" in e.value for e in at.sidebar.error)
    send(at, "third, over budget")
    assert len(app_env.chat_requests()) == 2  # held, not sent
    assert "The Chat budget is used up" in at.warning[0].value
    assert at.code[-1].value == "third, over budget"
    app_env.expect(Reply(text="Sent anyway."))
    at.button(key="send_anyway").click().run()
    assert len(app_env.chat_requests()) == 3
    assert at.session_state["session"].conversation.messages[-2].content == "third, over budget"


def test_cancelling_a_held_message_sends_nothing(app_env, monkeypatch):
    monkeypatch.setenv("BUDGET_PER_DAY", "0.00001")
    monkeypatch.setenv("BUDGET_CURRENCY", "CNY")
    app_env.expect(Reply(text="a", usage=(10_000, 0)))
    at = send(start(), "first")
    send(at, "second")
    assert "Daily budget" in at.warning[0].value and "¥" in at.warning[0].value
    at.button(key="cancel_held").click().run()
    assert len(app_env.chat_requests()) == 1 and not at.warning


def test_summarising_older_turns_books_its_cost_and_keeps_tool_pairs_whole(app_env, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_AT", "1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4")
    app_env.expect(
        Reply(tool_calls=[("calculate", '{"expression": "6*7"}')], usage=(10, 1)),
        Reply(text="It is 42.", usage=(10, 1)),
    )
    at = send(start(), "What is 6*7?")
    app_env.expect(Reply(text="Second answer.", usage=(10, 1)))
    send(at, "second question")
    assert at.session_state["session"].conversation.summary is None  # only the two newest turns so far
    app_env.reset()
    app_env.expect(Reply(text="The user asked 6*7 (= 42, via calculate).", usage=(700, 30)), Reply(text="Third."))
    send(at, "third question")
    summary_call, turn = app_env.chat_requests()
    assert summary_call["stream"] is False
    assert summary_call["messages"][0]["content"] == SUMMARY_INSTRUCTIONS["en"]
    assert "assistant called calculate" in summary_call["messages"][1]["content"]
    assert "tool calculate result" in summary_call["messages"][1]["content"]
    contents = [m["content"] for m in turn["messages"]]
    assert contents[1].startswith("Summary of the earlier part of this conversation:")
    assert "What is 6*7?" not in contents
    assert not [m for m in turn["messages"] if m["role"] == "tool"]  # the tool pair went into the summary whole
    conversation = at.session_state["session"].conversation
    assert conversation.summary.usage.prompt_tokens == 700
    assert conversation.totals().usage.prompt_tokens >= 700
    at.session_state["context_view"] = True
    view = "\n".join(t.value for t in at.run().sidebar.text)
    assert "📝 summarised · user: What is 6*7?" in view


def test_regenerating_over_budget_asks_first_too(app_env, monkeypatch):
    monkeypatch.setenv("BUDGET_PER_CHAT", "0.01")
    app_env.expect(Reply(text="expensive", usage=(100_000, 0)))
    at = send(start(), "question")
    next(b for b in at.button if b.key.startswith("regenerate_")).click().run()
    assert len(app_env.chat_requests()) == 1
    assert "The Chat budget is used up" in at.warning[0].value and at.code[-1].value == "Regenerate"
    app_env.expect(Reply(text="Regenerated anyway."))
    at.button(key="send_anyway").click().run()
    assert len(app_env.chat_requests()) == 2
    assert any(c.value == "2 / 2" for c in at.caption)


def test_each_reply_shows_its_first_token_time_and_speed(app_env):
    app_env.expect(Reply(text="one two three four five six", usage=(10, 60), chunk_delay=0.05))
    at = send(start(), "go")
    caption = next(c.value for c in at.chat_message[-1].caption if "tokens/s" in c.value)
    assert "first token" in caption
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.first_token_ms >= 0 and reply.stream_ms >= 200


def test_a_held_message_stays_on_screen_while_other_controls_change(app_env, monkeypatch):
    monkeypatch.setenv("BUDGET_PER_CHAT", "0.01")
    app_env.expect(Reply(text="expensive", usage=(100_000, 0)))
    at = send(start(), "question")
    send(at, "kept for later")
    at.sidebar.slider(key="temperature").set_value(0.2).run()
    assert "The Chat budget is used up" in at.warning[0].value and at.code[-1].value == "kept for later"
    app_env.expect(Reply(text="Sent later."))
    at.button(key="send_anyway").click().run()
    assert app_env.chat_requests()[-1]["messages"][-1]["content"] == "kept for later"
    assert app_env.chat_requests()[-1]["temperature"] == 0.2


def test_a_held_message_is_never_sent_into_another_chat(app_env, monkeypatch):
    monkeypatch.setenv("BUDGET_PER_CHAT", "0.01")
    app_env.expect(Reply(text="expensive", usage=(100_000, 0)))
    at = send(start(), "question")
    send(at, "held here")
    at.sidebar.button(key="new_chat").click().run()
    assert len(app_env.chat_requests()) == 1 and not at.warning
    assert at.session_state["session"].conversation.nodes == {}


def test_a_max_tokens_beyond_the_models_output_cap_leaves_the_history_in(app_env):
    app_env.expect(Reply(text="First answer."), Reply(text="Second answer."))
    at = send(start(), "first question")
    at.session_state["context_view"] = True
    at.sidebar.number_input(key="max_tokens").set_value(200_000).run()
    view = "\n".join(t.value for t in at.sidebar.text)
    assert "✅ sent · user: first question" in view and "left out" not in view
    send(at, "second question")
    sent = app_env.chat_requests()[-1]
    assert sent["max_tokens"] == 16_384  # gpt-4o-mini's own output cap
    assert [m["content"] for m in sent["messages"][1:]] == ["first question", "First answer.", "second question"]
    assert not at.info  # nothing was left out to fit
