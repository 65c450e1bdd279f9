"""What went wrong, as data: every failure of a call becomes an ``ErrorInfo`` with a kind.

The kind picks the words the user sees (i18n.py holds them, zh and en: what happened, the likely
cause, what to do); the raw detail, with keys redacted, stays one click away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

import httpx2
import openai

from chat_params import PANEL_PARAMETERS
from config import redact
from retry_policy import retry_after_seconds

ErrorKind = Literal[
    "auth",
    "permission",
    "not_found",
    "bad_request",
    "bad_parameter",
    "image_refused",
    "audio_too_large",
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
    "bad_response",
    "reply_limit",
    "local_crashed",
    "unknown",
]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)


@dataclass(frozen=True)
class ErrorInfo:
    kind: ErrorKind
    detail: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None
    param: str | None = None  # the request parameter a provider refused ("bad_parameter")


def _error_body(error: openai.APIStatusError) -> dict[str, object]:
    """The provider's error object: under "error" or not, alone or first in a list (Gemini)."""
    body = error.body
    if isinstance(body, list) and body:
        body = body[0]
    inner = body.get("error", body) if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


def _error_code(error: openai.APIStatusError) -> str | None:
    inner = _error_body(error)
    if inner.get("code"):
        return str(inner["code"])
    return getattr(error, "code", None)


def _status_kind(status: int, code: str | None, text: str) -> ErrorKind:
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


# How providers name a request field they refuse, the name first: OpenAI and Azure ("Unsupported parameter",
# "Unsupported value", older "Unrecognized request argument"), Groq ("property 'x' is unsupported"), Moonshot
# ("invalid temperature: ..."), vLLM and other pydantic servers (an error list with "loc": ("body", "x"), or its
# text form "x\n  Extra inputs are not permitted"), servers in Rust (serde's "unknown field `x`").
_REFUSED = tuple(
    re.compile(pattern)
    for pattern in (
        r"Unsupported (?:parameter|value): '(\w+)'",
        r"Unrecognized request argument supplied: (\w+)",
        r"property '(\w+)' is unsupported",
        r"\binvalid (\w+): ",
        r"""['"]loc['"]:\s*[\[(]\s*['"]body['"],\s*['"](\w+)['"]""",
        r"(?m)^(\w+)\S*\n\s+Extra inputs are not permitted",
        r"unknown field `?(\w+)`?",
    )
)
_REFUSAL_STATUSES = (None, 400, 422)  # what a refused parameter comes back as (None: an error inside a reply)

# How a model that reads no images refuses one: OpenAI and Azure (400), DeepSeek (serde, in three wordings over
# time, 400 or 422), llama.cpp's server without a projector (500), vLLM (400). A 500 among them is not retried.
_IMAGE_REFUSALS = re.compile(
    r"image_url is only supported by certain models|unknown variant `image_url`"
    r"|invalid type: sequence, expected a string|untagged enum ChatCompletionRequestContent"
    r"|image input is not supported|is not a multimodal model",
    re.IGNORECASE,
)
_IMAGE_REFUSAL_KINDS = ("bad_request", "server")


def _image_refused(kind: ErrorKind, text: str) -> bool:
    return kind in _IMAGE_REFUSAL_KINDS and _IMAGE_REFUSALS.search(text) is not None


def refused_parameter(text: str, named: object = None) -> str | None:
    """The parameter a refusal names (``named``: the error's own ``param`` field, OpenAI's), when it is one the
    parameters panel sets; None for any other field (``messages``, ``tools``) or none at all."""
    candidates = [named] + [match.group(1) for pattern in _REFUSED for match in pattern.finditer(text)]
    for candidate in candidates:
        if isinstance(candidate, str) and (name := re.split(r"[.\[]", candidate)[0]) in PANEL_PARAMETERS:
            return name
    return None


def classify(error: BaseException, secret: str | None = None) -> ErrorInfo:
    """Map an SDK (or transport) exception to an ErrorInfo, with keys scrubbed from its text."""
    detail = redact(f"{type(error).__name__}: {error}", secret)
    if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
        return ErrorInfo("timeout", detail)
    if isinstance(error, openai.APIConnectionError | httpx2.RequestError):  # raw reads raise the transport's own
        return ErrorInfo("connection", detail)
    if isinstance(error, openai.APIStatusError):
        body = _error_body(error)
        message = body.get("message") if body else error.body  # a body that is not JSON: its text
        if isinstance(message, str) and message not in detail:  # the SDK keeps only "Error code: 400" of a list
            detail += f" - {redact(message, secret)}"
        code = _error_code(error)
        kind = _status_kind(error.status_code, code, detail.lower())
        kind = "image_refused" if _image_refused(kind, detail) else kind
        wait = retry_after_seconds(dict(error.response.headers))
        param = refused_parameter(f"{message}\n{detail}", body.get("param")) if kind == "bad_request" else None
        if param is not None:
            kind = "bad_parameter"
        return ErrorInfo(kind, detail, status=error.status_code, code=code, retry_after=wait, param=param)
    return ErrorInfo("unknown", detail)


@dataclass(frozen=True)
class Problem:
    """An error a provider sent inside a reply, as found there (stream_assembly reads every shape of it)."""

    message: str
    status: int | None = None
    code: str | None = None
    unreadable: bool = False  # no provider's error: a reply that is not OpenAI-compatible at all
    param: str | None = None  # the request field the error names (OpenAI's ``param``)


def from_provider(problem: Problem, secret: str | None = None) -> ErrorInfo:
    """An error a provider sent inside a reply (HTTP 200 body or mid-stream), with its own message."""
    message = redact(problem.message, secret)
    if problem.unreadable:
        return ErrorInfo("bad_response", message)
    detail = f"{problem.code}: {message}" if problem.code and problem.code not in message else message
    if problem.status is not None:
        kind = _status_kind(problem.status, problem.code, message.lower())
    else:
        kind = _kind_from_words(f"{problem.code or ''} {message}".lower())
    if _image_refused(kind, message):
        return ErrorInfo("image_refused", detail, status=problem.status, code=problem.code)
    param = refused_parameter(message, problem.param)
    if param is not None and problem.status in _REFUSAL_STATUSES and kind in ("bad_request", "server"):
        return ErrorInfo("bad_parameter", detail, status=problem.status, code=problem.code, param=param)
    return ErrorInfo(kind, detail, status=problem.status, code=problem.code)


_WORDS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    ("context_length", ("context_length", "context length", "maximum context")),
    ("quota", ("insufficient_quota", "quota")),
    ("rate_limit", ("rate_limit", "rate limit", "too many requests")),
    ("auth", ("invalid_api_key", "unauthenticated", "authentication")),
    ("permission", ("permission",)),
    ("not_found", ("not_found", "not found", "does not exist")),
    ("bad_request", ("invalid_request", "bad_request", "invalid_argument", "invalid argument", "validation")),
)


def _kind_from_words(text: str) -> ErrorKind:
    """A kind for an error without a status, from its code and words; otherwise the provider failed."""
    return next((kind for kind, words in _WORDS if any(word in text for word in words)), "server")
