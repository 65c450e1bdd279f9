"""Settings from the environment and `.env`, with defaults and validation.

The API key is held in a ``Secret`` whose repr never shows it; ``redact`` scrubs it from any text
that might reach a page, a log or an export.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

APP_DIR = Path(__file__).resolve().parent

Kind = Literal["text", "integer", "number", "choice", "url", "path", "key", "models", "servers"]


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: validation, `.env.example`, the README table and the tests' clean
    environment are all made from (or checked against) ``SETTINGS``."""

    name: str  # the variable in the environment or `.env`
    attribute: str  # its field in Settings
    kind: Kind
    default: str | None  # None: unset unless given
    help: str
    group: str
    low: float | None = None  # bounds of an integer or number, inclusive
    high: float | None = None
    choices: tuple[str, ...] = ()


# The groups of `.env.example`, in order, each with a line or two said above its settings.
GROUPS: dict[str, str] = {
    "Provider": "Which service answers. With neither OPENAI_API_KEY nor OPENAI_BASE_URL a model server running on this "
    "machine does (LOCAL_SERVERS), else the embedded local model.",
    "Generation": "What one reply may do (the sidebar changes temperature and max tokens per chat).",
    "Connection": "Timeouts in seconds; retries and a client-side rate limit per provider (0 = off).",
    "Spending": "Spending limits (0 = off): a warning at 80 %, and at 100 % the app asks before sending.",
    "Safety": "Content safety: each message and reply checked against a word/regex list and, where the provider offers "
    "POST /moderations, its moderation model.",
    "Tools": "The built-in tools, and MCP servers whose tools join them.",
    "App": "Storage, tables that extend the built-in ones, language and logging.",
    "Images": "Images attached to a message (PNG, JPEG, WebP, GIF): checked, scaled as OpenAI does, kept with a chat.",
    "Local model": "The embedded llama.cpp model (used when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set).",
    "Sign-in": "For a team: who signs in and how (AUTH=none is the single-user app: no sign-in, localhost only).",
}

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "OPENAI_API_KEY", "api_key", "key", None, "your provider's key (never shown, logged or exported)", "Provider"
    ),
    Setting(
        "OPENAI_BASE_URL",
        "base_url",
        "url",
        None,
        "an OpenAI-compatible endpoint ending in /v1 (empty: OpenAI)",
        "Provider",
    ),
    Setting("OPENAI_MODEL", "model", "text", "gpt-4o-mini", "the model to chat with", "Provider"),
    Setting(
        "FALLBACK_MODELS",
        "fallbacks",
        "models",
        "",
        "models that answer, in order, when the primary keeps failing: comma-separated model, model@base_url "
        "or model@base_url#NAME_OF_THE_VARIABLE_HOLDING_ITS_KEY, e.g. "
        "gpt-4o, deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY",
        "Provider",
    ),
    Setting(
        "TRANSCRIPTION_MODEL",
        "transcription_model",
        "text",
        "auto",
        "the microphone's speech-to-text model (POST /audio/transcriptions); the microphone shows only where the "
        "provider lists this model; auto: whisper-1, else a listed whisper or transcribe model; off: never",
        "Provider",
    ),
    Setting(
        "LOCAL_SERVERS",
        "local_servers",
        "servers",
        "auto",
        "with neither OPENAI_API_KEY nor OPENAI_BASE_URL, look in the background for OpenAI-compatible servers "
        "running on this machine (GET /v1/models on 127.0.0.1 only) and use the first one found instead of the demo "
        "model; auto: the usual ports of the Ollama, LM Studio, llama.cpp server and vLLM presets; off: never look; "
        "or comma-separated preset:port (no host), e.g. ollama:11434,vllm:8001",
        "Provider",
    ),
    Setting("TEMPERATURE", "temperature", "number", "0.7", "sampling temperature", "Generation", 0, 2),
    Setting("MAX_TOKENS", "max_tokens", "integer", "2048", "most tokens one reply may use", "Generation", 1, 1_000_000),
    Setting("MAX_TOOL_ROUNDS", "max_tool_rounds", "integer", "5", "tool-calling rounds per reply", "Generation", 1, 20),
    Setting(
        "AUTO_CHEAP_MODEL",
        "auto_cheap_model",
        "text",
        "gpt-4o-mini",
        'the model "auto" (in the model picker) sends a message to when no rule below asks for the strong one',
        "Generation",
    ),
    Setting(
        "AUTO_STRONG_MODEL",
        "auto_strong_model",
        "text",
        "gpt-4o",
        'the model "auto" sends a message to when a rule asks for it (the reply shows its cost against this one)',
        "Generation",
    ),
    Setting(
        "AUTO_LONG_CHARS",
        "auto_long_chars",
        "integer",
        "600",
        '"auto" rule: a message at least this many characters long goes to the strong model (0 = rule off)',
        "Generation",
        0,
        1_000_000,
    ),
    Setting(
        "AUTO_CODE",
        "auto_code",
        "choice",
        "on",
        '"auto" rule: a message with code in it (``` or code such as def f(, import x, x => y) goes to the strong '
        "model",
        "Generation",
        choices=("on", "off"),
    ),
    Setting(
        "AUTO_TOOLS",
        "auto_tools",
        "choice",
        "on",
        '"auto" rule: a message that asks for what a switched-on tool does (names its subject, e.g. weather) goes '
        "to the strong model",
        "Generation",
        choices=("on", "off"),
    ),
    Setting(
        "MAX_REPLY_CHARS",
        "max_reply_chars",
        "integer",
        "200000",
        "characters of text and reasoning one reply may stream; beyond it the reply stops, what arrived is kept",
        "Generation",
        1,
        100_000_000,
    ),
    Setting(
        "MAX_REPLY_SECONDS",
        "max_reply_seconds",
        "number",
        "600",
        "seconds one reply may take from its first request; beyond it the reply stops, what arrived is kept",
        "Generation",
        1,
        86_400,
    ),
    Setting(
        "SUMMARIZE_AT",
        "summarize_at",
        "integer",
        "0",
        "summarise older turns (one extra call, its cost booked) when a request fills more than this % of the "
        "context window; 0 = off (older turns are left out instead)",
        "Generation",
        0,
        100,
    ),
    Setting(
        "AUTO_TITLE",
        "auto_title",
        "choice",
        "on",
        "after a chat's first reply, ask the model for a short title (one small call, its cost booked to the chat); "
        "never on the demo model, never over a title you gave",
        "Generation",
        choices=("on", "off"),
    ),
    Setting(
        "REQUEST_TIMEOUT",
        "request_timeout",
        "number",
        "60",
        "seconds to wait for a reply; also how long a stream may go silent before it is cut as stalled",
        "Connection",
        1,
        3600,
    ),
    Setting("CONNECT_TIMEOUT", "connect_timeout", "number", "10", "seconds to connect", "Connection", 0.5, 600),
    Setting(
        "HEALTH_CHECK_MINUTES",
        "health_check_minutes",
        "integer",
        "5",
        "how often GET /models checks each provider and fallback in the background (also when a page opens and the "
        "last check is a minute old); the fallback chain skips one that is down (0 = off)",
        "Connection",
        0,
        1440,
    ),
    Setting(
        "MAX_RETRIES",
        "max_retries",
        "integer",
        "2",
        "retries of connection errors, timeouts, 408/409/429/5xx (never 400/401/403/404 or insufficient_quota), "
        "with exponential backoff and jitter, honouring Retry-After",
        "Connection",
        0,
        10,
    ),
    Setting(
        "RATE_LIMIT_RPM",
        "rate_limit_rpm",
        "integer",
        "0",
        "requests per minute per provider, shared by all browser tabs (0 = off)",
        "Connection",
        0,
        1_000_000,
    ),
    Setting(
        "RATE_LIMIT_TPM",
        "rate_limit_tpm",
        "integer",
        "0",
        "tokens per minute per provider, shared by all browser tabs (0 = off)",
        "Connection",
        0,
        1_000_000_000,
    ),
    Setting(
        "RATE_LIMIT_SHARED",
        "rate_limit_shared",
        "choice",
        "auto",
        "where the rate limit counts: in the database, so every app process on it counts against one limit "
        "(on), or in each process (off); auto: the database when DATABASE_URL is PostgreSQL",
        "Connection",
        choices=("auto", "on", "off"),
    ),
    Setting(
        "BUDGET_CURRENCY",
        "budget_currency",
        "choice",
        "USD",
        "currency of the limits",
        "Spending",
        choices=("USD", "CNY"),
    ),
    Setting("BUDGET_PER_CHAT", "budget_per_chat", "number", "0", "limit per chat (0 = off)", "Spending", 0, 1e9),
    Setting(
        "BUDGET_PER_DAY", "budget_per_day", "number", "0", "limit per day, all chats (0 = off)", "Spending", 0, 1e9
    ),
    Setting(
        "USD_CNY_RATE",
        "usd_cny_rate",
        "number",
        "7.1",
        "CNY per USD, shown beside every CNY figure",
        "Spending",
        0.01,
        1000,
    ),
    Setting(
        "RESPONSE_CACHE",
        "response_cache",
        "choice",
        "off",
        "on: a request identical in everything that changes the answer (model, messages, tools, parameters), at "
        "temperature 0 or when asked for in the sidebar, is answered from the database at no cost; each person has "
        "their own; errors and cut replies are never kept",
        "Spending",
        choices=("off", "on"),
    ),
    Setting(
        "RESPONSE_CACHE_TTL",
        "response_cache_ttl",
        "number",
        "24",
        "hours a cached answer is used",
        "Spending",
        0.01,
        8760,
    ),
    Setting(
        "SAFETY",
        "safety",
        "choice",
        "off",
        "off: nothing is checked; warn: a flagged message is sent with a warning; block: it is kept unsent until "
        '"send anyway" (a flagged reply is marked in both)',
        "Safety",
        choices=("off", "warn", "block"),
    ),
    Setting(
        "SAFETY_WORDS_FILE",
        "safety_words_file",
        "path",
        str(APP_DIR / "safety_words.txt"),
        "words to flag, one per line (# a comment, re: a regular expression; see safety_words.example.txt); "
        "no file, no words",
        "Safety",
    ),
    Setting(
        "SAFETY_MODERATION_MODEL",
        "safety_moderation_model",
        "text",
        "omni-moderation-latest",
        "the model POST /moderations is asked with (a provider without that endpoint gets the list check only)",
        "Safety",
    ),
    Setting("TOOL_TIMEOUT", "tool_timeout", "number", "15", "seconds a tool may run", "Tools", 0.1, 600),
    Setting(
        "WEATHER_API_URL",
        "weather_api_url",
        "url",
        "https://api.open-meteo.com/v1/forecast",
        "the weather tool's forecast service",
        "Tools",
    ),
    Setting(
        "GEOCODING_API_URL",
        "geocoding_api_url",
        "url",
        "https://geocoding-api.open-meteo.com/v1/search",
        "the weather tool's place-name lookup",
        "Tools",
    ),
    Setting(
        "MCP_CONFIG",
        "mcp_config",
        "path",
        str(APP_DIR / "mcp.json"),
        "MCP servers whose tools join the built-ins: mcpServers as Claude Desktop and Cursor write it "
        "(command/args/env for stdio, url/headers for streamable HTTP; see mcp.example.json); no file, no servers",
        "Tools",
    ),
    Setting(
        "KNOWLEDGE_MAX_FILE_MB",
        "knowledge_max_file_mb",
        "integer",
        "10",
        "MB one document for the knowledge base (.txt, .md, .pdf, .docx, or pasted text) may have",
        "Tools",
        1,
        200,
    ),
    Setting(
        "KNOWLEDGE_MAX_PASSAGES",
        "knowledge_max_passages",
        "integer",
        "2000",
        "passages (about 1,000 characters each) one document may be split into; a longer one is refused",
        "Tools",
        1,
        100_000,
    ),
    Setting("DATA_DIR", "data_dir", "path", str(APP_DIR / "data"), "where the SQLite file of chats lives", "App"),
    Setting(
        "DATABASE_URL",
        "database_url",
        "key",
        None,
        "where chats and documents are kept: postgresql://user:password@host:5432/db (a team's shared database; "
        "never shown or logged) or sqlite:///absolute/path.db (empty: chats.db in DATA_DIR)",
        "App",
    ),
    Setting(
        "MODELS_FILE", "models_file", "path", str(APP_DIR / "models.json"), "JSON that adds or reprices models", "App"
    ),
    Setting(
        "TEMPLATES_FILE",
        "templates_file",
        "path",
        str(APP_DIR / "templates.json"),
        "JSON that adds prompt templates",
        "App",
    ),
    Setting(
        "UI_LANGUAGE", "ui_language", "choice", "auto", "auto follows the browser", "App", choices=("auto", "zh", "en")
    ),
    Setting(
        "LOG_LEVEL",
        "log_level",
        "choice",
        "WARNING",
        "what the app logs to stderr: WARNING retries, fallbacks, failing tools and storage errors; INFO adds "
        "each request and tool run; keys never",
        "App",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    Setting(
        "TRACE",
        "trace",
        "choice",
        "on",
        "keep each reply's wire trace (every request's body, status, headers and response lines with their times) "
        "with the chat, to inspect, download and turn into code",
        "App",
        choices=("on", "off"),
    ),
    Setting(
        "TRACE_MAX_KB",
        "trace_max_kb",
        "integer",
        "256",
        "KB of response lines one reply's trace keeps (its first lines; the rest are counted, not kept); "
        "request bodies are kept whole",
        "App",
        1,
        1_000_000,
    ),
    Setting(
        "IMAGE_MAX_MB",
        "image_max_mb",
        "integer",
        "20",
        "MB one attached image file may have before it is scaled down (the browser refuses a larger one)",
        "Images",
        1,
        200,
    ),
    Setting("IMAGE_MAX_COUNT", "image_max_count", "integer", "10", "images one message may carry", "Images", 1, 100),
    Setting(
        "LOCAL_MODEL_PATH",
        "local_model_path",
        "text",
        None,
        "a GGUF file to run instead of the bundled demo model",
        "Local model",
    ),
    Setting(
        "LOCAL_CHAT_FORMAT",
        "local_chat_format",
        "text",
        "chatml-function-calling",
        "llama-cpp-python's chat format for it",
        "Local model",
    ),
    Setting("LOCAL_THREADS", "local_threads", "integer", "1", "CPU threads it may use", "Local model", 1, 64),
    Setting(
        "LOCAL_CONTEXT", "local_context", "integer", "2048", "its context window in tokens", "Local model", 512, 131_072
    ),
    Setting(
        "AUTH",
        "auth",
        "choice",
        "none",
        "none: no sign-in; oidc: sign in through an OpenID Connect provider ([auth] in .streamlit/secrets.toml); "
        "header: the e-mail a reverse proxy sets (AUTH_HEADER), believed only from AUTH_TRUSTED_PROXIES",
        "Sign-in",
        choices=("none", "oidc", "header"),
    ),
    Setting(
        "AUTH_ALLOWED",
        "auth_allowed",
        "text",
        None,
        "who may sign in: comma-separated e-mail addresses and @domains, e.g. ann@example.com, @example.org "
        "(empty: anyone the provider or proxy signs in)",
        "Sign-in",
    ),
    Setting("AUTH_ADMINS", "auth_admins", "text", None, "comma-separated e-mail addresses of the admins", "Sign-in"),
    Setting(
        "AUTH_HEADER",
        "auth_header",
        "text",
        "X-Forwarded-Email",
        "the header holding the signed-in e-mail (AUTH=header)",
        "Sign-in",
    ),
    Setting(
        "AUTH_TRUSTED_PROXIES",
        "auth_trusted_proxies",
        "text",
        None,
        "comma-separated IP addresses or CIDRs of the proxies whose header is believed (AUTH=header); empty: "
        "nobody's, so everyone is refused",
        "Sign-in",
    ),
    Setting(
        "SHARED_KEY_FOR_USERS",
        "shared_key_for_users",
        "choice",
        "off",
        "on: signed-in users' requests use the keys from .env; off: each brings their own key, kept only in their "
        "browser session (admins always may use them)",
        "Sign-in",
        choices=("off", "on"),
    ),
)

