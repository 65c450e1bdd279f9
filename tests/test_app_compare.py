"""Compare in the UI (AppTest): the ⚖️ popover's variants, the columns, and keeping one answer in the chat."""

from __future__ import annotations

from typing import Any

from app_driver import page_text, refreshed, rendered, send, start
from compare import LABELS
from prompt_templates import TEMPLATES
from scripted_server import Reply

DEFAULTS = ("standard", "chain_of_thought", "few_shot")  # the popover's first three templates


def under(template: str) -> Any:
    return lambda body: body["messages"][0]["content"].startswith(TEMPLATES[template].system["en"])


def test_compare_mode_runs_the_default_variants_and_keeps_the_chosen_answer(app_env):
    app_env.expect(
        *(
            Reply(f"The {key} answer.", usage=(50, 5 + n), chunk_delay=0.01, when=under(key))
            for n, key in enumerate(DEFAULTS)
        )
    )
    at = start()
    assert not at.toggle(key="compare_on").value  # off until asked for
    at.toggle(key="compare_on").set_value(True).run()
    assert "Compare mode is on: 3 variants" in page_text(at)
    send(at, "Why is the sky blue?")

    assert len(app_env.chat_requests()) == 3 and {b["model"] for b in app_env.chat_requests()} == {"gpt-4o-mini"}
    columns = [c for c in at.columns if any(b.key.startswith("compare_keep_") for b in c.button if b.key)]
    assert [[b.label for b in column.button] for column in columns] == [["Keep this answer"]] * 3
    headers = ["Standard", "Chain of thought", "Few-shot"]
    for n, (key, column) in enumerate(zip(DEFAULTS, columns, strict=True)):
        texts = [rendered(md.value) for md in column.markdown]
        assert texts == [f"{LABELS[n]} · {headers[n]} · gpt-4o-mini · temperature 0.7", f"The {key} answer."]
        usage, figures = (caption.value for caption in column.caption)
        assert usage.startswith(f"↑50 ↓{5 + n} = {55 + n} tokens · $") and "first token" in usage
        assert figures.startswith("total ") and figures.endswith(" s · finish stop")
    sidebar = "\n".join(md.value for md in at.sidebar.markdown)
    assert "**This conversation**  \nPrompt 150 · Completion 18 · Total 168" in sidebar  # every variant booked

    at.button(key="compare_keep_1").click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key and b.key.startswith("compare_keep_")]  # kept: the columns close
    reply = at.chat_message[-1]
    assert reply.name == "assistant" and [md.value for md in reply.markdown] == ["The chain_of_thought answer."]
    assert "2 / 3" in [c.value for c in reply.caption]  # the others stay as versions

    chat_id = at.session_state["session"].conversation.id
    reloaded = start(chat_id)
    assert [md.value for md in reloaded.chat_message[-1].markdown] == ["The chain_of_thought answer."]


def test_compare_variants_take_the_model_and_temperature_typed_in_the_popover(app_env):
    app_env.expect(
        Reply("From the mini.", when=lambda body: body["model"] == "gpt-4o-mini"),
        Reply("From the big one.", when=lambda body: body["model"] == "gpt-4o"),
    )
    at = start()
    at.toggle(key="compare_on").set_value(True)
    at.radio(key="compare_count").set_value(2)
    at.text_input(key="compare_model_1").input("gpt-4o")
    at.number_input(key="compare_temperature_1").set_value(0.2)
    at.selectbox(key="compare_template_1").set_value("standard").run()
    send(at, "Hello")
    bodies = {body["model"]: body for body in app_env.chat_requests()}
    assert set(bodies) == {"gpt-4o-mini", "gpt-4o"}
    assert bodies["gpt-4o"]["temperature"] == 0.2
    assert bodies["gpt-4o-mini"]["temperature"] == at.number_input(key="compare_temperature_0").value
    assert "From the big one." in page_text(at) and "From the mini." in page_text(at)
    assert "Compare mode is on: 2 variants" in page_text(at)


def test_with_compare_off_a_message_gets_one_reply(app_env):
    app_env.expect(Reply("Just one."))
    at = send(start(), "Hello")
    assert len(app_env.chat_requests()) == 1
    assert not [b for b in at.button if b.key and b.key.startswith("compare_keep_")]


def test_a_variant_that_waits_for_approval_says_so_and_once_kept_waits_in_the_chat(app_env):
    calls = [("calculate", '{"expression": "2+3"}')]
    app_env.expect(*(Reply(text="Let me calculate.", tool_calls=calls, when=under(key)) for key in DEFAULTS))
    at = start()
    at.sidebar.toggle(key="approve_all").set_value(True).run()
    at.toggle(key="compare_on").set_value(True).run()
    send(at, "what is 2+3?")
    columns = [c for c in at.columns if any(b.key.startswith("compare_keep_") for b in c.button if b.key)]
    finishes = [column.caption[-1].value.split(" · ", 1)[1] for column in columns]
    assert finishes == ["finish waiting for your approval of its tool calls (keep this answer to decide)"] * 3

    at.button(key="compare_keep_0").click().run()
    assert "The model wants to call tools" in page_text(at)
    app_env.expect(Reply(text="2+3 = 5."))
    (run,) = [b for b in at.button if str(b.key).startswith("approve_run_")]
    refreshed(run.click().run())
    assert app_env.chat_requests()[-1]["messages"][-1]["content"] == '{"expression": "2+3", "result": 5}'
    assert "2+3 = 5." in page_text(at)
