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
from config import ConfigError, Secret, Settings, load_settings, redact
from conversation_manager import INTERRUPTED, STOPPED, Conversation, Message, TurnRecorder, build_request
from events import ReasoningDelta, TextDelta
from function_tools import ToolExecutor, ToolRegistry, default_registry
from i18n import LANGUAGES, pick_language, t
from knowledge_base import KnowledgeBase
from llm_client import ChatParams, LLMClient
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


def sidebar(settings: Settings, lang_default: str) -> tuple[str, Settings, str, list[str]]:
    """Draws the controls; returns language, effective settings, template and enabled tools."""
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
        with st.expander(t("connection", lang), expanded=settings.needs_setup):
            base_url = st.text_input(
                t("base_url", lang), value=settings.base_url or "", help=t("base_url_help", lang), key="base_url"
            )
            typed_key = st.text_input(
                t("api_key", lang), type="password", help=t("api_key_help", lang), key="api_key_input"
            )
            if settings.api_key and not typed_key:
                st.caption(t("api_key_from_env", lang))
            model = st.text_input(t("model", lang), value=settings.model, key="model")
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
    effective = settings.with_overrides(
        base_url=base_url.strip().rstrip("/") or None,
        api_key=Secret(typed_key.strip()) if typed_key.strip() else settings.api_key,
        model=model.strip() or settings.model,
        temperature=float(temperature),
        max_tokens=int(max_tokens),
    )
    return lang, effective, template, tools


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


# --- a turn ----------------------------------------------------------------------------------------


def run_turn(settings: Settings, lang: str, template: str, tools: list[str], text: str) -> None:
    s = state()
    conversation: Conversation = s.conversation
    conversation.add_user(text, template=template)
    with st.chat_message("user"):
        st.markdown(text)
    executor = ToolExecutor(state_registry(settings), timeout=settings.tool_timeout, enabled=tools)
    request = build_request(conversation, template, lang, executor.schemas(), settings.model, settings.max_tokens)
    price_book = PriceBook(settings.usd_cny_rate)
    recorder = TurnRecorder(conversation, settings.model, template, price_book)
    turn_start = len(conversation.messages) - 1
    client = LLMClient(settings.key_for_client(), settings.base_url, settings.request_timeout, settings.max_retries)
    params = ChatParams(settings.model, settings.temperature, settings.max_tokens)
    with st.chat_message("assistant"):
        if request.dropped_messages:
            st.info(t("trimmed", lang, count=request.dropped_messages))
        slot = st.empty()
        last_flush = 0.0
        for event in client.run_turn(request.messages, params, executor, settings.max_tool_rounds):
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
    s.conversation.settle_unfinished(PriceBook(settings.usd_cny_rate))
    lang, effective, template, tools = sidebar(settings, lang_default)
    st.title(t("title", lang))
    host = urlsplit(effective.base_url).netloc if effective.base_url else "api.openai.com"
    st.caption(f"`{effective.model}` · {host}")
    base_url = effective.base_url or "https://api.openai.com/v1"
    render_history(s.conversation, lang, base_url)
    if effective.needs_setup:
        st.info(f"**{t('setup_title', lang)}**\n\n{t('setup_body', lang)}")
    prompt = st.chat_input(
        t("input_placeholder", lang),
        max_chars=MAX_INPUT_CHARS,
        disabled=effective.needs_setup,
        submit_mode="stop",
        key="chat_input",
    )
    if prompt and prompt.strip():
        run_turn(effective, lang, template, tools, prompt)


main()