DEFAULTS: dict[str, str] = {setting.name: setting.default for setting in SETTINGS if setting.default is not None}


@dataclass(frozen=True)
class ProviderPreset:
    label: str
    base_url: str | None
    default_model: str
    needs_key: bool


LOCAL = "local"
DEMO_TEMPERATURE = 0.2  # the demo model's default temperature at most: the 135M model wanders when sampled hotter
CUSTOM = "custom"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"  # what the SDK uses when no base URL is set

# key -> label, base URL, a model to start with, whether a key is required
PROVIDER_PRESETS: dict[str, ProviderPreset] = {
    LOCAL: ProviderPreset("Local demo model (llama.cpp) / 本地演示模型", None, "", needs_key=False),
    "openai": ProviderPreset("OpenAI", OPENAI_DEFAULT_URL, "gpt-4o-mini", needs_key=True),
    "deepseek": ProviderPreset("DeepSeek", "https://api.deepseek.com/v1", "deepseek-chat", needs_key=True),
    "moonshot": ProviderPreset("Moonshot / Kimi", "https://api.moonshot.cn/v1", "moonshot-v1-8k", needs_key=True),
    "qwen": ProviderPreset(
        "Qwen (DashScope)", "https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus", needs_key=True
    ),
    "ollama": ProviderPreset("Ollama", "http://localhost:11434/v1", "llama3.2", needs_key=False),
    "lmstudio": ProviderPreset("LM Studio", "http://localhost:1234/v1", "", needs_key=False),
    "llamacpp": ProviderPreset("llama.cpp server", "http://localhost:8080/v1", "", needs_key=False),
    "vllm": ProviderPreset("vLLM", "http://localhost:8000/v1", "", needs_key=False),
    CUSTOM: ProviderPreset("Custom: one-api / new-api / any OpenAI-compatible", None, "", needs_key=False),
}


