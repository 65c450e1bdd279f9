"""Voice in: speech to text through POST /audio/transcriptions against the scripted server over real HTTP, the
choice of model from the provider's list, and the microphone in the page (AppTest): shown only where the provider
offers it, its transcript put into the message box, a failure explained with the recording kept."""

from __future__ import annotations

import io
import json
import os
import wave
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import send, start
from conftest import TEST_KEY
from llm_client import MAX_AUDIO_BYTES, LLMClient, TranscriptionFailed, speech_model
from scripted_server import Reply, ScriptedServer
from store import Store
from token_tracker import PriceBook
from ui_session import SESSION_KEY


def recording(seconds: float = 0.2) -> bytes:
    """A short silent WAV, as st.audio_input records (16 kHz mono)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * int(16000 * seconds))
    return buffer.getvalue()


# --- the client -----------------------------------------------------------------------------------------------


def test_a_recording_is_sent_as_a_form_and_its_words_come_back(server):
    server.expect(Reply(text=" What is the weather in Paris? "))
    audio = recording()
    text = LLMClient(TEST_KEY, server.base_url).transcribe(audio, "speech.wav", "whisper-1")
    assert text == "What is the weather in Paris?"
    (form,) = server.transcription_requests()
    assert form["model"] == "whisper-1"
    assert form["file"] == {"filename": "speech.wav", "bytes": audio}
    assert server.chat_requests() == []


def test_each_transcription_is_a_usage_log_row_priced_where_tokens_are_reported(server):
    """gpt-4o-mini-transcribe reports tokens (audio in, text out); whisper-1 reports seconds, no token price: no
    usage; a failed call is a row with its error kind."""
    client = LLMClient(TEST_KEY, server.base_url)
    seconds = json.dumps({"text": "Hello.", "usage": {"type": "duration", "seconds": 3}}).encode()
    server.expect(
        Reply(text="What time is it?", usage=(120, 9)),
        Reply(raw=seconds, content_type="application/json"),
        Reply.fail(429, "Rate limit reached", "rate_limit_exceeded"),
    )
    log: list = []
    assert client.transcribe(recording(), "speech.wav", "gpt-4o-mini-transcribe", log) == "What time is it?"
    assert client.transcribe(recording(), "speech.wav", "whisper-1", log) == "Hello."
    with pytest.raises(TranscriptionFailed):
        client.transcribe(recording(), "speech.wav", "whisper-1", log)
    assert [(r.kind, r.model, r.outcome) for r in log] == [
        ("transcription", "gpt-4o-mini-transcribe", "ok"),
        ("transcription", "whisper-1", "ok"),
        ("transcription", "whisper-1", "rate_limit"),
    ]
    assert (log[0].usage.prompt_tokens, log[0].usage.completion_tokens) == (120, 9)
    assert log[1].usage is None and log[2].usage is None
    assert all(r.total_ms is not None for r in log)
    book = PriceBook(usd_cny_rate=7.2)
    assert book.cost("gpt-4o-mini-transcribe", log[0].usage).usd == pytest.approx((120 * 3.00 + 9 * 5.00) / 1e6)


def test_a_recording_over_the_endpoints_limit_is_refused_before_it_is_sent(server):
    with pytest.raises(TranscriptionFailed) as failed:
        LLMClient(TEST_KEY, server.base_url).transcribe(b"\0" * (MAX_AUDIO_BYTES + 1), "speech.wav", "whisper-1")
    assert failed.value.error.kind == "audio_too_large"
    assert server.transcription_requests() == []


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (Reply.fail(404, "Invalid URL (POST /v1/audio/transcriptions)"), "not_found"),
        (Reply.fail(401, f"Incorrect API key provided: {TEST_KEY}"), "auth"),
        (Reply(raw=b"<html>gateway</html>", content_type="text/html"), "bad_response"),
    ],
    ids=["no such endpoint", "key refused", "not a transcript"],
)
def test_a_failed_transcription_says_how_and_never_shows_the_key(server, reply, kind):
    server.expect(reply)
    with pytest.raises(TranscriptionFailed) as failed:
        LLMClient(TEST_KEY, server.base_url).transcribe(recording(), "speech.wav", "whisper-1")
    assert failed.value.error.kind == kind
    assert TEST_KEY not in failed.value.error.detail


@pytest.mark.parametrize(
    ("listed", "wanted", "model"),
    [
        (["gpt-4o", "gpt-4o-transcribe", "whisper-1"], "auto", "whisper-1"),
        (["llama-3.3-70b", "whisper-large-v3"], "auto", "whisper-large-v3"),
        (["gpt-4o-mini-transcribe", "gpt-4o-mini-tts"], "auto", "gpt-4o-mini-transcribe"),
        (["deepseek-chat", "deepseek-reasoner"], "auto", None),
        (["gpt-4o", "gpt-4o-transcribe", "whisper-1"], "gpt-4o-transcribe", "gpt-4o-transcribe"),
        (["deepseek-chat"], "whisper-1", None),
        (["whisper-1"], "off", None),
        ([], "auto", None),
    ],
)
def test_the_microphone_uses_a_model_the_provider_lists(listed, wanted, model):
    assert speech_model(listed, wanted) == model


# --- the page -------------------------------------------------------------------------------------------------


@pytest.fixture
def offers_speech(app_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    monkeypatch.setattr(app_env, "models", ["gpt-4o-mini", "whisper-1"])
    return app_env


def record(at: AppTest, audio: bytes) -> AppTest:
    at.audio_input(key="voice_input").set_value(("recording.wav", audio, "audio/wav")).run()
    assert not at.exception, at.exception
    return at


def test_without_a_speech_model_listed_there_is_no_microphone(app_env):
    at = start()
    assert not at.audio_input


def test_the_transcript_goes_into_the_message_box_to_send_like_typed_text(offers_speech):
    at = start()
    assert at.audio_input(key="voice_input").label == "🎤 Speak your message"
    offers_speech.expect(Reply(text="What is 2+3?"))
    record(at, recording())
    assert at.chat_input[0].proto.value == "What is 2+3?" and at.chat_input[0].proto.set_value
    assert "Transcribed: check the text in the message box, then send it." in [c.value for c in at.caption]
    assert offers_speech.transcription_requests()[0]["model"] == "whisper-1"
    at.run()  # the same recording is not transcribed again
    assert len(offers_speech.transcription_requests()) == 1
    offers_speech.expect(Reply(text="5."))
    send(at, "What is 2+3?")
    assert offers_speech.chat_requests()[-1]["messages"][-1]["content"] == "What is 2+3?"


def test_a_failed_transcription_is_explained_and_the_recording_kept_to_try_again(offers_speech, monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "zh")
    at = start()
    offers_speech.expect(Reply.fail(429, "Rate limit reached for whisper-1", "rate_limit_exceeded"))
    record(at, recording())
    assert at.error[0].value.startswith("录音未能转写：")
    assert "429" in at.error[0].value
    assert not at.chat_input[0].proto.value
    at.run()
    assert at.error[0].value.startswith("录音未能转写：")  # still explained, not sent again on its own
    assert len(offers_speech.transcription_requests()) == 1
    offers_speech.expect(Reply(text="你好"))
    at.button(key="transcribe_again").click().run()
    assert at.chat_input[0].proto.value == "你好"
    assert not at.error
    forms = offers_speech.transcription_requests()
    assert len(forms) == 2 and forms[0]["file"] == forms[1]["file"]  # the same recording, kept


def test_a_transcription_is_booked_to_the_chat_and_in_the_usage_log_with_its_cost(app_env, monkeypatch):
    monkeypatch.setattr(app_env, "models", ["gpt-4o-mini", "gpt-4o-mini-transcribe"])
    at = start()
    app_env.expect(Reply(text="What is 2+3?", usage=(200, 6)))
    record(at, recording())
    app_env.expect(Reply(text="5.", usage=(30, 2)))
    send(at, "What is 2+3?")
    assert app_env.transcription_requests()[0]["model"] == "gpt-4o-mini-transcribe"
    chat = at.session_state[SESSION_KEY].conversation
    assert [(side.kind, side.model) for side in chat.side_calls] == [("transcription", "gpt-4o-mini-transcribe")]
    saved = Store.open(str(Path(os.environ["DATA_DIR"]) / "chats.db")).api_calls()
    (row,) = [logged.call for logged in saved if logged.call.kind == "transcription"]
    assert row.outcome == "ok" and row.cost is not None
    assert row.cost.usd == pytest.approx((200 * 3.00 + 6 * 5.00) / 1e6)
