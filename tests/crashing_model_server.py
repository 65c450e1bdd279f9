"""Stands in for a llama.cpp server built for another CPU: it takes the socket and key the way
local_server_process does, lists its model, and dies of SIGILL on the first generation (as an AMX
or AVX-512 instruction on a CPU without it does). Used to test LocalModelServer's lifecycle."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from local_server_process import KEY_VARIABLE  # noqa: E402


def main() -> None:
    fd, model = int(sys.argv[1]), json.loads(sys.argv[2])
    key = os.environ.pop(KEY_VARIABLE)

    class Handler(BaseHTTPRequestHandler):
        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {key}":
                return True
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            body = json.dumps({"object": "list", "data": [{"id": model["model_alias"], "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if not self._authorized():
                return
            print("ggml: about to run a tile instruction", flush=True)
            os.kill(os.getpid(), signal.SIGILL)

    server = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)
    print(f"listening on {server.socket.getsockname()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