def bounds(name: str) -> tuple[float, float]:
    """A numeric setting's inclusive range, for every place that takes its value (sidebar, import)."""
    setting = next(setting for setting in SETTINGS if setting.name == name)
    assert setting.low is not None and setting.high is not None, name
    return setting.low, setting.high


def preset_for(base_url: str | None, has_key: bool) -> str:
    """The preset that matches configured settings: local with nothing set, else by base URL."""
    if not base_url:
        return "openai" if has_key else LOCAL
    for key, preset in PROVIDER_PRESETS.items():
        if preset.base_url and preset.base_url.rstrip("/") == base_url.rstrip("/"):
            return key
    return CUSTOM


@dataclass(frozen=True)
class LocalPort:
    """A port of 127.0.0.1 where one of the local-server presets may answer (LOCAL_SERVERS); there is no host."""

    preset: str
    port: int


def local_server_ports() -> dict[str, int]:
    """The presets of servers people run on their own machine (their URL is on localhost) and each one's usual
    port: what LOCAL_SERVERS=auto looks at, in this order."""
    found = {}
    for key, preset in PROVIDER_PRESETS.items():
        parts = urlsplit(preset.base_url or "")
        if parts.hostname == "localhost" and parts.port is not None:
            found[key] = parts.port
    return found


