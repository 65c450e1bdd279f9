"""The trace of a reply in the page: opened from the reply's controls, it shows each request with its body, status,
headers and lines, offers the round as code, and its download holds exactly what was sent."""

from __future__ import annotations

import json

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from app_driver import send, start
from conftest import TEST_KEY
from scripted_server import Reply


class KeptMediaStorage(MemoryMediaFileStorage):
    """AppTest's in-memory media storage, kept after the run so a download's bytes can be read."""

    made: list[MemoryMediaFileStorage] = []

    def __init__(self, media_endpoint: str) -> None:
        super().__init__(media_endpoint)
        self.made.append(self)


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MemoryMediaFileStorage]:
    KeptMediaStorage.made = []
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", KeptMediaStorage)
    return KeptMediaStorage.made


def downloaded(media: list[MemoryMediaFileStorage], url: str) -> bytes:
    """The bytes a download button of the latest run offers (its url names the stored file)."""
    return media[-1].get_file(url.rsplit("/", 1)[1]).content


def test_a_replys_trace_shows_its_rounds_and_downloads_the_exact_body(app_env, monkeypatch, media):
    monkeypatch.setenv("MAX_RETRIES", "1")
    app_env.expect(
        Reply.fail(429, "Slow down", **{"retry-after": "0", "x-request-id": "req_42"}),
        Reply(text="Hello there.", usage=(12, 3)),
    )
    at = send(start(), "hi")
    reply = at.session_state["session"].conversation.messages[1].id
    assert TRACE_LABEL not in labels(at)  # closed, the trace is neither loaded nor drawn
    at.session_state[f"trace_{reply}"] = True  # the user opens the reply's trace
    at.run()
    assert not at.exception and TRACE_LABEL in labels(at)
    shown = "\n".join(str(text.value) for text in at.text)
    assert f"POST {app_env.base_url}/chat/completions · gpt-4o-mini → HTTP 429" in shown
    assert f"POST {app_env.base_url}/chat/completions · gpt-4o-mini → HTTP 200" in shown
    headers = next(json.loads(j.value) for j in at.json if "x-request-id" in j.value)
    assert {"retry-after": "0", "x-request-id": "req_42"}.items() <= headers.items()
    lines = [c.value for c in at.code if "data: [DONE]" in c.value]
    assert len(lines) == 1 and '"content": "Hello "' in lines[0]
    python = [c.value for c in at.code if c.value.startswith('"""Reproduces a request')]
    assert len(python) == 2 and all(app_env.base_url in code for code in python)
    button = next(b for b in at.get("download_button") if b.proto.label == TRACE_LABEL)
    document = json.loads(downloaded(media, button.proto.url))
    sent = [r["raw"] for r in app_env.requests if r["method"] == "POST"]
    assert document["reply_id"] == reply and [r["status"] for r in document["rounds"]] == [429, 200]
    assert [r["request_body"].encode() for r in document["rounds"]] == sent
    assert TEST_KEY not in json.dumps(document) and "authorization" not in json.dumps(document).lower()


TRACE_LABEL = "Download trace (JSON)"


def labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]
