"""What went wrong, as data: every failure of a call becomes an ``ErrorInfo`` with a kind.

The kind picks the words the user sees (i18n.py holds them, zh and en: what happened, the likely
cause, what to do); the raw detail, with keys redacted, stays one click away.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai

from config import redact
from retry_policy import retry_after_seconds

ERROR_KINDS = (
    "auth",
    "permission",
    "not_found",
    "bad_request",
    "context_length",
    "quota",
    "rate_limit",
    "conflict",
    "server",
    "connection",
    "timeout",
    "stream_cut",
    "stalled",
    "tool_rounds",
    "unknown",
)


@dataclass(frozen=True)
class ErrorInfo:
    kind: str
    detail: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None


def _error_code(error: openai.APIStatusError) -> str | None:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
    return getattr(error, "code", None)


def _status_kind(status: int, code: str | None, text: str) -> str:
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 429:
        return "quota" if code == "insufficient_quota" else "rate_limit"
    if status in (408,):
        return "timeout"
    if status == 409:
        return "conflict"
    if status >= 500:
        return "server"
    if code == "context_length_exceeded" or "context length" in text or "maximum context" in text:
        return "context_length"
    return "bad_request"


def classify(error: BaseException, secret: str | None = None) -> ErrorInfo:
    """Map an SDK (or transport) exception to an ErrorInfo, with keys scrubbed from its text."""
    detail = redact(f"{type(error).__name__}: {error}", secret)
    if isinstance(error, openai.APITimeoutError):
        return ErrorInfo("timeout", detail)
    if isinstance(error, openai.APIConnectionError):
        return ErrorInfo("connection", detail)
    if isinstance(error, openai.APIStatusError):
        code = _error_code(error)
        kind = _status_kind(error.status_code, code, str(error).lower())
        wait = retry_after_seconds(dict(error.response.headers))
        return ErrorInfo(kind, detail, status=error.status_code, code=code, retry_after=wait)
    return ErrorInfo("unknown", detail)