def parse_local_servers(text: str, errors: list[str]) -> tuple[LocalPort, ...]:
    """LOCAL_SERVERS: auto (each local preset on its usual port), off, or comma-separated preset:port. Only ports
    are taken: an entry naming a host or a URL is refused, so nothing beyond 127.0.0.1 is ever looked at."""
    usual = local_server_ports()
    word = text.strip().lower()
    if word in ("auto", "off"):
        return tuple(LocalPort(key, port) for key, port in usual.items()) if word == "auto" else ()
    found: list[LocalPort] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        preset, _, port = (part.strip() for part in entry.partition(":"))
        if re.search(r"[/.@\[\]]", entry) or port.count(":"):
            errors.append(
                f"LOCAL_SERVERS entry {entry!r} names a host: only ports of 127.0.0.1 are looked at, as preset:port"
            )
        elif preset.lower() not in usual or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
            errors.append(
                f"LOCAL_SERVERS entry {entry!r} must be preset:port, the preset one of {', '.join(usual)} "
                "and the port 1–65535"
            )
        else:
            found.append(LocalPort(preset.lower(), int(port)))
    if len({local.port for local in found}) < len(found):
        errors.append(f"LOCAL_SERVERS={text!r} names a port twice")
    if not found and not errors:
        errors.append(f"LOCAL_SERVERS={text!r} must be auto, off or preset:port, ...")
    return tuple(found)


