"""Finding the model servers people already run (local_servers.py): stand-in servers on free ports of 127.0.0.1,
named by LOCAL_SERVERS as the tests' stand-ins for the usual ports."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import pytest

from config import PROVIDER_PRESETS, ConfigError, LocalPort, load_settings, local_server_ports
from local_servers import (
    MAX_MODELS_BYTES,
    Detector,
    FoundServer,
    Snapshot,
    can_chat,
    chat_first,
    chat_models,
    loopback_url,
    probe,
    probe_all,
)
from scripted_server import Held, ScriptedServer

CHAT_MODELS = ["llama3.2:latest", "qwen2.5:7b-instruct"]


@pytest.fixture
def stand_in() -> Iterator[Callable[..., ScriptedServer]]:
    """Starts a scripted server listing ``models`` on a free port of 127.0.0.1; all are stopped at the end."""
    started: list[ScriptedServer] = []

    def start(*models: str) -> ScriptedServer:
        server = ScriptedServer().start()
        server.models = list(models)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def port_of(server: ScriptedServer) -> int:
    return int(server.server_address[1])


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def finished(detector: Detector, limit: float = 30.0) -> Snapshot:
    """The detector's snapshot once its look has ended (the limit only stops a broken test from hanging)."""
    end = time.monotonic() + limit
    while (snapshot := detector.snapshot()).pending:
        if time.monotonic() > end:
            raise AssertionError("the look never ended")
        time.sleep(0.01)
    return snapshot


def model_gets(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if r["method"] == "GET" and r["path"] == "/v1/models")


# --- the setting ---------------------------------------------------------------------------------


def test_the_usual_ports_come_from_the_presets_in_their_order():
    assert local_server_ports() == {"ollama": 11434, "lmstudio": 1234, "llamacpp": 8080, "vllm": 8000}
    for key, label in (("lmstudio", "LM Studio"), ("llamacpp", "llama.cpp server"), ("vllm", "vLLM")):
        preset = PROVIDER_PRESETS[key]
        assert (preset.label, preset.needs_key, preset.default_model) == (label, False, "")
    auto = load_settings({}).local_servers
    assert auto == tuple(LocalPort(key, port) for key, port in local_server_ports().items())
    assert [loopback_url(local.port) for local in auto] == [
        "http://127.0.0.1:11434/v1",
        "http://127.0.0.1:1234/v1",
        "http://127.0.0.1:8080/v1",
        "http://127.0.0.1:8000/v1",
    ]


def test_the_setting_takes_off_and_a_list_of_preset_ports():
    assert load_settings({"LOCAL_SERVERS": "off"}).local_servers == ()
    assert load_settings({"LOCAL_SERVERS": "OFF"}).local_servers == ()
    listed = load_settings({"LOCAL_SERVERS": " ollama:11500 , VLLM:8001"}).local_servers
    assert listed == (LocalPort("ollama", 11500), LocalPort("vllm", 8001))


@pytest.mark.parametrize(
    "value",
    [
        "example.com:11434",
        "http://127.0.0.1:11434",
        "ollama:10.0.0.2:11434",
        "ollama:[::1]:11434",
        "ollama:user@host",
        "ollama:localhost:11434",
    ],
)
def test_the_setting_refuses_anything_naming_a_host(value):
    with pytest.raises(ConfigError, match=r"names a host: only ports of 127\.0\.0\.1 are looked at"):
        load_settings({"LOCAL_SERVERS": value})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ollama", "must be preset:port"),
        ("ollama:0", "the port 1–65535"),
        ("ollama:65536", "the port 1–65535"),
        ("ollama:eleven", "must be preset:port"),
        ("openai:443", "the preset one of ollama, lmstudio, llamacpp, vllm"),
        ("ollama:11434,vllm:11434", "names a port twice"),
        (",", "must be auto, off or preset:port"),
    ],
)
def test_the_setting_says_what_is_wrong(value, message):
    with pytest.raises(ConfigError, match=f"^LOCAL_SERVERS.*{message}"):
        load_settings({"LOCAL_SERVERS": value})


def test_the_url_builder_takes_a_port_and_nothing_else():
    assert loopback_url(11434) == "http://127.0.0.1:11434/v1"
    for bad in ("example.com", "11434", 0, 65536, True, 8.5):
        with pytest.raises(ValueError, match="not a port"):
            loopback_url(bad)  # type: ignore[arg-type]


# --- what counts as a chat model --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    ["llama3.2:latest", "qwen2.5:7b", "gpt-oss:20b", "mistral-7b-instruct-v0.3", "deepseek-r1:8b", "gemma3:4b"],
)
def test_chat_models_are_kept(model):
    assert can_chat(model)


