"""The Streamlit UI: renders session state and wires events. No business logic lives here.

Run with: bash scripts/run-app.sh (or streamlit run app.py)
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import exporters
import model_catalog
from budget import OVER, WARNING, BudgetCheck, check_budgets
from config import LOCAL, PROVIDER_PRESETS, ConfigError, Secret, Settings, load_settings, redact
from conversation_manager import (
    INTERRUPTED,
    STOPPED,
    Conversation,
    Message,
    RequestSpec,
    TurnRecorder,
    TurnRequest,
    build_request,
    shrinker,
    transcript,
    turns_to_summarize,
)
from events import ReasoningDelta, Retrying, StreamEvent, TextDelta, Waiting
from function_tools import ToolExecutor, ToolRegistry, default_registry
from i18n import LANGUAGES, pick_language, t
from knowledge_base import KnowledgeBase
from llm_client import ChatParams, SummaryFailed, Target, TurnRunner, fetch_models, summarize, targets_for
from local_backend import LocalBackendUnavailable, LocalModelServer, LocalModelSpec, local_spec
from prompt_templates import DEFAULT_TEMPLATE, TEMPLATES, summary_messages
from rate_limiter import RateLimiter
from retry_policy import RetryPolicy
from store import Store
from token_tracker import PriceBook, Totals, Usage

VISIBLE_MESSAGES = 30
FLUSH_INTERVAL = 0.05  # seconds; one visible update per 50 ms keeps long streams from flooding the browser
SAVE_INTERVAL = 1.0  # seconds; a crash mid-reply loses at most this much
MAX_INPUT_CHARS = 32_000
SIDEBAR_CHATS = 30


@st.cache_resource
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.bundled()


@st.cache_resource
def open_store(path: str) -> Store:
    return Store(path)


@st.cache_resource
def rate_limiter(base_url: str, requests_per_minute: int, tokens_per_minute: int) -> RateLimiter:
    """One limiter per provider, shared by every browser session of this app process."""
    return RateLimiter(requests_per_minute, tokens_per_minute)


def state() -> st.runtime.state.SessionStateProxy:
    return st.session_state


def default(key: str, value: object) -> None:
    """Seed a widget's value once; widgets then read Session State (never both a default and a state)."""
    if key not in st.session_state:
        st.session_state[key] = value


# --- chat selection (callbacks run before the script, so widgets see their new values) -------------


def apply_conversation_settings(conversation: Conversation) -> None:
    saved = conversation.settings
    s = state()
    for key in ("template", "temperature", "max_tokens", "tools", "provider"):
        if key in saved:
            s[key] = saved[key]
    if saved.get("provider") and saved.get("model"):
        s[f"model_{saved['provider']}"] = saved["model"]


def show_conversation(conversation: Conversation) -> None:
    s = state()
    s.conversation = conversation
    s.show_all = False
    s.editing = None
    st.query_params["chat"] = conversation.id
    apply_conversation_settings(conversation)


def open_chat(store: Store, conversation_id: str) -> None:
    conversation = store.load(conversation_id)
    if conversation is not None:
        show_conversation(conversation)


def new_chat() -> None:
    s = state()
    s.conversation = Conversation()
    s.show_all = False
    s.editing = None
    st.query_params.clear()


def delete_chat(store: Store, conversation_id: str) -> None:
    store.delete(conversation_id)
    new_chat()


def rename_chat(store: Store) -> None:
    conversation: Conversation = state().conversation
    conversation.title = state()[f"title_{conversation.id}"].strip()
    if conversation.nodes:
        store.save(conversation, [])


def switch_version(store: Store, message_id: str) -> None:
    conversation: Conversation = state().conversation
    conversation.select(message_id)
    store.save(conversation, [])


def request_action(kind: str, message_id: str | None = None) -> None:
    state().pending = (kind, message_id)
    state().pop("held", None)


def start_editing(message_id: str) -> None:
    state().editing = message_id