# A placeholder for servers that ignore the key (Ollama, vLLM, llama.cpp) but the SDK requires one.
NO_KEY_PLACEHOLDER = "not-needed"


class Secret:
    """A value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Fallback:
    """A model to answer when the primary keeps failing; None fields mean: as the primary."""

    model: str
    base_url: str | None = None
    api_key: Secret | None = None


def parse_fallbacks(text: str, values: Mapping[str, str], errors: list[str]) -> tuple[Fallback, ...]:
    """FALLBACK_MODELS: comma-separated ``model``, ``model@base_url`` or ``model@base_url#KEY_VARIABLE``."""
    found: list[Fallback] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        model, _, rest = entry.partition("@")
        base_url, _, key_variable = rest.partition("#")
        if not model or (base_url and not re.match(r"^https?://", base_url)):
            errors.append(f"FALLBACK_MODELS entry {entry!r} must look like model, model@https://host/v1 or ...#KEY_VAR")
            continue
        if key_variable and not values.get(key_variable):
            errors.append(f"FALLBACK_MODELS entry {entry!r} names {key_variable}, which is not set")
            continue
        key = Secret(values[key_variable]) if key_variable else None
        found.append(Fallback(model.strip(), base_url.strip().rstrip("/") or None, key))
    return tuple(found)


