"""A scripted OpenAI-compatible server on 127.0.0.1: the only fake in the test suite.

Tests queue ``Reply`` scripts; each POST /v1/chat/completions takes the next one. With none queued it
answers HTTP 500 "nothing queued" and records the request in ``unexpected``; the ``server`` fixture fails
a test that made such a request or left replies unused (``problems``). It speaks real HTTP/1.1 with
chunked SSE, so the app's real openai client parses it as it would a provider's stream. Every request
is recorded.

Other HTTP services a tool calls (geocoding, weather) are ``route``s: GET on a path answers the JSON its
function returns for the query string.

POST /v1/audio/transcriptions (multipart) takes the next queued reply too and answers {"text": reply.text}, with
the gpt-4o transcribe models' token usage when the reply has usage (or its error, or its raw body); its recorded body
is the form: each field's text, a file as {"filename", "bytes"}.

POST /v1/moderations takes the next queued ``Moderated`` (``server.moderate(...)``): the categories it flags with their
scores, or a status (404: a provider without the endpoint). With none queued it answers 500 and counts as unexpected.

Raw mode (``Reply(raw=...)``) replays given bytes verbatim (a provider's recorded stream), in
network writes of ``raw_write`` bytes and optionally gzip-encoded; ``check`` lets a reply reject
a request the way a provider would (HTTP 400 with the provider's message).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOTHING_QUEUED = "scripted server: nothing queued for this request (queue a Reply with server.expect)"
TRANSCRIPTIONS = "/audio/transcriptions"
MODERATIONS = "/moderations"
# OpenAI's omni-moderation categories: a scripted answer scores each one it does not flag this low.
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
Route = Callable[[dict[str, list[str]]], Any]  # the query string's values by name -> the JSON answer


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    reasoning: str = ""
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = None  # (prompt, completion); None: computed from sizes
    cached_tokens: int = 0
    send_usage: bool = True  # a provider that ignores stream_options.include_usage sends none
    cut_after: int | None = None  # close the connection after this many content chunks
    stall_after: int | None = None  # go silent for stall_seconds after this many content chunks
    stall_seconds: float = 0.0
    chunk_delay: float = 0.0
    tokens_per_second: float = 0.0  # content chunk i goes out at start + i / rate (no drift from sleeping); 0: at once
    chunk_size: int = 0  # characters per content chunk; 0: one word per chunk
    finish_reason: str | None = None
    raw_events: list[str] = field(default_factory=list)  # sent as they are after the text: malformed chunks
    raw: bytes | None = None  # the whole body, replayed byte for byte (with ``status``)
    raw_write: int = 0  # bytes per network write of a raw body (splits lines and UTF-8 characters); 0: one write
    raw_gzip: bool = False  # send the raw body gzip-encoded (Content-Encoding: gzip)
    content_type: str = "text/event-stream"  # of a raw body
    check: Callable[[dict[str, Any]], str | None] | None = None  # a message rejects the request with a 400
    answers: str | None = None  # only for the request whose last user message is this (sessions side by side)
    when: Callable[[dict[str, Any]], bool] | None = None  # only for a request this accepts (compare's variants)

    @classmethod
    def fail(cls, status: int, message: str, code: str | None = None, **headers: str) -> Reply:
        error = {"message": message, "type": "invalid_request_error", "code": code}
        return cls(status=status, error={"error": error}, headers=headers)

    def summary(self) -> str:
        """A few words that tell this reply apart in a failure message."""
        if self.raw is not None:
            return f"raw {self.raw[:40]!r}"
        if self.status != 200:
            return f"HTTP {self.status}"
        calls = ", ".join(name for name, _ in self.tool_calls)
        return f"{self.text[:40]!r}" + (f" + tool calls {calls}" if calls else "")


@dataclass
class Moderated:
    """One scripted answer of POST /moderations: the categories flagged, with their scores (none: clean); a status
    other than 200 answers that error (404, 405, 501: a provider without the endpoint); ``usage``: prompt tokens
    reported (OpenAI reports none)."""

    flagged: dict[str, float] = field(default_factory=dict)
    status: int = 200
    usage: int | None = None

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        scores = {name: self.flagged.get(name, 0.01) for name in (*MODERATION_CATEGORIES, *self.flagged)}
        result = {
            "flagged": bool(self.flagged),
            "categories": {name: name in self.flagged for name in scores},
            "category_scores": scores,
        }
        answer = {"id": "modr-scripted", "model": body.get("model", "omni-moderation-latest"), "results": [result]}
        if self.usage is not None:
            answer["usage"] = {"prompt_tokens": self.usage, "completion_tokens": 0, "total_tokens": self.usage}
        return answer


class Held:
    """A route that holds each request until ``release`` is set (30 s at most), then answers ``answer``: a slow
    server. ``entered`` is set once a request is being held."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, query: dict[str, list[str]]) -> Any:
        self.entered.set()
        self.release.wait(30)
        return self.answer