def stop_editing() -> None:
    state().editing = None


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
    status: Literal["running", "complete", "error"] = (
        "running" if result is None else ("error" if failed else "complete")
    )
    with st.status(label, state=status, expanded=False):
        st.caption(t("tool_arguments", lang))
        st.code(call["arguments"] or "{}", language="json")
        if result is not None:
            st.caption(t("tool_error", lang) if failed else t("tool_result", lang))
            st.code(result.content, language="json")


def notice_text(event: StreamEvent | None, lang: str) -> str | None:
    if isinstance(event, Retrying):
        return t("notice_retrying", lang, kind=event.error.kind, delay=event.delay, attempt=event.attempt)
    if isinstance(event, Waiting):
        return t("notice_waiting", lang, seconds=event.seconds)
    return None


def render_reply(messages: Sequence[Message], lang: str, base_url: str, notice: str | None = None) -> None:
    """One assistant bubble: reasoning, text, tool calls with results, usage and any interruption."""
    results = {m.tool_call_id: m for m in messages if m.role == "tool"}
    for message in messages:
        if message.role != "assistant":
            continue
        if message.trimmed:
            st.info(t("context_trimmed", lang, count=message.trimmed))
        if message.fallback_from:
            kind = (message.error or {}).get("kind") or "error"
            st.caption(t("fallback_badge", lang, model=message.model, primary=message.fallback_from, kind=kind))
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
    if notice:
        st.caption(notice)
    priced = [m for m in messages if m.usage and m.cost]
    if priced:
        line = usage_line(Totals.of((m.usage, m.cost) for m in priced if m.usage and m.cost), lang)
        measured = [m for m in priced if m.usage and not m.usage.estimated and m.estimated_prompt_tokens]
        if measured:
            estimate = sum(m.estimated_prompt_tokens or 0 for m in measured)
            actual = sum(m.usage.prompt_tokens for m in measured if m.usage)
            diff = (estimate - actual) / actual * 100 if actual else 0.0
            line += " · " + t("estimate_vs_actual", lang, estimate=estimate, actual=actual, diff=diff)
        st.caption(line)


def version_switcher(conversation: Conversation, message: Message, store: Store, lang: str) -> None:
    versions = conversation.versions(message)
    if len(versions) < 2:
        return
    index = next(i for i, v in enumerate(versions) if v.id == message.id)
    left, middle, right = st.columns([1, 2, 1], vertical_alignment="center")
    left.button(
        "‹",
        key=f"prev_{message.id}",
        help=t("previous_version", lang),
        disabled=index == 0,
        on_click=switch_version,
        args=(store, versions[index - 1].id),
    )
    middle.caption(f"{index + 1} / {len(versions)}")
    right.button(
        "›",
        key=f"next_{message.id}",
        help=t("next_version", lang),
        disabled=index == len(versions) - 1,
        on_click=switch_version,
        args=(store, versions[min(index + 1, len(versions) - 1)].id),
    )


def render_user(conversation: Conversation, message: Message, store: Store, lang: str) -> None:
    with st.chat_message("user"):
        if state().get("editing") == message.id:
            st.text_area(t("edit", lang), value=message.content, key=f"edit_text_{message.id}")
            save, cancel, _ = st.columns([2, 1, 3])
            save.button(
                t("save_send", lang), key=f"save_{message.id}", on_click=request_action, args=("edit", message.id)
            )
            cancel.button(t("cancel", lang), key=f"cancel_{message.id}", on_click=stop_editing)
            return
        st.markdown(message.content)
        controls = st.columns([1, 3])
        controls[0].button(
            "✏️", key=f"edit_{message.id}", help=t("edit", lang), on_click=start_editing, args=(message.id,)
        )
        with controls[1]:
            version_switcher(conversation, message, store, lang)