def read_json_object(path: str | Path, error: type[ValueError]) -> dict[str, Any]:
    """An override file (models, templates) as a JSON object: {} when there is none, ``error`` naming
    the file when it cannot be read."""
    file = Path(path)
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{file}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{file}: must hold a JSON object")
    return data


class ConfigError(ValueError):
    """One or more settings are invalid; the message names each and says what is expected."""


@dataclass(frozen=True)
class Settings:
    api_key: Secret | None
    base_url: str | None
    model: str
    temperature: float
    max_tokens: int
    max_tool_rounds: int
    max_reply_chars: int
    max_reply_seconds: float
    request_timeout: float
    connect_timeout: float
    rate_limit_rpm: int
    rate_limit_tpm: int
    rate_limit_shared: str
    fallbacks: tuple[Fallback, ...]
    transcription_model: str
    local_servers: tuple[LocalPort, ...]
    budget_currency: str
    budget_per_chat: float
    budget_per_day: float
    summarize_at: int
    auto_title: str
    max_retries: int
    tool_timeout: float
    usd_cny_rate: float
    ui_language: str
    data_dir: Path
    database_url: Secret | None
    models_file: Path
    templates_file: Path
    weather_api_url: str
    geocoding_api_url: str
    mcp_config: Path
    knowledge_max_file_mb: int
    knowledge_max_passages: int
    local_model_path: str | None
    local_chat_format: str
    local_threads: int
    local_context: int
    log_level: str
    trace: str
    trace_max_kb: int
    image_max_mb: int
    image_max_count: int
    auth: str
    auth_allowed: str | None
    auth_admins: str | None
    auth_header: str | None
    auth_trusted_proxies: str | None
    shared_key_for_users: str
    safety: str
    safety_words_file: Path
    safety_moderation_model: str
    auto_cheap_model: str
    auto_strong_model: str
    auto_long_chars: int
    auto_code: str
    auto_tools: str
    health_check_minutes: int
    response_cache: str
    response_cache_ttl: float
    provider: str = LOCAL

    @property
    def database(self) -> str:
        """What store.Store.open takes: DATABASE_URL, or the SQLite file chats.db in DATA_DIR."""
        return self.database_url.reveal() if self.database_url else str(self.data_dir / "chats.db")

    @property
    def log_secrets(self) -> tuple[Secret | None, ...]:
        """What no log line may show: the keys, and DATABASE_URL's password as written and decoded (a driver's
        error may quote it, e.g. psycopg's pool on a malformed %-escape)."""
        password = urlsplit(self.database_url.reveal()).password if self.database_url else None
        written = (Secret(password), Secret(unquote(password))) if password else ()
        return (self.api_key, *(fallback.api_key for fallback in self.fallbacks), *written)

    @property
    def is_local(self) -> bool:
        return self.provider == LOCAL

    @property
    def needs_setup(self) -> bool:
        """A provider that needs a key has none, or a custom provider has no URL: nothing to talk to yet."""
        if self.is_local:
            return False
        if not self.model or (self.provider == CUSTOM and not self.base_url):
            return True
        return PROVIDER_PRESETS[self.provider].needs_key and self.api_key is None

    @property
    def endpoint(self) -> str:
        return (self.base_url or OPENAI_DEFAULT_URL).rstrip("/")

    def for_endpoint(self, provider: str, base_url: str | None, typed_key: str = "") -> Settings:
        """Settings for another endpoint. ``typed_key`` is the key the user typed for *this* endpoint (the
        sidebar remembers one per endpoint); the `.env` key only ever goes to the endpoint it was configured for."""
        chosen = replace(self, provider=provider, base_url=base_url.rstrip("/") if base_url else None)
        if typed_key:
            return replace(chosen, api_key=Secret(typed_key))
        return replace(chosen, api_key=self.api_key if chosen.endpoint == self.endpoint else None)

    def key_for_client(self) -> str:
        return self.api_key.reveal() if self.api_key else NO_KEY_PLACEHOLDER

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _number(setting: Setting, raw: str, errors: list[str]) -> float:
    kind = int if setting.kind == "integer" else float
    low, high = setting.low, setting.high
    try:
        value = kind(raw)
    except ValueError:
        errors.append(f"{setting.name}={raw!r} is not a{'n' if kind is int else ''} {kind.__name__}")
        return kind(setting.default or 0)
    if (low is not None and value < low) or (high is not None and value > high):
        errors.append(f"{setting.name}={raw!r} must be between {_plain(low or 0)} and {_plain(high or 0)}")
        return kind(setting.default or 0)
    return value


