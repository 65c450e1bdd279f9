"""Speed figures for the hot paths, each as a ratio against a baseline measured in the same run.

  .venv/bin/python bench/bench_core.py

1. Streaming: our event layer (LLMClient.stream_round, with the SDK's stream-state assembly) against
   iterating the raw SDK stream, on one 8,000-chunk reply from the local scripted server.
2. Request building: build_request on a 1,000-message conversation (whole turns, trimming) against
   one plain count_messages over the same messages.
3. Page runs: one AppTest run of the app on that conversation showing the latest ~30 messages against
   the same run showing all 1,000 (the cost the "show earlier" control avoids).
4. All-time totals over 20,000 stored messages: the SUM over usage columns (store.totals) against
   parsing every message's JSON, as the store did before migration 4.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import openai  # noqa: E402

from conversation_manager import Conversation, RequestSpec, TurnRecorder, build_request, history_messages  # noqa: E402
from events import Finished, TextDelta, UsageReported  # noqa: E402
from llm_client import ChatParams, LLMClient, build_body  # noqa: E402
from scripted_server import Reply, ScriptedServer  # noqa: E402
from token_tracker import Cost, PriceBook, Totals, Usage, count_messages  # noqa: E402

CHUNKS = 8_000
REPEATS = 3


def best_of(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_stream(server: ScriptedServer) -> tuple[float, float]:
    text = "tok " * CHUNKS
    body = build_body([{"role": "user", "content": "go"}], ChatParams("gpt-4o-mini"), [])

    def raw() -> None:
        server.expect(Reply(text=text))
        client = openai.OpenAI(api_key="bench", base_url=server.base_url, max_retries=0)
        with client.chat.completions.create(**body) as stream:
            for _ in stream:
                pass

    def ours() -> None:
        server.expect(Reply(text=text))
        client = LLMClient("bench", server.base_url)
        for _ in client.stream_round(body):
            pass

    return best_of(raw), best_of(ours)


def sample_conversation(messages: int) -> Conversation:
    conversation = Conversation()
    book = PriceBook(7.0)
    while len(conversation.messages) < messages:
        index = len(conversation.messages)
        conversation.add_user(f"question {index}: " + "words about streaming and tokens " * 8)
        recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", book)
        recorder.apply(TextDelta(f"answer {index}: " + "a reply with several sentences. " * 12))
        recorder.apply(UsageReported(Usage(120 + index, 80), "gpt-4o-mini"))
        recorder.apply(Finished("stop"))
    return conversation


def bench_request(conversation: Conversation) -> tuple[float, float]:
    flat = history_messages(conversation.messages)

    def baseline() -> None:
        count_messages(flat, "gpt-4")

    def ours() -> None:
        build_request(conversation, RequestSpec("standard", "en", [], "gpt-4", 2048))

    return best_of(baseline), best_of(ours)


def bench_page(conversation: Conversation, server: ScriptedServer) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    from store import Store

    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            DATA_DIR=data_dir, OPENAI_API_KEY="bench", OPENAI_BASE_URL=server.base_url, APP_ENV_FILE="/nonexistent"
        )
        Store(Path(data_dir) / "chats.db").save(conversation)

        def page(show_all: bool) -> float:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.query_params["chat"] = conversation.id
            at.run()
            at.session_state.show_all = show_all
            started = time.perf_counter()
            at.run()
            return time.perf_counter() - started

        recent = min(page(False) for _ in range(REPEATS))
        everything = min(page(True) for _ in range(REPEATS))
    return everything, recent


def bench_totals() -> tuple[float, float]:
    from store import Store

    with tempfile.TemporaryDirectory() as data_dir:
        store = Store(Path(data_dir) / "chats.db")
        for _ in range(20):
            store.save(sample_conversation(1_000))

        def json_scan() -> None:
            with sqlite3.connect(store.path) as db:
                rows = db.execute(
                    "SELECT json_extract(data, '$.usage'), json_extract(data, '$.cost') FROM messages "
                    "WHERE json_extract(data, '$.usage') IS NOT NULL"
                ).fetchall()
            Totals.of((Usage(**json.loads(u)), Cost(**json.loads(c))) for u, c in rows if c)

        return best_of(json_scan), best_of(store.totals)


def main() -> None:
    server = ScriptedServer().start()
    try:
        raw, ours = bench_stream(server)
    finally:
        server.stop()
    print(f"stream {CHUNKS} chunks: raw SDK {raw:.3f} s, typed events {ours:.3f} s, ratio {ours / raw:.2f}x")
    print(f"  throughput: {CHUNKS / ours:,.0f} chunks/s through the event layer")

    conversation = sample_conversation(1_000)
    base, ours = bench_request(conversation)
    print(
        f"request from 1,000 messages: one count_messages {base * 1000:.1f} ms, "
        f"build_request with trimming {ours * 1000:.1f} ms, ratio {ours / base:.2f}x"
    )

    server = ScriptedServer().start()
    try:
        everything, recent = bench_page(conversation, server)
    finally:
        server.stop()
    print(
        f"page run on 1,000 messages: all shown {everything:.2f} s, latest ~30 shown {recent:.2f} s, "
        f"ratio {recent / everything:.2f}x"
    )

    scan, columns = bench_totals()
    print(
        f"all-time totals over 20,000 messages: JSON scan {scan * 1000:.1f} ms, usage columns {columns * 1000:.1f} ms, "
        f"ratio {columns / scan:.2f}x"
    )


if __name__ == "__main__":
    main()
