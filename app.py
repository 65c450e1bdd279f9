"""The Streamlit UI: renders session state and wires events. No business logic lives here.

Run with: bash scripts/run-app.sh (or streamlit run app.py)
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from typing import Any

import streamlit as st

import model_catalog
from budget import OVER, BudgetCheck
from config import ConfigError, Secret, Settings, display_url, load_settings, redact
from conversation_manager import (
    Conversation,
    Message,
    RequestSpec,
    TurnRecorder,
    build_request,
    shrinker,
    transcript,
    turns_to_summarize,
)
from events import ReasoningDelta, TextDelta
from function_tools import ToolExecutor
from i18n import pick_language, t
from llm_client import ChatParams, ReplyLimits, SummaryFailed, Target, TurnRunner, summarize, targets_for
from local_backend import LocalBackendUnavailable, LocalModelServer, LocalModelSpec, local_spec
from prompt_templates import TemplateFileError, all_templates, summary_messages
from rate_limiter import RateLimiter
from retry_policy import RetryPolicy
from store import Store
from token_tracker import PriceBook
from ui_chat import amount, budget_checks, literal_markdown, notice_text, render_history, render_reply, render_usage
from ui_session import price_book, release_held, save_chat, show_conversation, state, unsaved
from ui_sidebar import Choices, sidebar, state_registry

FLUSH_INTERVAL = 0.05  # seconds; one visible update per 50 ms keeps long streams from flooding the browser
SAVE_INTERVAL = 1.0  # seconds; a crash mid-reply loses at most this much
MAX_INPUT_CHARS = 32_000


@st.cache_resource
def open_store(path: str) -> Store:
    return Store(path)


@st.cache_resource
def rate_limiter(base_url: str, requests_per_minute: int, tokens_per_minute: int) -> RateLimiter:
    """One limiter per provider, shared by every browser session of this app process."""
    return RateLimiter(requests_per_minute, tokens_per_minute)


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
    except LocalBackendUnavailable as error:
        st.error(t("local_unavailable", lang, detail=str(error)))
        return None
    server = local_server(spec)
    try:
        if server.healthy():
            server.ensure_running()
        else:
            with st.status(t("local_loading", lang)) as status:
                server.ensure_running()
                status.update(label=t("local_ready", lang), state="complete")
    except LocalBackendUnavailable as error:
        st.error(t("local_unavailable", lang, detail=str(error)))
        st.button(t("local_try_again", lang), key="local_try_again", on_click=server.reset)
        return None
    state().local_models.add(spec.alias)
    state().local_server = server
    st.caption(t("local_badge", lang, model=spec.alias))
    return settings.with_overrides(base_url=server.base_url, model=spec.alias, api_key=Secret(server.api_key))


# --- a turn ----------------------------------------------------------------------------------------


def summarize_older(
    conversation: Conversation, older: list[Message], target: Target, book: PriceBook, lang: str
) -> None:
    """One extra call folds older turns into the conversation's summary; its cost is booked to the chat."""
    previous = conversation.summary.text if conversation.summary else None
    with st.status(t("summarizing", lang)) as status:
        try:
            text, reported = summarize(target, summary_messages(lang, previous, transcript(older)))
        except SummaryFailed as error:
            status.update(label=t("summary_failed", lang, detail=str(error)), state="error")
            return
        cost = book.cost(reported.model, reported.usage)
        conversation.apply_summary(text, [m.id for m in older], reported.model, reported.usage, cost)
        status.update(label=t("summary_done", lang, count=len(older)), state="complete")


def request_spec(settings: Settings, choices: Choices, schemas: list[dict[str, Any]]) -> RequestSpec:
    """What shapes the next request. Its output room is max_tokens as the model can take it (the request asks
    for exactly that), so the history's budget leaves that room and no more."""
    room = model_catalog.lookup(settings.model).output_room(settings.max_tokens)
    return RequestSpec(choices.template, choices.lang, schemas, settings.model, room, choices.custom_system)


def chat_settings(settings: Settings, choices: Choices) -> dict[str, Any]:
    """What a chat keeps of the controls, to restore them when it is opened again (never a key or a URL)."""
    return {
        "provider": settings.provider,
        "model": settings.model,
        "template": choices.template,
        "tools": choices.tools,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "system_prompt": choices.custom_system,
    }


