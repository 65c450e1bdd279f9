"""The Streamlit UI: renders session state and wires events. No business logic lives here.

Run with: streamlit run app.py
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import streamlit as st

import exporters
from config import LOCAL, PROVIDER_PRESETS, ConfigError, Secret, Settings, load_settings, redact
from conversation_manager import INTERRUPTED, STOPPED, Conversation, Message, TurnRecorder, build_request
from events import ReasoningDelta, TextDelta
from function_tools import ToolExecutor, ToolRegistry, default_registry
from i18n import LANGUAGES, pick_language, t
from knowledge_base import KnowledgeBase
from llm_client import ChatParams, LLMClient, fetch_models
from local_backend import LocalBackendUnavailable, LocalModelServer, LocalModelSpec, local_spec
from prompt_templates import DEFAULT_TEMPLATE, TEMPLATES
from token_tracker import PriceBook, Totals

VISIBLE_MESSAGES = 30
FLUSH_INTERVAL = 0.05  # seconds; one visible update per 50 ms keeps long streams from flooding the browser
MAX_INPUT_CHARS = 32_000


@st.cache_resource
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.bundled()


def state() -> st.runtime.state.SessionStateProxy:
    if "conversation" not in st.session_state:
        st.session_state.conversation = Conversation()
        st.session_state.show_all = False
        st.session_state.local_models = set()
    return st.session_state


# --- rendering ----------------------------------------------------------------------------------


def money(totals: Totals, lang: str) -> str:
    if totals.cost.local:
        return t("local_cost", lang)
    if not totals.cost.priced:
        return t("no_price", lang)
    return f"${totals.cost.usd:.6f} · ¥{totals.cost.cny:.5f}"


def usage_line(totals: Totals, lang: str) -> str:
    usage = totals.usage
    mark = f" {t('estimated', lang)}" if usage.estimated else ""
    return (
        f"↑{usage.prompt_tokens} ↓{usage.completion_tokens} = {usage.total_tokens} tokens{mark} · {money(totals, lang)}"
    )


def error_text(error: dict, lang: str, base_url: str) -> str:
    return t(f"err_{error['kind']}", lang, status=error.get("status"), base_url=base_url)


def render_tool(call: dict[str, str], result: Message | None, lang: str) -> None:
    failed = result is not None and result.is_error
    label = ("⚠️ " if failed else "🔧 ") + t("tool_call", lang, name=call["name"])
    status = "running" if result is None else ("error" if failed else "complete")
    with st.status(label, state=status, expanded=False):
        st.caption(t("tool_arguments", lang))
        st.code(call["arguments"] or "{}", language="json")
        if result is not None:
            st.caption(t("tool_error", lang) if failed else t("tool_result", lang))
            st.code(result.content, language="json")


def render_reply(messages: Sequence[Message], lang: str, base_url: str) -> None:
    """One assistant bubble: reasoning, text, tool calls with results, usage and any interruption."""
    results = {m.tool_call_id: m for m in messages if m.role == "tool"}
    for message in messages:
        if message.role != "assistant":
            continue
        if message.reasoning:
            with st.expander(t("reasoning", lang)):
                st.markdown(message.reasoning)
        if message.content:
            st.markdown(message.content)
        for call in message.tool_calls:
            render_tool(call, results.get(call["id"]), lang)
        if message.status == STOPPED:
            st.warning(t("status_stopped", lang))
        if message.status == INTERRUPTED and message.error:
            st.error(error_text(message.error, lang, base_url))
            with st.expander(t("raw_error", lang)):
                st.code(message.error.get("detail", ""))
        if message.finish_reason == "length":
            st.warning(t("status_length", lang))
    priced = [(m.usage, m.cost) for m in messages if m.usage and m.cost]
    if priced:
        st.caption(usage_line(Totals.of(priced), lang))


def render_history(conversation: Conversation, lang: str, base_url: str) -> None:
    turns = conversation.turns()
    if not state().show_all:
        shown, kept = 0, []
        for turn in reversed(turns):
            if shown >= VISIBLE_MESSAGES and kept:
                break
            kept.insert(0, turn)
            shown += len(turn)
        hidden = sum(len(turn) for turn in turns) - shown
        if hidden > 0 and st.button(t("show_earlier", lang, count=hidden), key="show_earlier"):
            state().show_all = True
            st.rerun()
        turns = kept
    for turn in turns:
        if turn[0].role == "user":
            with st.chat_message("user"):
                st.markdown(turn[0].content)
            turn = turn[1:]
        if turn:
            with st.chat_message("assistant"):
                render_reply(turn, lang, base_url)


def render_usage(conversation: Conversation, lang: str, rate: float) -> None:
    st.subheader(t("usage", lang))
    totals = conversation.totals()
    if not totals.calls:
        st.caption(t("no_usage_yet", lang))
        return
    rows = [(t("last_reply", lang), conversation.last_reply_totals()), (t("conversation", lang), totals)]
    for label, row in rows:
        usage = row.usage
        mark = f" {t('estimated', lang)}" if usage.estimated else ""
        st.markdown(
            f"**{label}**{mark}  \n"
            f"{t('prompt_tokens', lang)} {usage.prompt_tokens} · {t('completion_tokens', lang)} "
            f"{usage.completion_tokens} · {t('total_tokens', lang)} {usage.total_tokens}  \n"
            f"{t('cost', lang)} {money(row, lang)}"
        )
    st.caption(t("rate_note", lang, rate=rate))


# --- sidebar --------------------------------------------------------------------------------------


def connection_controls(settings: Settings, lang: str) -> Settings:
    """Provider preset, base URL, key and model; returns the settings they choose."""
    presets = list(PROVIDER_PRESETS)
    provider = st.selectbox(
        t("provider", lang),
        presets,
        index=presets.index(settings.provider),
        format_func=lambda key: PROVIDER_PRESETS[key].label,
        key="provider",
    )
    if provider == LOCAL:
        return settings.with_overrides(provider=LOCAL, base_url=None, api_key=None)
    preset = PROVIDER_PRESETS[provider]
    configured = provider == settings.provider
    base_url = st.text_input(
        t("base_url", lang),
        value=(settings.base_url if configured else preset.base_url) or "",
        help=t("base_url_help", lang),
        key=f"base_url_{provider}",
    )
    typed_key = st.text_input(t("api_key", lang), type="password", help=t("api_key_help", lang), key="api_key_input")
    if settings.api_key and not typed_key:
        st.caption(t("api_key_from_env", lang))
    chosen = settings.with_overrides(
        provider=provider,
        base_url=base_url.strip().rstrip("/") or None,
        api_key=Secret(typed_key.strip()) if typed_key.strip() else settings.api_key,
    )
    default_model = settings.model if configured else preset.default_model
    return chosen.with_overrides(model=model_picker(chosen, default_model, lang))


def model_picker(settings: Settings, default_model: str, lang: str) -> str:
    """The models GET /models lists (cached per base URL), with free text where it lists nothing."""
    s = state()
    cache: dict[str, list[str]] = s.setdefault("model_lists", {})
    source = settings.base_url or "https://api.openai.com/v1"
    if source not in cache and not settings.needs_setup:
        cache[source] = fetch_models(settings.key_for_client(), settings.base_url)
    listed = cache.get(source, [])
    options = listed if default_model in listed or not default_model else [default_model, *listed]
    model = st.selectbox(
        t("model", lang),
        options,
        index=options.index(default_model) if default_model in options else None,
        accept_new_options=True,
        key=f"model_{settings.provider}",
    )
    if not listed:
        st.caption(t("models_unlisted", lang))
    if st.button(t("refresh_models", lang), key="refresh_models"):
        cache.pop(source, None)
        st.rerun()
    return (model or default_model or "").strip()


def sidebar(settings: Settings, lang_default: str) -> tuple[str, Settings, str, list[str]]:
    """Draws the controls; returns language, chosen settings, template and enabled tools."""
    s = state()
    with st.sidebar:
        lang = st.radio(
            t("language", lang_default),
            LANGUAGES,
            index=LANGUAGES.index(lang_default),
            format_func=lambda code: {"zh": "中文", "en": "English"}[code],
            horizontal=True,
            key="ui_language",
        )
        with st.expander(t("connection", lang), expanded=settings.needs_setup or settings.is_local):
            chosen = connection_controls(settings, lang)
        temperature = st.slider(t("temperature", lang), 0.0, 2.0, settings.temperature, 0.1, key="temperature")
        max_tokens = st.number_input(t("max_tokens", lang), 1, 200_000, settings.max_tokens, step=256, key="max_tokens")
        tool_names = state_registry(settings).names()
        tools = st.multiselect(t("tools", lang), tool_names, default=tool_names, key="tools")
        template = st.selectbox(
            t("template", lang),
            list(TEMPLATES),
            index=list(TEMPLATES).index(DEFAULT_TEMPLATE),
            format_func=lambda key: TEMPLATES[key].name[lang],
            help=t("template_applies", lang),
            key="template",
        )
        render_usage(s.conversation, lang, settings.usd_cny_rate)
        st.subheader(t("actions", lang))
        if st.button(t("clear", lang), key="clear", use_container_width=True):
            s.conversation.clear()
            s.show_all = False
            st.rerun()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        st.download_button(
            t("export_md", lang),
            exporters.to_markdown(s.conversation, lang),
            file_name=f"chat-{stamp}.md",
            mime="text/markdown",
            key="export_md",
            use_container_width=True,
        )
        st.download_button(
            t("export_json", lang),
            exporters.to_json(s.conversation),
            file_name=f"chat-{stamp}.json",
            mime="application/json",
            key="export_json",
            use_container_width=True,
        )
        if s.conversation.last_request:
            with st.expander(t("last_request", lang)):
                st.caption(t("last_request_help", lang))
                st.json(s.conversation.last_request, expanded=False)
    return lang, chosen.with_overrides(temperature=float(temperature), max_tokens=int(max_tokens)), template, tools


def state_registry(settings: Settings) -> ToolRegistry:
    s = state()
    if "registry" not in s:
        s.registry = default_registry(
            settings.weather_api_url,
            settings.geocoding_api_url,
            default_timezone=st.context.timezone or "UTC",
            knowledge=knowledge_base(),
        )
    return s.registry


# --- the local backend ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def local_server(spec: LocalModelSpec) -> LocalModelServer:
    """One llama.cpp server per app process, shared by every browser session."""
    return LocalModelServer(spec)


def connect_local(settings: Settings, lang: str) -> Settings | None:
    """Starts (or health-checks) the local server; None, with the reason shown, when it cannot run."""
    try:
        spec = local_spec(
            settings.local_model_path, settings.local_chat_format, settings.local_threads, settings.local_context
        )
        server = local_server(spec)
        if server.healthy():
            server.ensure_running()
        else:
            with st.status(t("local_loading", lang)) as status:
                server.ensure_running()
                status.update(label=t("local_ready", lang), state="complete")
    except LocalBackendUnavailable as error:
        st.error(t("local_unavailable", lang, detail=str(error)))
        return None
    state().local_models.add(spec.alias)
    st.caption(t("local_badge", lang, model=spec.alias))
    return settings.with_overrides(base_url=server.base_url, model=spec.alias)


# --- a turn ----------------------------------------------------------------------------------------


def price_book(settings: Settings) -> PriceBook:
    return PriceBook(settings.usd_cny_rate, frozenset(state().local_models))


def run_turn(settings: Settings, lang: str, template: str, tools: list[str], text: str) -> None:
    s = state()
    conversation: Conversation = s.conversation
    conversation.add_user(text, template=template)
    with st.chat_message("user"):
        st.markdown(text)
    executor = ToolExecutor(state_registry(settings), timeout=settings.tool_timeout, enabled=tools)
    request = build_request(conversation, template, lang, executor.schemas(), settings.model, settings.max_tokens)
    recorder = TurnRecorder(conversation, settings.model, template, price_book(settings))
    turn_start = len(conversation.messages) - 1
    client = LLMClient(settings.key_for_client(), settings.base_url, settings.request_timeout, settings.max_retries)
    params = ChatParams(settings.model, settings.temperature, settings.max_tokens)
    events = client.run_turn(
        request.messages, params, executor, settings.max_tool_rounds, stream_tool_rounds=not settings.is_local
    )
    with st.chat_message("assistant"):
        if request.dropped_messages:
            st.info(t("trimmed", lang, count=request.dropped_messages))
        slot = st.empty()
        last_flush = 0.0
        for event in events:
            recorder.apply(event)
            now = time.monotonic()
            if not isinstance(event, TextDelta | ReasoningDelta) or now - last_flush >= FLUSH_INTERVAL:
                with slot.container():
                    render_reply(conversation.messages[turn_start:], lang, client.base_url)
                last_flush = now
    st.rerun()


def main() -> None:
    st.set_page_config(page_title="AI Chat", page_icon="💬")
    s = state()
    try:
        settings = load_settings()
    except ConfigError as error:
        st.error(t("config_error", pick_language("auto", st.context.locale), detail=redact(str(error))))
        st.stop()
    lang_default = s.get("ui_language") or pick_language(settings.ui_language, st.context.locale)
    s.conversation.settle_unfinished(price_book(settings))
    lang, chosen, template, tools = sidebar(settings, lang_default)
    st.title(t("title", lang))
    effective = connect_local(chosen, lang) if chosen.is_local else chosen
    if effective is not None:
        host = urlsplit(effective.base_url).netloc if effective.base_url else "api.openai.com"
        st.caption(f"`{effective.model}` · {host}")
    render_history(s.conversation, lang, (effective or chosen).base_url or "https://api.openai.com/v1")
    blocked = effective is None or effective.needs_setup
    if effective is not None and effective.needs_setup:
        st.info(f"**{t('setup_title', lang)}**\n\n{t('setup_body', lang)}")
    prompt = st.chat_input(
        t("input_placeholder", lang),
        max_chars=MAX_INPUT_CHARS,
        disabled=blocked,
        submit_mode="stop",
        key="chat_input",
    )
    if prompt and prompt.strip() and effective is not None:
        run_turn(effective, lang, template, tools, prompt)


main()
