"""Settings from the environment and `.env`, with defaults and validation.

The API key is held in a ``Secret`` whose repr never shows it; ``redact`` scrubs it from any text
that might reach a page, a log or an export.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

APP_DIR = Path(__file__).resolve().parent

DEFAULTS: dict[str, str] = {
    "OPENAI_MODEL": "gpt-4o-mini",
    "TEMPERATURE": "0.7",
    "MAX_TOKENS": "2048",
    "MAX_TOOL_ROUNDS": "5",
    "MAX_REPLY_CHARS": "200000",
    "MAX_REPLY_SECONDS": "600",
    "REQUEST_TIMEOUT": "60",
    "CONNECT_TIMEOUT": "10",
    "RATE_LIMIT_RPM": "0",
    "RATE_LIMIT_TPM": "0",
    "FALLBACK_MODELS": "",
    "BUDGET_CURRENCY": "USD",
    "BUDGET_PER_CHAT": "0",
    "BUDGET_PER_DAY": "0",
    "SUMMARIZE_AT": "0",
    "MAX_RETRIES": "2",
    "TOOL_TIMEOUT": "15",
    "USD_CNY_RATE": "7.1",
    "UI_LANGUAGE": "auto",
    "DATA_DIR": str(APP_DIR / "data"),
    "MODELS_FILE": str(APP_DIR / "models.json"),
    "TEMPLATES_FILE": str(APP_DIR / "templates.json"),
    "LOCAL_CHAT_FORMAT": "chatml-function-calling",
    "LOCAL_THREADS": "1",
    "LOCAL_CONTEXT": "2048",
    "WEATHER_API_URL": "https://api.open-meteo.com/v1/forecast",
    "GEOCODING_API_URL": "https://geocoding-api.open-meteo.com/v1/search",
}


@dataclass(frozen=True)
class ProviderPreset:
    label: str
    base_url: str | None
    default_model: str
    needs_key: bool


LOCAL = "local"
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
    CUSTOM: ProviderPreset("Custom: one-api / new-api / vLLM / LM Studio", None, "", needs_key=False),
}


def preset_for(base_url: str | None, has_key: bool) -> str:
    """The preset that matches configured settings: local with nothing set, else by base URL."""
    if not base_url:
        return "openai" if has_key else LOCAL
    for key, preset in PROVIDER_PRESETS.items():
        if preset.base_url and preset.base_url.rstrip("/") == base_url.rstrip("/"):
            return key
    return CUSTOM


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
    fallbacks: tuple[Fallback, ...]
    budget_currency: str
    budget_per_chat: float
    budget_per_day: float
    summarize_at: int
    max_retries: int
    tool_timeout: float
    usd_cny_rate: float
    ui_language: str
    data_dir: Path
    models_file: Path
    templates_file: Path
    weather_api_url: str
    geocoding_api_url: str
    local_model_path: str | None
    local_chat_format: str
    local_threads: int
    local_context: int
    provider: str = LOCAL

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


def _number(values: Mapping[str, str], name: str, kind: type, low: float, high: float, errors: list[str]):
    raw = values[name]
    try:
        value = kind(raw)
    except ValueError:
        errors.append(f"{name}={raw!r} is not a {kind.__name__}")
        return kind(DEFAULTS[name])
    if not low <= value <= high:
        errors.append(f"{name}={raw!r} must be between {low} and {high}")
        return kind(DEFAULTS[name])
    return value


def setting_values(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> dict[str, str]:
    """Merge defaults, `.env` (or the file APP_ENV_FILE names) and the environment (the environment wins)."""
    environment = os.environ if environ is None else environ
    file_values = dotenv_values(env_file or environment.get("APP_ENV_FILE") or APP_DIR / ".env")
    merged: dict[str, str] = dict(DEFAULTS)
    merged.update({k: v for k, v in file_values.items() if v is not None and v != ""})
    merged.update({k: v for k, v in environment.items() if v != ""})
    return merged


def table_file(name: str, values: Mapping[str, str] | None = None) -> Path:
    """MODELS_FILE or TEMPLATES_FILE. Without ``values`` it is read as load_settings reads it, for lookups
    deep in the code that hold no Settings (a price, a template); unrelated invalid settings do not fail them."""
    return Path((setting_values() if values is None else values)[name]).expanduser()


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Settings from defaults, `.env` and the environment (see ``setting_values``), validated."""
    merged = setting_values(environ, env_file)
    errors: list[str] = []
    base_url = merged.get("OPENAI_BASE_URL")
    if base_url and not re.match(r"^https?://", base_url):
        errors.append(f"OPENAI_BASE_URL={base_url!r} must start with http:// or https://")
    currency = merged["BUDGET_CURRENCY"].upper()
    if currency not in {"USD", "CNY"}:
        errors.append(f"BUDGET_CURRENCY={currency!r} must be USD or CNY")
    language = merged["UI_LANGUAGE"]
    if language not in {"auto", "zh", "en"}:
        errors.append(f"UI_LANGUAGE={language!r} must be auto, zh or en")
    api_key = Secret(merged["OPENAI_API_KEY"]) if merged.get("OPENAI_API_KEY") else None
    base_url = base_url.rstrip("/") if base_url else None
    settings = Settings(
        api_key=api_key,
        base_url=base_url,
        model=merged["OPENAI_MODEL"],
        temperature=_number(merged, "TEMPERATURE", float, 0.0, 2.0, errors),
        max_tokens=_number(merged, "MAX_TOKENS", int, 1, 1_000_000, errors),
        max_tool_rounds=_number(merged, "MAX_TOOL_ROUNDS", int, 1, 20, errors),
        max_reply_chars=_number(merged, "MAX_REPLY_CHARS", int, 1, 100_000_000, errors),
        max_reply_seconds=_number(merged, "MAX_REPLY_SECONDS", float, 1.0, 86_400.0, errors),
        request_timeout=_number(merged, "REQUEST_TIMEOUT", float, 1.0, 3600.0, errors),
        connect_timeout=_number(merged, "CONNECT_TIMEOUT", float, 0.5, 600.0, errors),
        rate_limit_rpm=_number(merged, "RATE_LIMIT_RPM", int, 0, 1_000_000, errors),
        rate_limit_tpm=_number(merged, "RATE_LIMIT_TPM", int, 0, 1_000_000_000, errors),
        fallbacks=parse_fallbacks(merged["FALLBACK_MODELS"], merged, errors),
        budget_currency=currency,
        budget_per_chat=_number(merged, "BUDGET_PER_CHAT", float, 0.0, 1e9, errors),
        budget_per_day=_number(merged, "BUDGET_PER_DAY", float, 0.0, 1e9, errors),
        summarize_at=_number(merged, "SUMMARIZE_AT", int, 0, 100, errors),
        max_retries=_number(merged, "MAX_RETRIES", int, 0, 10, errors),
        tool_timeout=_number(merged, "TOOL_TIMEOUT", float, 0.1, 600.0, errors),
        usd_cny_rate=_number(merged, "USD_CNY_RATE", float, 0.01, 1000.0, errors),
        ui_language=language,
        data_dir=Path(merged["DATA_DIR"]).expanduser(),
        models_file=table_file("MODELS_FILE", merged),
        templates_file=table_file("TEMPLATES_FILE", merged),
        weather_api_url=merged["WEATHER_API_URL"],
        geocoding_api_url=merged["GEOCODING_API_URL"],
        local_model_path=merged.get("LOCAL_MODEL_PATH") or None,
        local_chat_format=merged["LOCAL_CHAT_FORMAT"],
        local_threads=_number(merged, "LOCAL_THREADS", int, 1, 64, errors),
        local_context=_number(merged, "LOCAL_CONTEXT", int, 512, 131_072, errors),
        provider=preset_for(base_url, api_key is not None),
    )
    if errors:
        raise ConfigError("; ".join(errors))
    return settings


# A URL in free text: scheme, optional user:password@ (up to the last @), host and path, then ?query / #fragment.
_URL_IN_TEXT = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?:[^\s/?#]*@)?(?P<rest>[^\s?#]*)(?:[?#][^\s'\"<>]*)?")


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Remove keys from text: the given secrets, anything shaped like an API key, and the user:password and
    query string of any URL (gateways take keys there too)."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 6:
            text = text.replace(value, "[redacted]")
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