def render_history(conversation: Conversation, store: Store, lang: str, base_url: str) -> None:
    turns = conversation.turns()
    if not state().get("show_all"):
        shown, kept = 0, list[list[Message]]()
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
    for position, turn in enumerate(turns):
        if turn[0].role == "user":
            render_user(conversation, turn[0], store, lang)
            turn = turn[1:]
        if not turn:
            continue
        with st.chat_message("assistant"):
            render_reply(turn, lang, base_url)
            last = position == len(turns) - 1
            controls = st.columns([1, 1, 3])
            if last:
                controls[0].button(
                    "🔄",
                    key=f"regenerate_{turn[0].id}",
                    help=t("regenerate", lang),
                    on_click=request_action,
                    args=("regenerate", turn[0].parent_id),
                )
                if turn[-1].status in (STOPPED, INTERRUPTED):
                    controls[1].button(
                        t("continue", lang), key=f"continue_{turn[-1].id}", on_click=request_action, args=("continue",)
                    )
            with controls[2]:
                version_switcher(conversation, turn[0], store, lang)


def render_usage(conversation: Conversation, store: Store, lang: str, settings: Settings, plan: TurnRequest) -> None:
    st.subheader(t("usage", lang))
    book = price_book(settings)
    window = model_catalog.lookup(settings.model).context_window
    st.markdown(f"**{t('next_request', lang)}**")
    next_cost = Totals.of([(Usage(plan.prompt_tokens), book.cost(settings.model, Usage(plan.prompt_tokens)))])
    st.caption(t("next_request_line", lang, tokens=plan.prompt_tokens, cost=money(next_cost, lang)))
    share = plan.prompt_tokens / window if window else 0.0
    st.progress(
        min(share, 1.0), text=t("context_meter", lang, percent=share * 100, tokens=plan.prompt_tokens, window=window)
    )
    today = today_totals(store)
    rows = [
        (t("last_reply", lang), conversation.last_reply_totals()),
        (t("conversation", lang), conversation.totals()),
        (t("today", lang), today),
        (t("all_time", lang), store.totals()),
    ]
    if any(row.calls for _, row in rows):
        for label, row in rows:
            usage = row.usage
            mark = f" {t('estimated', lang)}" if usage.estimated else ""
            st.markdown(
                f"**{label}**{mark}  \n"
                f"{t('prompt_tokens', lang)} {usage.prompt_tokens} · {t('completion_tokens', lang)} "
                f"{usage.completion_tokens} · {t('total_tokens', lang)} {usage.total_tokens}  \n"
                f"{t('cost', lang)} {money(row, lang)}"
            )
    else:
        st.caption(t("no_usage_yet", lang))
    st.caption(t("rate_note", lang, rate=settings.usd_cny_rate))
    for check in budget_checks(conversation, today, settings):
        label = t(f"budget_{check.scope}", lang)
        line = t(
            "budget_line",
            lang,
            label=label,
            spent=amount(check.spent, check.currency),
            limit=amount(check.limit, check.currency),
            percent=check.share * 100,
        )
        if check.level == OVER:
            st.error(line)
        elif check.level == WARNING:
            st.warning(line)
        else:
            st.caption(line)
    replies = conversation.per_reply()
    if len(replies) > 1:
        st.caption(t("chart_title", lang))
        st.bar_chart(
            {
                t("prompt_tokens", lang): [r.usage.prompt_tokens for r in replies],
                t("completion_tokens", lang): [r.usage.completion_tokens for r in replies],
            },
            height=140,
        )
        st.line_chart({"USD": [r.cost.usd for r in replies]}, height=100)
    with st.expander(t("context_view", lang)):
        render_context_view(conversation, plan, lang)


def amount(value: float, currency: str) -> str:
    return f"¥{value:.4f}" if currency == "CNY" else f"${value:.4f}"


def render_context_view(conversation: Conversation, plan: TurnRequest, lang: str) -> None:
    prefix = len([m for m in plan.messages if m["role"] == "system"])
    st.caption(t("ctx_prefix", lang, count=prefix))
    if conversation.summary and plan.summarized_ids:
        st.caption(t("ctx_summary", lang, count=len(plan.summarized_ids), text=conversation.summary.text[:200]))
    for message in conversation.messages:
        if message.role == "assistant" and message.is_empty:
            continue
        if message.id in plan.summarized_ids:
            status = "📝 " + t("ctx_summarized", lang)
        elif message.id in plan.left_out_ids:
            status = "✂️ " + t("ctx_left_out", lang)
        else:
            status = "✅ " + t("ctx_sent", lang)
        text = message.content or ", ".join(c["name"] for c in message.tool_calls)
        st.text(f"{status} · {message.role}: {text[:80]}")


