"""The app's log: stdlib ``logging`` to stderr at LOG_LEVEL, every line scrubbed of keys.

The modules log where things happen (llm_client: requests, retries, fallbacks; function_tools: tool runs;
store: storage errors) and never format a key into a message; this handler redacts once more what would
still reach the terminal (a key-shaped string, a URL's user:password or query, the configured keys), tracebacks
included. ``configure`` runs on every Streamlit rerun: it installs its handler once and updates the rest.
"""

from __future__ import annotations

import logging

from config import Secret, redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then removes the given keys and anything shaped like one."""

    def __init__(self, secrets: tuple[Secret | None, ...] = ()) -> None:
        super().__init__(FORMAT)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), *self.secrets)


class _AppHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a rerun finds it instead of adding another."""


def configure(level: str, *secrets: Secret | None) -> logging.Handler:
    """Log at ``level`` (a LOG_LEVEL choice) to stderr through one redacting handler on the root logger."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _AppHandler)), None)
    if handler is None:
        handler = _AppHandler()
        root.addHandler(handler)
    handler.setFormatter(RedactingFormatter(secrets))
    root.setLevel(level)
    return handler