def _choice(setting: Setting, raw: str, errors: list[str]) -> str:
    """The choice ``raw`` names, in any case (usd, Info)."""
    for choice in setting.choices:
        if choice.lower() == raw.lower():
            return choice
    *most, last = setting.choices
    errors.append(f"{setting.name}={raw!r} must be {', '.join(most)} or {last}")
    return setting.default or ""


def _read(setting: Setting, values: Mapping[str, str], errors: list[str]) -> Any:
    """A setting's value as its kind reads it; a problem is added to ``errors``, naming the setting."""
    raw = values.get(setting.name) or ""
    match setting.kind:
        case "integer" | "number":
            return _number(setting, raw, errors)
        case "choice":
            return _choice(setting, raw, errors)
        case "url":
            if raw and not re.match(r"^https?://", raw):
                errors.append(f"{setting.name}={raw!r} must start with http:// or https://")
            return raw.rstrip("/") or None
        case "path":
            return Path(raw).expanduser()
        case "key":
            return Secret(raw) if raw else None
        case "models":
            return parse_fallbacks(raw, values, errors)
        case "servers":
            return parse_local_servers(raw, errors)
        case "text":
            return raw or None


def setting_values(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> dict[str, str]:
    """Merge defaults, `.env` (or the file APP_ENV_FILE names) and the environment (the environment wins)."""
    environment = os.environ if environ is None else environ
    file_values = _env_file_values(Path(env_file or environment.get("APP_ENV_FILE") or APP_DIR / ".env"))
    merged: dict[str, str] = dict(DEFAULTS)
    merged.update({k: v for k, v in file_values.items() if v is not None and v != ""})
    merged.update({k: v for k, v in environment.items() if v != ""})
    return merged


def file_version(path: Path) -> tuple[int, int] | None:
    """What tells one version of a file from the next (its modification time and size), the key of a cache that
    reads the file once per version; None where it cannot be looked at (no file)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size


def _env_file_values(path: Path) -> Mapping[str, str | None]:
    """The `.env` file's values, parsed once per version of the file (a price lookup reads MODELS_FILE there); its
    ${VAR}s filled from the environment as it was then (the app's does not change while it runs)."""
    version = file_version(path)
    if version is None:
        return dotenv_values(path)  # no file: none (or dotenv's own error)
    return _parsed_env_file(path, version)


@functools.lru_cache(maxsize=8)
def _parsed_env_file(path: Path, version: tuple[int, int]) -> Mapping[str, str | None]:
    return MappingProxyType(dotenv_values(path))


def table_file(name: str, values: Mapping[str, str] | None = None) -> Path:
    """MODELS_FILE or TEMPLATES_FILE. Without ``values`` it is read as load_settings reads it, for lookups
    deep in the code that hold no Settings (a price, a template); unrelated invalid settings do not fail them."""
    return Path((setting_values() if values is None else values)[name]).expanduser()


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Settings from defaults, `.env` and the environment (see ``setting_values``), each read and checked
    as ``SETTINGS`` declares it; every problem is named in one ConfigError."""
    merged = setting_values(environ, env_file)
    errors: list[str] = []
    values = {setting.attribute: _read(setting, merged, errors) for setting in SETTINGS}
    if errors:
        raise ConfigError("; ".join(errors))
    return Settings(**values, provider=preset_for(values["base_url"], values["api_key"] is not None))


# A URL in free text: scheme, optional user:password@ (up to the last @), host and path, then ?query / #fragment.
_URL_IN_TEXT = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?:[^\s/?#]*@)?(?P<rest>[^\s?#]*)(?:[?#][^\s'\"<>]*)?"
)


def hide_secrets(text: str, *secrets: Secret | str | None) -> str:
    """Only the given secrets taken out of text (a key of six characters or more; shorter ones would hit words)."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 6:
            text = text.replace(value, "[redacted]")
    return text


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Remove keys from text: the given secrets, anything shaped like an API key, and the user:password and
    query string of any URL (gateways take keys there too)."""
    text = hide_secrets(text, *secrets)
    text = _URL_IN_TEXT.sub(lambda match: match["scheme"] + match["rest"], text)
    return re.sub(r"\b(sk|pk|key)-[A-Za-z0-9_\-]{8,}", r"\1-[redacted]", text)


def display_url(url: str) -> str:
    """A base URL as it may be shown anywhere (page, errors, exports): scheme, host and port only, so a
    user:password, a key in the path or the query string never reaches a screen. Empty when it is no URL."""
    parts = urlsplit(url.strip())
    host = parts.hostname
    if not parts.scheme or not host:
        return ""
    try:
        port = parts.port
    except ValueError:  # a port that is no number: leave it out
        port = None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


# --- the documents made from SETTINGS: `.env.example` and the README's table (a test checks both) ---------


def shown_default(setting: Setting) -> str:
    """The default as a reader should see it: a path beside the app as ./name, nothing when there is none."""
    if setting.default is None:
        return ""
    if setting.kind == "path" and Path(setting.default).is_relative_to(APP_DIR):
        return f"./{Path(setting.default).relative_to(APP_DIR)}"
    return setting.default


def allowed(setting: Setting) -> str:
    """What a setting takes, in a few words."""
    if setting.kind in ("integer", "number"):
        return f"{_plain(setting.low or 0)}–{_plain(setting.high or 0)}"
    if setting.kind == "choice":
        return ", ".join(setting.choices)
    return {
        "url": "http(s) URL",
        "path": "path",
        "key": "secret",
        "models": "list",
        "servers": "auto, off or list",
        "text": "text",
    }[setting.kind]


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=110, initial_indent="# ", subsequent_indent="# ")


def env_example() -> str:
    """The text of `.env.example`: each group with its note, each setting with its help and default."""
    lines = [
        "# Copy to .env and set what you need; the environment overrides .env. Every line is optional:",
        '# a commented line shows the default (remove the "# " to change it), an empty one waits for a value.',
        "# Made by `python -m config --env-example` from config.SETTINGS: change it there, not here.",
    ]
    for group, note in GROUPS.items():
        lines += ["", f"# --- {group} ---", *_comment(note)]
        if group == "Provider":
            lines += ["# OPENAI_BASE_URL for the presets the sidebar offers:"]
            lines += [f"#   {p.label}: {p.base_url}" for p in PROVIDER_PRESETS.values() if p.base_url]
            lines += ["#   one-api, new-api, vLLM, LM Studio or any OpenAI-compatible gateway: its URL ending in /v1"]
        for setting in (s for s in SETTINGS if s.group == group):
            lines += _comment(f"{setting.help} [{allowed(setting)}]")
            default = shown_default(setting)
            lines.append(f"# {setting.name}={default}" if default else f"{setting.name}=")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The configuration table of README.md."""
    rows = ["| variable | meaning | takes | default |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{shown_default(setting)}`" if shown_default(setting) else "none"
        rows.append(f"| `{setting.name}` | {setting.help} | {allowed(setting)} | {default} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m config", description="Print a document made from SETTINGS.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--env-example", action="store_const", dest="make", const=env_example)
    which.add_argument("--readme-table", action="store_const", dest="make", const=readme_table)
    print(parser.parse_args().make(), end="")