# --- sidebar --------------------------------------------------------------------------------------


def chat_list(store: Store, lang: str) -> None:
    conversation: Conversation = state().conversation
    st.subheader(t("chats", lang))
    st.button(t("new_chat", lang), key="new_chat", on_click=new_chat, use_container_width=True)
    query = st.text_input(t("search_chats", lang), key="chat_search", placeholder="🔍")
    summaries = store.search(query) if query.strip() else store.recent(SIDEBAR_CHATS)
    if query.strip() and not summaries:
        st.caption(t("no_results", lang))
    for summary in summaries:
        label = summary.title or t("untitled", lang)
        st.button(
            label,
            key=f"open_{summary.id}",
            help=summary.snippet or None,
            on_click=open_chat,
            args=(store, summary.id),
            type="primary" if summary.id == conversation.id else "secondary",
            use_container_width=True,
        )
    if conversation.nodes:
        default(f"title_{conversation.id}", conversation.title)
        st.text_input(t("rename", lang), key=f"title_{conversation.id}", on_change=rename_chat, args=(store,))
        with st.popover(t("delete", lang), use_container_width=True):
            st.write(t("delete_confirm", lang, title=conversation.title))
            st.button(
                t("delete_yes", lang),
                key="delete_yes",
                type="primary",
                on_click=delete_chat,
                args=(store, conversation.id),
            )


def connection_controls(settings: Settings, lang: str) -> Settings:
    """Provider preset, base URL, key and model; returns the settings they choose."""
    presets = list(PROVIDER_PRESETS)
    default("provider", settings.provider)
    provider = st.selectbox(
        t("provider", lang), presets, format_func=lambda key: PROVIDER_PRESETS[key].label, key="provider"
    )
    if provider == LOCAL:
        return settings.with_overrides(provider=LOCAL, base_url=None, api_key=None)
    preset = PROVIDER_PRESETS[provider]
    configured = provider == settings.provider
    default(f"base_url_{provider}", (settings.base_url if configured else preset.base_url) or "")
    base_url = st.text_input(t("base_url", lang), help=t("base_url_help", lang), key=f"base_url_{provider}")
    typed_key = st.text_input(t("api_key", lang), type="password", help=t("api_key_help", lang), key="api_key_input")
    if settings.api_key and not typed_key:
        st.caption(t("api_key_from_env", lang))
    chosen = settings.with_overrides(
        provider=provider,
        base_url=base_url.strip().rstrip("/") or None,
        api_key=Secret(typed_key.strip()) if typed_key.strip() else settings.api_key,
    )
    return chosen.with_overrides(
        model=model_picker(chosen, settings.model if configured else preset.default_model, lang)
    )


def model_picker(settings: Settings, default_model: str, lang: str) -> str:
    """The models GET /models lists (cached per base URL), with free text where it lists nothing."""
    cache: dict[str, list[str]] = state().setdefault("model_lists", {})
    source = settings.base_url or "https://api.openai.com/v1"
    if source not in cache and not settings.needs_setup:
        cache[source] = fetch_models(settings.key_for_client(), settings.base_url)
    listed = cache.get(source, [])
    key = f"model_{settings.provider}"
    default(key, default_model or None)
    current = state()[key]
    options = listed if current in listed or not current else [current, *listed]
    model = st.selectbox(t("model", lang), options, accept_new_options=True, key=key)
    if not listed:
        st.caption(t("models_unlisted", lang))
    if st.button(t("refresh_models", lang), key="refresh_models"):
        cache.pop(source, None)
        st.rerun()
    return (model or "").strip()