@pytest.mark.parametrize(
    "model",
    [
        "nomic-embed-text:latest",
        "mxbai-embed-large",
        "text-embedding-3-small",
        "bge-m3:latest",
        "all-minilm:l6-v2",
        "intfloat/multilingual-e5-large",
        "BAAI/bge-reranker-v2-m3",
        "whisper-1",
        "Systran/faster-whisper-small",
        "tts-1",
        "kokoro",
        "llama-guard3:1b",
    ],
)
def test_models_that_cannot_chat_are_dropped(model):
    assert not can_chat(model)


def test_the_picker_order_puts_chat_models_first_and_keeps_the_others():
    listed = ["nomic-embed-text:latest", "llama3.2:latest", "whisper-1", "qwen2.5:7b"]
    assert chat_first(listed) == ["llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest", "whisper-1"]


def test_a_model_list_is_read_from_data_ids_only():
    answer = {
        "data": [{"id": "nomic-embed-text"}, {"id": "llama3.2"}, {"name": "x"}, "odd", {"id": 3}, {"id": "llama3.2"}]
    }
    assert chat_models(answer) == ("llama3.2",)
    assert chat_models({"models": [{"id": "llama3.2"}]}) == ()
    assert chat_models([{"id": "llama3.2"}]) == ()


# --- probing ------------------------------------------------------------------------------------


def test_a_server_listing_chat_models_is_found_on_127_0_0_1(stand_in):
    server = stand_in("nomic-embed-text:latest", *CHAT_MODELS)
    found = probe(LocalPort("ollama", port_of(server)))
    assert found == FoundServer("ollama", port_of(server), tuple(CHAT_MODELS))
    assert found.base_url == server.base_url == f"http://127.0.0.1:{port_of(server)}/v1"
    assert (found.label, found.address) == ("Ollama", f"127.0.0.1:{port_of(server)}")
    (request,) = server.requests
    assert request["method"] == "GET" and request["path"] == "/v1/models"
    assert "authorization" not in request["headers"]  # no key goes anywhere


def test_nothing_listening_is_not_found():
    assert probe(LocalPort("vllm", closed_port())) is None


@pytest.mark.parametrize(
    "answer",
    [
        (500, "application/json", b'{"error": {"message": "boom"}}'),
        (200, "application/json", b"garbage, not JSON"),
        (200, "text/html", b"<html><body>Welcome to nginx!</body></html>"),
        (200, "application/json", b'{"object": "list", "data": []}'),
        (401, "application/json", b'{"error": {"message": "Invalid API key"}}'),  # as the app's own demo server
    ],
    ids=["500", "garbage", "html", "empty-list", "wants-a-key"],
)
def test_a_port_that_does_not_answer_a_model_list_is_not_found(stand_in, answer):
    server = stand_in(*CHAT_MODELS)
    server.models_raw = answer
    assert probe(LocalPort("llamacpp", port_of(server))) is None
    assert model_gets(server) == 1


def test_a_server_listing_only_embedding_models_is_not_found(stand_in):
    server = stand_in("nomic-embed-text:latest", "bge-m3:latest", "mxbai-embed-large:latest")
    assert probe(LocalPort("ollama", port_of(server))) is None


def test_a_proxy_in_the_environment_is_never_used(stand_in, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server = stand_in(*CHAT_MODELS)
    assert probe(LocalPort("ollama", port_of(server))) is not None


def test_all_ports_are_asked_and_the_found_come_in_the_settings_order(stand_in):
    first, embeddings, second = stand_in("phi4:latest"), stand_in("nomic-embed-text"), stand_in(*CHAT_MODELS)
    ports = (
        LocalPort("lmstudio", port_of(second)),
        LocalPort("ollama", closed_port()),
        LocalPort("vllm", port_of(embeddings)),
        LocalPort("llamacpp", port_of(first)),
    )
    found = probe_all(ports)
    assert [(server.preset, server.port) for server in found] == [
        ("lmstudio", port_of(second)),
        ("llamacpp", port_of(first)),
    ]
    assert [model_gets(server) for server in (first, embeddings, second)] == [1, 1, 1]


def test_a_port_that_holds_the_request_counts_as_nothing_there(stand_in):
    slow, quick = stand_in(*CHAT_MODELS), stand_in(*CHAT_MODELS)
    held = Held({"data": [{"id": "late"}]})
    slow.route("/v1/models", held)
    try:
        found = probe_all((LocalPort("ollama", port_of(slow)), LocalPort("vllm", port_of(quick))), timeout=0.2)
    finally:
        held.release.set()
    assert [server.port for server in found] == [port_of(quick)]


def trickle() -> Iterable[bytes]:
    """A model list one byte at a time, each well within a read's timeout, never finished."""
    yield b'{"object": "list", "data": [{"id": "llama3.2:latest"}'
    while True:
        time.sleep(0.02)
        yield b" "


def endless() -> Iterable[bytes]:
    """A model list that never ends, as fast as the client takes it."""
    yield b'{"object": "list", "data": ['
    while True:
        yield b'{"id": "llama3.2:latest"}, ' * 1000


def probe_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("local-servers-probe")}


