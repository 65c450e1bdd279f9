"""Voice in: a microphone (``st.audio_input``) where the provider offers speech to text.

The provider offers it when its model list (GET /models, fetched for the model picker) has the model
TRANSCRIPTION_MODEL names ("auto": whisper-1 or another whisper / transcribe model); elsewhere the microphone is
not drawn. A recording is transcribed once through POST /audio/transcriptions and its text goes into the message
box (``st.chat_input`` takes text through its key), to correct and send like typed text. A failure is explained in
the UI language; the recording stays in the widget, to play back or transcribe again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st

from config import Settings, redact
from errors import ErrorInfo
from events import CallRecord
from i18n import t
from llm_client import LLMClient, TranscriptionFailed, speech_model
from ui_chat import error_text
from ui_session import price_book, session

DONE = "voice_transcribed"  # the recording transcribed last, and how it went


@dataclass(frozen=True)
class _Transcribed:
    file_id: str
    text: str = ""
    error: ErrorInfo | None = None


def voice_input(settings: Settings, message_key: str, lang: str, disabled: bool = False) -> None:
    """The microphone above the message box (keyed ``message_key``); call it before the box is drawn."""
    listed = session().model_lists.get(settings.endpoint)
    model = speech_model(listed.ids if listed else [], settings.transcription_model)
    if model is None:
        return
    audio = st.audio_input(
        t("voice_input", lang), key="voice_input", help=t("voice_help", lang, model=model), disabled=disabled
    )
    if audio is None:
        return
    done: _Transcribed | None = st.session_state.get(DONE)
    if done is None or done.file_id != audio.file_id:
        with st.spinner(t("transcribing", lang)):
            done = _transcribe(settings, model, audio.getvalue(), audio.name or "speech.wav", audio.file_id)
        st.session_state[DONE] = done
        if done.error is None:
            _fill(message_key, done.text, lang)
    if done.error is not None:
        _explain(done.error, settings.endpoint, lang)


def _transcribe(settings: Settings, model: str, audio: bytes, filename: str, file_id: str) -> _Transcribed:
    """The call is booked to the open chat (usage log, cost): saved with it when its next message is."""
    client = LLMClient(settings.key_for_client(), settings.base_url, settings.request_timeout, settings.connect_timeout)
    log: list[CallRecord] = []
    try:
        return _Transcribed(file_id, client.transcribe(audio, filename, model, log))
    except TranscriptionFailed as failure:
        return _Transcribed(file_id, error=failure.error)
    finally:
        session().conversation.log_calls(log, price_book(settings), side="transcription")


def _fill(message_key: str, text: str, lang: str) -> None:
    """The transcript into the message box, once: the box keeps it until it is sent."""
    if text:
        st.session_state[message_key] = text
        st.caption(t("transcribed", lang))
    else:
        st.warning(t("transcription_empty", lang))


def _explain(error: ErrorInfo, endpoint: str, lang: str) -> None:
    """Why the recording was not transcribed, until another recording or another try."""
    st.error(t("transcription_failed", lang, reason=error_text(asdict(error), lang, endpoint)))
    with st.expander(t("raw_error", lang)):
        st.code(redact(error.detail))
    st.button(t("transcribe_again", lang), key="transcribe_again", on_click=_forget)


def _forget() -> None:
    st.session_state.pop(DONE, None)