def export_controls(conversation: Conversation, store: Store, lang: str) -> None:
    notice = state().pop("import_notice", None)
    with st.expander(t("export", lang), expanded=notice is not None):
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        buttons: list[tuple[str, str, Callable[[], str], str]] = [
            ("export_md", f"chat-{stamp}.md", lambda: exporters.to_markdown([conversation], lang), "text/markdown"),
            ("export_json", f"chat-{stamp}.json", lambda: exporters.to_json([conversation]), "application/json"),
        ]
        if conversation.last_request:
            request = conversation.last_request
            buttons += [
                ("export_python", f"request-{stamp}.py", lambda: exporters.to_python(request), "text/x-python"),
                ("export_curl", f"request-{stamp}.sh", lambda: exporters.to_curl(request), "text/x-shellscript"),
            ]

        def everything() -> list[Conversation]:
            return [c for s in store.recent(limit=100_000) if (c := store.load(s.id)) is not None]

        buttons += [
            ("export_all_md", f"chats-{stamp}.md", lambda: exporters.to_markdown(everything(), lang), "text/markdown"),
            ("export_all_json", f"chats-{stamp}.json", lambda: exporters.to_json(everything()), "application/json"),
        ]
        for key, name, data, mime in buttons:
            st.download_button(
                t(key, lang), data, file_name=name, mime=mime, key=key, on_click="ignore", use_container_width=True
            )
        upload = st.file_uploader(
            t("import", lang),
            type=["json"],
            max_upload_size=exporters.MAX_IMPORT_BYTES // (1024 * 1024),
            key="import_file",
        )
        if upload is not None and state().get("imported") != upload.file_id:
            state().imported = upload.file_id
            try:
                imported = exporters.from_json(upload.getvalue())
            except exporters.ImportFailed as error:
                st.error(t("import_failed", lang, detail=str(error)))
                return
            for item in imported:
                store.save(item if store.load(item.id) is None else item.with_new_ids())
            state().import_notice = t("import_done", lang, count=len(imported))
            st.rerun()  # the chat list above must show the imported chats
        if notice:
            st.success(notice)


def sidebar(
    settings: Settings, store: Store, lang_default: str
) -> tuple[str, Settings, str, list[str], DeltaGenerator]:
    """Draws the controls; returns language, chosen settings, template, enabled tools, and the usage panel."""
    s = state()
    with st.sidebar:
        default("ui_language", lang_default)
        lang = st.radio(
            t("language", lang_default),
            LANGUAGES,
            format_func=lambda code: {"zh": "中文", "en": "English"}[code],
            horizontal=True,
            key="ui_language",
        )
        chat_list(store, lang)
        with st.expander(t("connection", lang), expanded=settings.needs_setup or settings.is_local):
            chosen = connection_controls(settings, lang)
        default("temperature", settings.temperature)
        temperature = st.slider(t("temperature", lang), 0.0, 2.0, step=0.1, key="temperature")
        default("max_tokens", settings.max_tokens)
        max_tokens = st.number_input(t("max_tokens", lang), 1, 200_000, step=256, key="max_tokens")
        tool_names = state_registry(settings).names()
        default("tools", tool_names)
        tools = st.multiselect(t("tools", lang), tool_names, key="tools")
        default("template", DEFAULT_TEMPLATE)
        template = st.selectbox(
            t("template", lang),
            list(TEMPLATES),
            format_func=lambda key: TEMPLATES[key].name[lang],
            help=t("template_applies", lang),
            key="template",
        )
        panel = st.container()
        export_controls(s.conversation, store, lang)
        if s.conversation.last_request:
            with st.expander(t("last_request", lang)):
                st.caption(t("last_request_help", lang))
                st.json(s.conversation.last_request, expanded=False)
    chosen = chosen.with_overrides(temperature=float(temperature), max_tokens=int(max_tokens))
    return lang, chosen, template, tools, panel


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


def save(store: Store, conversation: Conversation, messages: Sequence[Message] | None, lang: str) -> None:
    """Storage trouble is reported, never lets the reply be lost: it stays in the page's state."""
    try:
        store.save(conversation, messages)
    except (sqlite3.Error, OSError) as error:
        state().storage_error = t("storage_error", lang, detail=str(error))


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