def run_turn(settings: Settings, store: Store, choices: Choices, text: str | None) -> None:
    """Send ``text`` (None: answer again from the current leaf) and stream the reply into the conversation."""
    lang, template, tools = choices.lang, choices.template, choices.tools
    conversation: Conversation = state().conversation
    conversation.settings = chat_settings(settings, choices)
    saving = True  # after a failed save, the rest waits for the final one (each try may wait on a lock)
    waiting = unsaved()
    if text is not None:
        conversation.add_user(text, template=template)
        saving = save_chat(store, conversation, conversation.messages[-1:], waiting)
        st.query_params["chat"] = conversation.id
        with st.chat_message("user"):
            st.markdown(literal_markdown(text))
    executor = ToolExecutor(state_registry(settings), timeout=settings.tool_timeout, enabled=tools)
    schemas = executor.schemas()
    book = price_book(settings)
    targets = targets_for(settings)
    if settings.is_local:  # a crash of the local server is explained with its log
        targets[0] = replace(targets[0], explain=state().local_server.explain)
    spec = request_spec(settings, choices, schemas)
    request = build_request(conversation, spec)
    older = turns_to_summarize(conversation, request, settings.model, settings.summarize_at)
    if older:
        summarize_older(conversation, older, targets[0], book, lang)
        saving = saving and save_chat(store, conversation, [], waiting)
        request = build_request(conversation, spec)
    shrink = shrinker(conversation, spec, request)
    recorder = TurnRecorder(conversation, settings.model, template, book)
    limiter = rate_limiter(settings.base_url or "", settings.rate_limit_rpm, settings.rate_limit_tpm)
    limits = ReplyLimits(settings.max_reply_chars, settings.max_reply_seconds)
    runner = TurnRunner(targets, RetryPolicy(max_retries=settings.max_retries), limiter, limits=limits)
    params = ChatParams(settings.model, settings.temperature, spec.max_tokens)
    events = runner.run(request.messages, params, executor, settings.max_tool_rounds, shrink)
    base_url = settings.endpoint
    start = len(conversation.messages) - 1
    try:
        with st.chat_message("assistant"):
            if request.dropped_messages:
                st.info(t("trimmed", lang, count=request.dropped_messages))
            slot = st.empty()
            last_flush = last_save = 0.0
            notice: str | None = None
            for event in events:
                recorder.apply(event)
                turn = conversation.messages[start:]
                notice = notice_text(event, lang) or (None if isinstance(event, TextDelta) else notice)
                now = time.monotonic()
                if not isinstance(event, TextDelta | ReasoningDelta) or now - last_flush >= FLUSH_INTERVAL:
                    with slot.container():
                        render_reply(turn, lang, base_url, notice)
                    last_flush = now
                if saving and now - last_save >= SAVE_INTERVAL:
                    saving = save_chat(store, conversation, turn, waiting)
                    last_save = now
    finally:
        # Runs on a normal end and on Stop alike (Streamlit stops the script inside the loop).
        events.close()
        conversation.settle_unfinished(book)
        save_chat(store, conversation, conversation.messages[start:], waiting)
    st.rerun()


def hold_for_budget(action: tuple[str, str | None], check: BudgetCheck, lang: str) -> None:
    """Over budget: keep what was asked for and ask; "send anyway" carries it out on the next run."""
    state().held = action
    label = t(f"budget_{check.scope}", lang)
    limit = amount(check.limit, check.currency)
    st.warning(t("budget_over", lang, label=label, spent=amount(check.spent, check.currency), limit=limit))
    kind, value = action
    st.code(value if kind == "prompt" else t(kind, lang), language=None)
    send, cancel, _ = st.columns([2, 1, 3])
    send.button(t("send_anyway", lang), key="send_anyway", on_click=release_held)
    cancel.button(t("cancel", lang), key="cancel_held", on_click=lambda: state().pop("held", None))


def text_to_send(conversation: Conversation, action: tuple[str, str | None], lang: str) -> tuple[str | None, bool]:
    """Carries out an action: (text to send, None to answer again; whether there is anything to send)."""
    s = state()
    kind, value = action
    if kind == "prompt":
        return value, True
    if kind == "regenerate":
        conversation.rewind_to(value)
        return None, True
    if kind == "edit" and value in conversation.nodes:
        text = s.get(f"edit_text_{value}", "").strip()
        s.editing = None
        if not text:
            return None, False
        conversation.rewind_to(conversation.nodes[value].parent_id)
        return text, True
    if kind == "continue":
        return t("continue_prompt", lang), True
    return None, False


def current_conversation(store: Store) -> Conversation:
    s = state()
    if "conversation" not in s:
        chat_id = st.query_params.get("chat")
        loaded = store.load(chat_id) if chat_id else None
        if loaded is not None:
            show_conversation(loaded)
        else:
            s.conversation = Conversation()
        s.local_models = set()
    return s.conversation


def main() -> None:
    st.set_page_config(page_title="AI Chat", page_icon="💬")
    s = state()
    try:
        settings = load_settings()
        model_catalog.table(settings.models_file)
        all_templates(settings.templates_file)
        store = open_store(str(settings.data_dir / "chats.db"))
    except (ConfigError, model_catalog.CatalogError, TemplateFileError, sqlite3.Error, OSError) as error:
        st.error(t("config_error", pick_language("auto", st.context.locale), detail=redact(str(error))))
        st.stop()
    conversation = current_conversation(store)
    if conversation.settle_unfinished(price_book(settings)):
        save_chat(store, conversation)
    lang_default = pick_language(settings.ui_language, st.context.locale)
    choices = sidebar(settings, store, lang_default)
    lang, chosen = choices.lang, choices.settings
    st.title(literal_markdown(conversation.title) if conversation.title else t("title", lang))
    effective = connect_local(chosen, lang) if chosen.is_local else chosen
    if effective is not None:
        st.caption(f"`{effective.model}` · {display_url(effective.endpoint)}")
    if s.get("storage_error"):
        st.warning(t("storage_error", lang, detail=s.pop("storage_error")))
    render_history(conversation, store, lang, (effective or chosen).endpoint)
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
    shown = effective or chosen
    schemas = state_registry(settings).schemas(choices.tools)
    plan = build_request(conversation, request_spec(shown, choices, schemas))
    with choices.panel:
        render_usage(conversation, store, lang, shown, plan)
    if blocked or effective is None:
        return
    action = ("prompt", prompt) if prompt and prompt.strip() else s.pop("pending", None)
    held = s.get("held")
    if action is None and held is None:
        return
    over = [c for c in budget_checks(conversation.totals(), store.today_totals(), effective) if c.level == OVER]
    if action is None:  # nothing new asked: keep showing what waits for confirmation, never send it unasked
        if over and held:
            hold_for_budget(held, over[0], lang)
        return
    if over and not s.pop("budget_confirmed", False):
        hold_for_budget(action, over[0], lang)
        return
    text, go = text_to_send(conversation, action, lang)
    if go:
        run_turn(effective, store, choices, text)


main()
