"""The page with nothing configured and a model server running on this machine (a scripted server on a free port of
127.0.0.1, named by LOCAL_SERVERS): used by default, with the demo model one click away; the page never waits for
the look. LOCAL_MODEL_PATH points nowhere, so where the demo model would start the page says it cannot instead of
loading it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from app_driver import page_text, rendered, send, start
from scripted_server import Held, Reply, ScriptedServer

MODELS = ["nomic-embed-text:latest", "llama3.2:latest", "qwen2.5:7b"]
LOOKING = "Looking for models running on this computer…"
DEMO_CANNOT_START = "The local model cannot start: LOCAL_MODEL_PATH=/nowhere/model.gguf is not a file"


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UI_LANGUAGE", "en")
    monkeypatch.setenv("MAX_RETRIES", "0")
    monkeypatch.setenv("LOCAL_MODEL_PATH", "/nowhere/model.gguf")
    monkeypatch.setenv("AUTO_TITLE", "off")  # one request per message: the reply's own


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch, no_configuration: None) -> Iterator[Callable[..., ScriptedServer]]:
    """Starts a scripted server as the Ollama of this machine (each on a port of its own, so each test has its own
    detector) and names it in LOCAL_SERVERS; stopped at the end, after checking it was asked nothing unexpected."""
    started: list[ScriptedServer] = []

    def run(*models: str) -> ScriptedServer:
        server = ScriptedServer().start()
        server.models = list(models)
        started.append(server)
        monkeypatch.setenv("LOCAL_SERVERS", f"ollama:{server.server_address[1]}")
        return server

    yield run
    for server in started:
        server.stop()
        assert server.problems() == []


def looking(at: AppTest) -> bool:
    return any(LOOKING in caption.value for caption in at.caption)


def badges(at: AppTest) -> list[str]:
    """The captions saying which server on this machine is in use, as a reader sees them."""
    return [rendered(caption.value) for caption in at.caption if "Found " in caption.value]


def settled(at: AppTest, limit: float = 30.0) -> AppTest:
    """Runs the page again until the first look has ended (AppTest does not run the polling fragment on a timer)."""
    end = time.monotonic() + limit
    while looking(at):
        assert time.monotonic() < end, "the look never ended"
        time.sleep(0.05)
        at.run()
    assert not at.exception, at.exception
    return at


def test_a_running_server_and_its_first_chat_model_are_used_by_default(running):
    server = running(*MODELS)
    port = server.server_address[1]
    at = settled(start())
    assert at.sidebar.selectbox(key="provider").value == "ollama"
    assert at.sidebar.text_input(key="base_url_ollama").value == f"http://127.0.0.1:{port}/v1"
    assert at.sidebar.selectbox(key="model_ollama").value == "llama3.2:latest"
    assert badges(at) == [f"🖥️ Found Ollama on 127.0.0.1:{port} · using llama3.2:latest"]
    assert at.button(key="use_demo_model").label == "Use the demo model instead"
    assert not at.error and DEMO_CANNOT_START not in page_text(at)  # the demo model was never tried

    server.expect(Reply(text="Paris."))
    send(at, "What is the capital of France? Answer in one word.")
    (request,) = server.chat_requests()
    assert request["model"] == "llama3.2:latest"
    assert at.session_state["session"].conversation.messages[-1].content == "Paris."


def test_the_demo_model_is_one_click_away_and_stays_chosen(running):
    running(*MODELS)
    at = settled(start())
    at.button(key="use_demo_model").click().run()
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert DEMO_CANNOT_START in at.error[0].value  # the demo path, as with nothing running
    assert badges(at) == []
    at.sidebar.button(key="new_chat").click().run()
    at.run()
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert badges(at) == [] and DEMO_CANNOT_START in at.error[0].value


def test_the_page_is_drawn_before_a_slow_port_answers_and_the_demo_model_waits(running):
    server = running(*MODELS)
    held = Held({"object": "list", "data": [{"id": "llama3.2:latest"}]})
    server.route("/v1/models", held)
    try:
        at = start()
        assert not at.exception, at.exception
        assert looking(at) and held.entered.is_set()  # drawn while the server still holds the request
        assert at.sidebar.selectbox(key="provider").value == "local"
        assert not at.error and at.chat_input[0].disabled  # the demo model is not loaded meanwhile
        settled(at)  # the look gives up on the silent port within a second: nothing found
    finally:
        held.release.set()
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert DEMO_CANNOT_START in at.error[0].value


def test_with_local_servers_off_the_demo_path_is_unchanged(no_configuration, monkeypatch):
    monkeypatch.setenv("LOCAL_SERVERS", "off")
    at = start()
    assert not at.exception, at.exception
    assert not looking(at)
    assert at.sidebar.selectbox(key="provider").value == "local"
    assert DEMO_CANNOT_START in at.error[0].value  # the demo model is tried on the very first run
    assert badges(at) == []


def test_a_configured_provider_is_never_replaced_and_nothing_is_probed(app_env, running):
    server = running(*MODELS)
    at = start()
    at.run()
    assert not looking(at)
    assert at.sidebar.selectbox(key="provider").value == "custom"
    assert server.requests == []


def test_the_model_picker_offers_the_chat_models_first_and_still_the_others(running):
    running("nomic-embed-text:latest", "llama3.2:latest", "bge-m3:latest", "qwen2.5:7b")
    at = settled(start())
    picker = at.sidebar.selectbox(key="model_ollama")
    assert picker.value == "llama3.2:latest"
    chat, others = ["llama3.2:latest", "qwen2.5:7b"], ["bge-m3:latest", "nomic-embed-text:latest"]  # each sorted
    assert picker.options == chat + others


def test_replies_from_the_server_found_here_are_free_but_the_same_model_elsewhere_is_priced(running):
    """Keyed by the server's address, not the model's name: a gateway serving gpt-4o-mini costs money."""
    server = running("nomic-embed-text:latest", "gpt-4o-mini")
    at = settled(start())
    assert at.sidebar.selectbox(key="model_ollama").value == "gpt-4o-mini"
    server.expect(Reply(text="Paris.", usage=(1000, 10)))
    send(at, "What is the capital of France?")
    here = at.session_state["session"].conversation.messages[-1]
    assert (here.content, here.cost.local, here.cost.usd) == ("Paris.", True, 0.0)

    gateway = ScriptedServer().start()
    try:
        gateway.models = ["gpt-4o-mini"]
        at.sidebar.text_input(key="base_url_ollama").set_value(gateway.base_url).run()
        gateway.expect(Reply(text="Rome.", usage=(1000, 10)))
        send(at, "And of Italy?")
        elsewhere = at.session_state["session"].conversation.messages[-1]
        assert (elsewhere.content, elsewhere.cost.local, elsewhere.cost.priced) == ("Rome.", False, True)
        assert elsewhere.cost.usd > 0
        assert gateway.problems() == []
    finally:
        gateway.stop()