def run_turn(settings: Settings, store: Store, lang: str, template: str, tools: list[str], text: str | None) -> None:
    """Send ``text`` (None: answer again from the current leaf) and stream the reply into the conversation."""
    conversation: Conversation = state().conversation
    conversation.settings = {
        "provider": settings.provider,
        "model": settings.model,
        "template": template,
        "tools": tools,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    if text is not None:
        conversation.add_user(text, template=template)
        save(store, conversation, conversation.messages[-1:], lang)
        st.query_params["chat"] = conversation.id
        with st.chat_message("user"):
            st.markdown(text)
    executor = ToolExecutor(state_registry(settings), timeout=settings.tool_timeout, enabled=tools)
    schemas = executor.schemas()
    book = price_book(settings)
    targets = targets_for(settings)
    spec = RequestSpec(template, lang, schemas, settings.model, settings.max_tokens)
    request = build_request(conversation, spec)
    older = turns_to_summarize(conversation, request, settings.model, settings.summarize_at)
    if older:
        summarize_older(conversation, older, targets[0], book, lang)
        save(store, conversation, [], lang)
        request = build_request(conversation, spec)
    shrink = shrinker(conversation, spec, request)
    recorder = TurnRecorder(conversation, settings.model, template, book)
    limiter = rate_limiter(settings.base_url or "", settings.rate_limit_rpm, settings.rate_limit_tpm)
    runner = TurnRunner(targets, RetryPolicy(max_retries=settings.max_retries), limiter)
    params = ChatParams(settings.model, settings.temperature, settings.max_tokens)
    events = runner.run(request.messages, params, executor, settings.max_tool_rounds, shrink)
    base_url = settings.base_url or "https://api.openai.com/v1"
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
                if now - last_save >= SAVE_INTERVAL:
                    save(store, conversation, turn, lang)
                    last_save = now
    finally:
        # Runs on a normal end and on Stop alike (Streamlit stops the script inside the loop).
        events.close()
        conversation.settle_unfinished(book)
        save(store, conversation, conversation.messages[start:], lang)
    st.rerun()


def today_totals(store: Store) -> Totals:
    """Since local midnight (the server's time zone)."""
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    return store.totals(since=midnight.astimezone(UTC).isoformat(timespec="seconds"))


def budget_checks(conversation: Conversation, today: Totals, settings: Settings) -> list[BudgetCheck]:
    return check_budgets(
        conversation.totals().cost,
        today.cost,
        settings.budget_per_chat,
        settings.budget_per_day,
        settings.budget_currency,
    )


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


def release_held() -> None:
    s = state()
    s.pending = s.pop("held")
    s.budget_confirmed = True


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
        model_catalog.table()
        store = open_store(str(settings.data_dir / "chats.db"))
    except (ConfigError, model_catalog.CatalogError, sqlite3.Error, OSError) as error:
        st.error(t("config_error", pick_language("auto", st.context.locale), detail=redact(str(error))))
        st.stop()
    conversation = current_conversation(store)
    if conversation.settle_unfinished(price_book(settings)):
        store.save(conversation)
    lang_default = pick_language(settings.ui_language, st.context.locale)
    lang, chosen, template, tools, panel = sidebar(settings, store, lang_default)
    st.title(conversation.title or t("title", lang))
    effective = connect_local(chosen, lang) if chosen.is_local else chosen
    if effective is not None:
        host = urlsplit(effective.base_url).netloc if effective.base_url else "api.openai.com"
        st.caption(f"`{effective.model}` · {host}")
    if s.get("storage_error"):
        st.warning(s.pop("storage_error"))
    render_history(conversation, store, lang, (effective or chosen).base_url or "https://api.openai.com/v1")
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
    schemas = state_registry(settings).schemas(tools)
    plan = build_request(conversation, RequestSpec(template, lang, schemas, shown.model, shown.max_tokens))
    with panel:
        render_usage(conversation, store, lang, shown, plan)
    if blocked or effective is None:
        return
    action = ("prompt", prompt) if prompt and prompt.strip() else s.pop("pending", None)
    if action is None:
        return
    if not s.pop("budget_confirmed", False):
        over = [c for c in budget_checks(conversation, today_totals(store), effective) if c.level == OVER]
        if over:
            hold_for_budget(action, over[0], lang)
            return
    text, go = text_to_send(conversation, action, lang)
    if go:
        run_turn(effective, store, lang, template, tools, text)


main()