def _pieces(text: str, size: int) -> list[str]:
    if size > 0:
        return [text[i : i + size] for i in range(0, len(text), size)]
    words, current = [], ""
    for char in text:
        current += char
        if char == " ":
            words.append(current)
            current = ""
    return words + ([current] if current else [])


def _form(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body: each field's text, a file as {"filename", "bytes"}."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        name, filename = part.get_param("name", header="content-disposition"), part.get_filename()
        fields[str(name)] = {"filename": filename, "bytes": payload} if filename else payload.decode()
    return fields


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer
    record: dict[str, Any] | None = None  # this request's entry in ``server.requests``: what was sent is added

    def _sent(self, data: bytes, at: float) -> None:
        """``at``: time.time() taken just before the write, so no reader can have the bytes before it."""
        if self.record is not None:
            self.record["sent"].append(data)
            self.record["sent_at"].append(at)

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        at = time.time()
        self.wfile.write(data)
        self._sent(data, at)

    def _raw(self, status: int, content_type: str, data: bytes, write: int, gzipped: bool) -> None:
        """Bytes as recorded, chunked over real HTTP."""
        if gzipped:
            self._sent(data, time.time())
            data = gzip.compress(data)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        size = write or len(data) or 1
        try:
            for start in range(0, len(data), size):
                piece, at = data[start : start + size], time.time()
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
                if not gzipped:
                    self._sent(piece, at)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up += 1

    def do_GET(self) -> None:
        self.record = None  # a kept-alive connection's earlier POST must not take this answer as its own
        self.server.requests.append(
            {"method": "GET", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        )
        url = urlsplit(self.path)
        route = self.server.routes.get(url.path)
        if route is not None:
            self._json(200, route(parse_qs(url.query)))
        elif self.path.rstrip("/").endswith("/models") and self.server.models_pieces is not None:
            self._chunks(self.server.models_pieces())
        elif self.path.rstrip("/").endswith("/models") and self.server.models_raw is not None:
            status, content_type, data = self.server.models_raw
            self._raw(status, content_type, data, 0, False)
        elif self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in self.server.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _chunks(self, pieces: Iterable[bytes]) -> None:
        """A 200 JSON body written piece by piece, as the pieces come (a trickle, an endless body), until the
        client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for piece in pieces:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up += 1

    def do_POST(self) -> None:
        received = time.monotonic()
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        form = TRANSCRIPTIONS in self.path
        body = _form(self.headers.get("Content-Type", ""), raw) if form else json.loads(raw or b"{}")
        self.record = {
            "method": "POST",
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
            "raw": raw,  # the request body byte for byte
            "sent": [],  # the response body as written, one entry per write (gzip: before compression)
            "sent_at": [],  # time.time() (wall clock, comparable with a browser's on this machine) of each write
            "received": received,  # time.monotonic() when the request came in, and when its answer was done
            "finished": None,
        }
        self.server.requests.append(self.record)
        try:
            self._answer(body)
        finally:
            self.record["finished"] = time.monotonic()

    def _moderate(self, body: dict[str, Any]) -> None:
        with self.server._lock:
            scripted = self.server.moderations.popleft() if self.server.moderations else None
            if scripted is None:
                self.server.unexpected.append(body)
        if scripted is None:
            self._json(500, {"error": {"message": NOTHING_QUEUED, "type": "server_error", "code": None}})
        elif scripted.status != 200:
            self._json(scripted.status, {"error": {"message": "not found", "type": "invalid_request_error"}})
        else:
            self._json(200, scripted.answer(body))

    def _answer(self, body: dict[str, Any]) -> None:
        if self.path.rstrip("/").endswith(MODERATIONS):
            self._moderate(body)
            return
        reply = self.server.next_reply(body)
        if reply is None:
            self._json(500, {"error": {"message": NOTHING_QUEUED, "type": "server_error", "code": None}})
            return
        problem = reply.check(body) if reply.check else None
        if problem is not None:
            kind = "invalid_request_error"
            self._json(400, {"error": {"message": problem, "type": kind, "param": None, "code": kind}})
            return
        if reply.raw is not None:
            self._raw(reply.status, reply.content_type, reply.raw, reply.raw_write, reply.raw_gzip)
            return
        if reply.status != 200:
            self._json(reply.status, reply.error or {"error": {"message": "error"}}, reply.headers)
            return
        if TRANSCRIPTIONS in self.path:
            self._json(200, {"text": reply.text} | self._heard(reply))
        elif body.get("stream"):
            self._stream(body, reply)
        else:
            self._complete(body, reply)

    @staticmethod
    def _heard(reply: Reply) -> dict[str, Any]:
        """A transcript's usage as the gpt-4o transcribe models send it, when the reply has one."""
        if reply.usage is None:
            return {}
        heard, written = reply.usage
        details = {"text_tokens": 0, "audio_tokens": heard}
        usage = {"input_tokens": heard, "input_token_details": details, "output_tokens": written}
        return {"usage": {"type": "tokens", **usage, "total_tokens": heard + written}}

    def _usage(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt, completion = reply.usage or (
            len(json.dumps(body.get("messages", []))) // 4,
            max(len(reply.text) // 4, 1),
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        }

    def _finish(self, reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _complete(self, body: dict[str, Any], reply: Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(reply.tool_calls)
            ]
        payload = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(reply)}],
            "usage": self._usage(body, reply),
        }
        self._json(200, payload)

    def _send_chunk(self, data: str) -> None:
        raw, at = data.encode(), time.time()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()
        self._sent(raw, at)

    def _event(self, body: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
        chunk = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        self._send_chunk(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n")

    def _stream(self, body: dict[str, Any], reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in reply.headers.items():  # e.g. a provider's x-ratelimit-* on a good answer
            self.send_header(key, value)
        self.end_headers()
        try:
            self._event(body, {"role": "assistant", "content": ""})
            for piece in _pieces(reply.reasoning, reply.chunk_size):
                self._event(body, {"reasoning_content": piece})
            start = time.monotonic()
            for sent, piece in enumerate(_pieces(reply.text, reply.chunk_size)):
                if reply.tokens_per_second:
                    time.sleep(max(0.0, start + sent / reply.tokens_per_second - time.monotonic()))
                if reply.stall_after is not None and sent == reply.stall_after:
                    time.sleep(reply.stall_seconds)
                if reply.cut_after is not None and sent >= reply.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                self._event(body, {"content": piece})
            for raw in reply.raw_events:
                self._send_chunk(f"data: {raw}\n\n")
            for index, (name, arguments) in enumerate(reply.tool_calls):
                first = {
                    "index": index,
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                self._event(body, {"tool_calls": [first]})
                for fragment in _pieces(arguments, 7):
                    self._event(body, {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            self._event(body, {}, self._finish(reply))
            if reply.send_usage and body.get("stream_options", {}).get("include_usage"):
                chunk = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [],
                    "usage": self._usage(body, reply),
                }
                self._send_chunk(f"data: {json.dumps(chunk)}\n\n")
            self._send_chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up += 1  # the client closed the stream (the app's stop)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[Reply] = deque()
        self.moderations: deque[Moderated] = deque()  # POST /moderations takes the next one
        self.requests: list[dict[str, Any]] = []
        self.models: list[str] = ["gpt-4o-mini", "gpt-4o", "deepseek-chat"]
        self.hung_up = 0
        self.unexpected: list[dict[str, Any]] = []  # request bodies that found no reply queued
        self.routes: dict[str, Route] = {}
        self.models_raw: tuple[int, str, bytes] | None = None  # GET /models answered as given (status, type, body)
        self.models_pieces: Callable[[], Iterable[bytes]] | None = None  # GET /models: each call's pieces, chunked
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (the app's stop button, a cut test) is not a server fault

    @property
    def base_url(self) -> str:
        return self.url("/v1")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def expect(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.moderations.clear()
            self.requests.clear()
            self.hung_up = 0
            self.unexpected.clear()
            self.routes.clear()
            self.models_raw = None
            self.models_pieces = None

    def moderate(self, *answers: Moderated) -> None:
        """Queue answers for POST /moderations, one per request."""
        with self._lock:
            self.moderations.extend(answers)

    def chat_requests(self) -> list[dict[str, Any]]:
        others = (TRANSCRIPTIONS, MODERATIONS)
        return [r["body"] for r in self.requests if r["method"] == "POST" and not any(p in r["path"] for p in others)]

    def moderation_requests(self) -> list[dict[str, Any]]:
        """The bodies POSTed to /moderations ({"model", "input"})."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and MODERATIONS in r["path"]]

    def transcription_requests(self) -> list[dict[str, Any]]:
        """The forms POSTed to /audio/transcriptions."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and TRANSCRIPTIONS in r["path"]]

    def route(self, path: str, answer: Route) -> None:
        """GET ``path`` (any query string) answers ``answer(query)`` as JSON: a tool's web service."""
        self.routes[path] = answer

    def next_reply(self, body: dict[str, Any]) -> Reply | None:
        """The first queued reply meant for this request: its ``answers`` (if set) is the last user message and
        its ``when`` (if set) accepts the body."""
        users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1] if users else None
        with self._lock:
            for reply in self.script:
                if (reply.answers is None or reply.answers == last) and (reply.when is None or reply.when(body)):
                    self.script.remove(reply)
                    return reply
            self.unexpected.append(body)
            return None

    def problems(self) -> list[str]:
        """What makes a test that used this server wrong: replies it queued but never used, requests it
        did not expect."""
        with self._lock:
            left = [reply.summary() for reply in self.script]
            left += [f"moderation {answer.flagged or answer.status}" for answer in self.moderations]
            found = [f"{len(left)} queued replies were never requested: {', '.join(left)}"] if left else []
            found += [f"a request found nothing queued: {body.get('messages', [])!r:.300}" for body in self.unexpected]
        return found


if __name__ == "__main__":
    server = ScriptedServer().start()
    print(server.base_url, flush=True)
    threading.Event().wait()
