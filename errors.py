"""What went wrong, as data: every failure of a call becomes an ``ErrorInfo`` with a kind.

The kind picks the words the user sees (i18n.py holds them, zh and en); the raw detail, with
keys redacted, stays one click away.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai

from config import redact

# kind -> is it worth trying again later (shown to the user as advice, not retried here)
ERROR_KINDS: dict[str, bool] = {
    "auth": False,
    "permission": False,
    "not_found": False,
    "bad_request": False,
    "context_length": False,
    "quota": False,
    "rate_limit": True,
    "server": True,
    "connection": True,
    "timeout": True,
    "stream_cut": True,
    "tool_rounds": False,
    "unknown": True,
}


@dataclass(frozen=True)
class ErrorInfo:
    kind: str
    detail: str
    status: int | None = None
    code: str | None = None

    @property
    def retryable(self) -> bool:
        return ERROR_KINDS.get(self.kind, True)


def _error_code(error: openai.APIStatusError) -> str | None:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
    return getattr(error, "code", None)


def classify(error: BaseException, secret: object = None) -> ErrorInfo:
    """Map an SDK (or transport) exception to an ErrorInfo, with keys scrubbed from its text."""
    detail = redact(f"{type(error).__name__}: {error}", secret if isinstance(secret, str) else None)
    if isinstance(error, openai.APITimeoutError):
        return ErrorInfo("timeout", detail)
    if isinstance(error, openai.APIConnectionError):
        return ErrorInfo("connection", detail)
    if isinstance(error, openai.APIStatusError):
        status, code = error.status_code, _error_code(error)
        text = str(error).lower()
        if status == 401:
            kind = "auth"
        elif status == 403:
            kind = "permission"
        elif status == 404:
            kind = "not_found"
        elif status == 429:
            kind = "quota" if code == "insufficient_quota" else "rate_limit"
        elif status >= 500:
            kind = "server"
        elif code == "context_length_exceeded" or "context length" in text or "maximum context" in text:
            kind = "context_length"
        else:
            kind = "bad_request"
        return ErrorInfo(kind, detail, status=status, code=code)
    return ErrorInfo("unknown", detail)
