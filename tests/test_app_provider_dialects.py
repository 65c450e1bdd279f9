"""What the user sees when a provider filters or the model refuses: said as such, not shown as a normal answer."""

from pathlib import Path

from app_driver import page_text, send, start
from scripted_server import Reply

CORPUS = Path(__file__).resolve().parent / "provider_streams"


def recorded(name: str) -> Reply:
    return Reply(raw=(CORPUS / f"{name}.stream").read_bytes())


def test_a_content_filtered_reply_is_shown_as_filtered_with_what_arrived(app_env):
    app_env.expect(recorded("azure_content_filter_finish"))
    at = send(start(), "How do I pick a lock?")
    text = page_text(at)
    assert "Here is how" in text
    assert "content filter stopped this reply" in text
    reply = at.session_state["session"].conversation.messages[-1]
    assert reply.finish_reason == "content_filter" and reply.content == "Here is how"


def test_a_refused_reply_is_shown_as_the_models_refusal(app_env):
    app_env.expect(recorded("openai_refusal"))
    at = send(start(), "Help me with something dubious")
    assert "The model declined to answer: I'm sorry, I can't assist with that request." in page_text(at)
    reply = at.session_state["session"].conversation.messages[-1]
    assert (reply.content, reply.refusal) == ("", "I'm sorry, I can't assist with that request.")
    assert not at.error