@pytest.mark.parametrize("body", [trickle, endless], ids=["trickle", "endless"])
def test_a_port_that_never_finishes_its_answer_is_not_found_and_its_probe_ends(stand_in, body):
    """Each read arrives in time, but the whole answer never does: the probe gives up (deadline, size cap), and
    the look reports done only once its probe threads have ended, so none outlives it."""
    server, quick = stand_in(*CHAT_MODELS), stand_in("gemma3:4b")
    server.models_pieces = body
    before = probe_threads()
    detector = Detector((LocalPort("ollama", port_of(server)), LocalPort("vllm", port_of(quick))), timeout=0.2)
    detector.refresh(max_age=60)
    assert finished(detector).found == (FoundServer("vllm", port_of(quick), ("gemma3:4b",)),)
    assert model_gets(server) == 1
    assert probe_threads() - before == set()


def test_a_model_list_over_the_size_cap_is_not_found(stand_in):
    server = stand_in(*CHAT_MODELS)
    padding = " " * MAX_MODELS_BYTES
    server.models_raw = (200, "application/json", f'{{"data": [{{"id": "llama3.2"}}]}}{padding}'.encode())
    assert probe(LocalPort("ollama", port_of(server))) is None
    server.models_raw = (200, "application/json", b'{"data": [{"id": "llama3.2"}]}' + b" " * 1000)
    assert probe(LocalPort("ollama", port_of(server))) == FoundServer("ollama", port_of(server), ("llama3.2",))


# --- the detector --------------------------------------------------------------------------------


def test_a_slow_port_does_not_delay_the_snapshot(stand_in):
    slow, quick = stand_in(*CHAT_MODELS), stand_in("gemma3:4b")
    held = Held({"object": "list", "data": [{"id": "slow-model"}]})
    slow.route("/v1/models", held)
    detector = Detector((LocalPort("ollama", port_of(slow)), LocalPort("vllm", port_of(quick))), timeout=30)
    assert detector.snapshot() == Snapshot(pending=True)  # nothing asked yet
    detector.refresh(max_age=60)
    try:
        assert held.entered.wait(30)
        assert detector.snapshot() == Snapshot(pending=True)  # the slow server holds its request: nobody waits
    finally:
        held.release.set()
    snapshot = finished(detector)
    assert snapshot.found == (
        FoundServer("ollama", port_of(slow), ("slow-model",)),
        FoundServer("vllm", port_of(quick), ("gemma3:4b",)),
    )
    assert snapshot.first() == snapshot.found[0]
    assert snapshot.first(not_port=port_of(slow)) == snapshot.found[1]  # never the app's own demo server's port


def test_refresh_looks_again_only_when_the_last_look_is_old_and_keeps_its_result_meanwhile(stand_in):
    server = stand_in("nomic-embed-text:latest")  # only embeddings: nothing to chat with yet
    detector = Detector((LocalPort("ollama", port_of(server)),), timeout=30)
    detector.refresh(max_age=3600)
    assert finished(detector) == Snapshot(pending=False, found=())
    detector.refresh(max_age=3600)  # the last look is recent: no other
    assert model_gets(server) == 1

    held = Held({"data": [{"id": "nomic-embed-text:latest"}, {"id": "llama3.2:latest"}]})
    server.route("/v1/models", held)  # a chat model pulled since: found by the next look
    detector.refresh(max_age=0)
    try:
        assert held.entered.wait(30)
        detector.refresh(max_age=0)  # one look at a time
        assert detector.snapshot() == Snapshot(pending=False, found=())  # the last result, while looking again
    finally:
        held.release.set()
    end = time.monotonic() + 30
    while not (snapshot := detector.snapshot()).found and time.monotonic() < end:
        time.sleep(0.01)
    assert snapshot == Snapshot(False, (FoundServer("ollama", port_of(server), ("llama3.2:latest",)),))
    assert model_gets(server) == 2


def test_the_detector_says_which_urls_it_asks_and_they_are_all_on_127_0_0_1(stand_in, caplog):
    server = stand_in(*CHAT_MODELS)
    other = closed_port()
    detector = Detector((LocalPort("ollama", port_of(server)), LocalPort("lmstudio", other)))
    with caplog.at_level(logging.INFO, logger="local_servers"):
        detector.refresh(max_age=60)
        finished(detector)
    (line,) = [record.getMessage() for record in caplog.records if record.name == "local_servers"]
    assert line == (
        f"looking for local servers on http://127.0.0.1:{port_of(server)}/v1/models, http://127.0.0.1:{other}/v1/models"
    )


def test_with_no_ports_the_look_ends_at_once_with_nothing():
    detector = Detector(())
    detector.refresh(max_age=60)
    assert finished(detector) == Snapshot(pending=False, found=())
