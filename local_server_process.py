"""The local model server's own process: llama.cpp's OpenAI-compatible app, served by uvicorn.

Started by local_backend with a listening socket it already bound on 127.0.0.1 (so no other process
can take the port between choosing and using it) and an API key in the environment (never on the
command line, which any local user can read). Only this process imports llama_cpp's server.
"""

from __future__ import annotations

import json
import os
import socket
import sys

KEY_VARIABLE = "AI_CHAT_APP_LOCAL_SERVER_KEY"


def main(argv: list[str]) -> None:
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    fd, model = int(argv[1]), json.loads(argv[2])
    key = os.environ.pop(KEY_VARIABLE)
    listener = socket.socket(fileno=fd)
    host, port = listener.getsockname()[:2]
    app = create_app(
        server_settings=ServerSettings(host=host, port=port, api_key=key),
        model_settings=[ModelSettings(**model)],
    )
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv)
