"""The sidebar: chats, connection, generation settings, exports and imports."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import exporters
from attachments import abridged
from config import DEMO_TEMPERATURE, LOCAL, PROVIDER_PRESETS, Secret, Settings, bounds, display_url
from conversation_manager import (
    Conversation,
)
from function_tools import ToolRegistry, default_registry
from i18n import LANGUAGES, t
from llm_client import model_list
from local_servers import chat_first
from mcp_tools import McpManager
from model_router import AUTO, RouteRules, offers_auto
from prompt_templates import DEFAULT_TEMPLATE, all_templates
from store import Store
from turn import TurnChoices
from ui_approval import approval_controls
from ui_cache import cache_controls
from ui_chat import literal_markdown
from ui_chat_list import ChatList, chat_list, open_chat_places
from ui_knowledge import collection_picker, knowledge_button, knowledge_index
from ui_local_servers import adopt_local_server, provider_picked
from ui_params import parameter_controls
from ui_routing import auto_controls, chosen_task, model_label
from ui_safety import safety_status
from ui_session import default, follow_default, session
from ui_text import LazyExpander


@st.cache_resource(show_spinner=False, max_entries=1, on_release=McpManager.close)
def mcp_manager(path: str, call_seconds: float) -> McpManager:
    """The MCP servers of mcp.json: started once per app process, shared by every browser session."""
    return McpManager.start(Path(path), call_seconds)


def mcp_status(settings: Settings, lang: str) -> None:
    """Under the tools: each MCP server with how many tools it brought, or why it did not start."""
    manager = mcp_manager(str(settings.mcp_config), settings.tool_timeout)
    if manager.problem:
        st.warning(t("mcp_config_error", lang, detail=literal_markdown(manager.problem)))
    for status in manager.statuses():
        name = literal_markdown(status.name)
        if status.error:
            st.warning(t("mcp_failed", lang, name=name, detail=literal_markdown(status.error)))
        else:
            st.caption(t("mcp_ready", lang, name=name, transport=status.transport, count=len(status.tools)))


def connection_controls(settings: Settings, lang: str) -> Settings:
    """Provider preset, base URL, key and model; returns the settings they choose."""
    presets = list(PROVIDER_PRESETS)
    adopt_local_server(settings)  # nothing configured: a model server running on this machine may be the default
    default("provider", settings.provider)
    provider = st.selectbox(
        t("provider", lang),
        presets,
        format_func=lambda key: PROVIDER_PRESETS[key].label,
        key="provider",
        on_change=provider_picked,
    )
    if provider == LOCAL:
        return settings.with_overrides(provider=LOCAL, base_url=None, api_key=None)
    preset = PROVIDER_PRESETS[provider]
    configured = provider == settings.provider
    base_url = base_url_input(settings if configured else None, preset.base_url or "", provider, lang)
    typed_key = key_input(settings.for_endpoint(provider, base_url).endpoint, lang)
    chosen = settings.for_endpoint(provider, base_url, typed_key)
    if chosen.api_key is not None and chosen.api_key == settings.api_key:
        st.caption(t("api_key_from_env", lang))
    return chosen.with_overrides(
        model=model_picker(chosen, settings.model if configured else preset.default_model, lang)
    )


def base_url_input(configured: Settings | None, preset_url: str, provider: str, lang: str) -> str | None:
    """The base URL field. The `.env` URL shows as scheme, host and port only (it may carry user:password or a
    query string); left so, the `.env` URL itself is used."""
    env_url = configured.base_url if configured is not None else None
    shown = display_url(env_url) if env_url else ""
    default(f"base_url_{provider}", shown if configured is not None else preset_url)
    typed = st.text_input(t("base_url", lang), help=t("base_url_help", lang), key=f"base_url_{provider}").strip()
    if env_url and typed == shown:
        st.caption(t("base_url_from_env", lang))
        return env_url
    return typed or None


def key_input(endpoint: str, lang: str) -> str:
    """The key field belongs to one endpoint: keys typed here are remembered per endpoint for this session only
    (never stored or exported), and another endpoint shows its own key, or an empty field."""
    s, widgets = session(), st.session_state
    keys = s.typed_keys
    if s.api_key_endpoint != endpoint or "api_key_input" not in widgets:
        if "api_key_input" in widgets and s.api_key_endpoint:  # what the field last held is its endpoint's
            remember_key(keys, s.api_key_endpoint, widgets["api_key_input"])
        remembered = keys.get(endpoint)
        widgets["api_key_input"] = remembered.reveal() if remembered else ""
        s.api_key_endpoint = endpoint
    typed = st.text_input(t("api_key", lang), type="password", help=t("api_key_help", lang), key="api_key_input")
    return remember_key(keys, endpoint, typed)


def remember_key(keys: dict[str, Secret], endpoint: str, typed: str) -> str:
    """Keeps (or, when the field was cleared, forgets) the key typed for ``endpoint``; returns it."""
    key = typed.strip()
    if key:
        keys[endpoint] = Secret(key)
    else:
        keys.pop(endpoint, None)
    return key


def model_picker(settings: Settings, default_model: str, lang: str) -> str:
    """The models GET /models lists (cached per base URL), with free text where it lists nothing, and why."""
    cache = session().model_lists
    source = settings.endpoint
    if source not in cache and not settings.needs_setup:
        cache[source] = model_list(settings.key_for_client(), settings.base_url)
    found = cache.get(source)
    listed = found.ids if found else []
    here = session().found_server
    if here is not None and here.serves(source):  # a server on this machine lists embedding models too
        listed = chat_first(listed)
    key = f"model_{settings.provider}"
    default(key, default_model or None)
    current = st.session_state[key]
    options = listed if current in listed or not current else [current, *listed]
    if AUTO not in options and offers_auto(RouteRules.of(settings), listed):  # each message to a cheap or strong one
        options = [*options, AUTO]
    model = st.selectbox(
        t("model", lang), options, format_func=lambda name: model_label(name, lang), accept_new_options=True, key=key
    )
    if model == AUTO:
        auto_controls(settings, lang)
    if not listed:
        st.caption(t("models_unlisted", lang))
    if found and found.problem:  # its words may quote the provider's answer: shown literally
        st.caption(t("models_problem", lang, detail=literal_markdown(found.problem)))
    if st.button(t("refresh_models", lang), key="refresh_models"):
        cache.pop(source, None)
        st.rerun()
    return (model or "").strip()


def export_controls(conversation: Conversation, store: Store, lang: str) -> None:
    s = session()
    notice, s.import_notice = s.import_notice, None
    with st.expander(t("export", lang), expanded=notice is not None):
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        buttons: list[tuple[str, str, Callable[[], str], str]] = [
            ("export_md", f"chat-{stamp}.md", lambda: exporters.to_markdown([conversation], lang), "text/markdown"),
            ("export_json", f"chat-{stamp}.json", lambda: exporters.to_json([conversation], store), "application/json"),
        ]
        if conversation.last_request:  # read when clicked: a reply later in this run sends a newer one
            buttons += [
                ("export_python", f"request-{stamp}.py", lambda: exporters.to_python(sent()), "text/x-python"),
                ("export_curl", f"request-{stamp}.sh", lambda: exporters.to_curl(sent()), "text/x-shellscript"),
            ]

        def sent() -> dict[str, Any]:
            return conversation.last_request or {}

        def everything() -> list[Conversation]:
            return [c for s in store.recent(limit=100_000, archived=None) if (c := store.load(s.id)) is not None]

        buttons += [
            ("export_all_md", f"chats-{stamp}.md", lambda: exporters.to_markdown(everything(), lang), "text/markdown"),
            (
                "export_all_json",
                f"chats-{stamp}.json",
                lambda: exporters.to_json(everything(), store),
                "application/json",
            ),
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
        if upload is not None and s.imported != upload.file_id:
            s.imported = upload.file_id
            try:
                # checked whole, stored under fresh ids and organised as the file says, in one transaction (every
                # chat of the file, or none)
                imported = exporters.import_into(store, upload.getvalue())
            except exporters.ImportFailed as error:  # its words may quote the file: shown literally
                st.error(t("import_failed", lang, detail=literal_markdown(str(error))))
                return
            except sqlite3.Error as error:
                st.error(t("import_not_saved", lang, detail=literal_markdown(str(error))))
                return
            s.import_notice = t("import_done", lang, count=imported)
            st.rerun()  # the chat list above must show the imported chats
        if notice:
            st.success(notice)


@dataclass(frozen=True)
class Choices:
    """What the sidebar's controls say for this run, and the places of its parts that show the open chat (its entry
    and controls in the list, the usage panel, exports, the last request): the chat fragment draws those
    (app.chat_area), so a message sent redraws them and not the controls."""

    settings: Settings
    turn: TurnChoices
    chats: ChatList
    panel: DeltaGenerator
    exports: DeltaGenerator
    request: DeltaGenerator

    @property
    def lang(self) -> str:
        return self.turn.lang


def sidebar(settings: Settings, store: Store, lang_default: str) -> Choices:
    """Draws the controls and returns what they say."""
    with st.sidebar:
        default("ui_language", lang_default)
        lang = st.radio(
            t("language", lang_default),
            LANGUAGES,
            format_func=lambda code: {"zh": "中文", "en": "English"}[code],
            horizontal=True,
            key="ui_language",
        )
        chats = chat_list(store, lang)
        with st.expander(t("connection", lang), expanded=settings.needs_setup or settings.is_local):
            chosen = connection_controls(settings, lang)
            safety_status(chosen, lang)
        demo = chosen.is_local  # the demo model calls tools at random and wanders when hot: both down by default
        follow_default("temperature", min(settings.temperature, DEMO_TEMPERATURE) if demo else settings.temperature)
        default("max_tokens", settings.max_tokens)
        tool_names = state_registry(settings).names()
        follow_default("tools", [] if demo else tool_names)
        with st.expander(t("parameters", lang)):
            low, high = bounds("TEMPERATURE")
            temperature = st.slider(t("temperature", lang), float(low), float(high), step=0.1, key="temperature")
            low, high = bounds("MAX_TOKENS")
            max_tokens = st.number_input(t("max_tokens", lang), int(low), int(high), step=256, key="max_tokens")
            tools = st.multiselect(t("tools", lang), tool_names, key="tools")
            approve_all, approve_tools = approval_controls(tool_names, lang)
            mcp_status(settings, lang)
            collections = collection_picker(settings, lang)
            extras = parameter_controls(tools, lang)
            use_cache = cache_controls(settings, store, lang)
        knowledge_button(settings, lang)
        default("template", DEFAULT_TEMPLATE)
        templates = all_templates(settings.templates_file)
        template = st.selectbox(
            t("template", lang),
            list(templates),
            format_func=lambda key: templates[key].name[lang],
            help=t("template_applies", lang),
            key="template",
        )
        default("system_prompt", "")
        with st.expander(t("custom_system", lang)):
            custom_system = st.text_area(
                t("custom_system", lang), help=t("custom_system_help", lang), key="system_prompt", height=120
            )
        panel = st.container()
        exports = st.container()
        request = st.container()
    chosen = chosen.with_overrides(temperature=float(temperature), max_tokens=int(max_tokens))
    turn = TurnChoices(
        lang,
        template,
        tuple(tools),
        custom_system.strip(),
        extras,
        collections,
        approve_all=approve_all,
        approve_tools=approve_tools,
        task=chosen_task(chosen),
        use_cache=use_cache,
    )
    return Choices(chosen, turn, chats, panel, exports, request)


def chat_parts(choices: Choices, store: Store, conversation: Conversation) -> tuple[Callable[[], None], ...]:
    """The open chat's parts of the sidebar but the usage panel, in their places. Returns what draws each again, in
    place, after a reply in this run."""
    listed = open_chat_places(choices.chats, store, choices.lang)
    with choices.exports:
        export_controls(conversation, store, choices.lang)
    with choices.request:
        sent = last_request_view(conversation, choices.lang)
    return listed, sent


LAST_REQUEST_OPEN = "last_request_open"  # the last request's expander: True in Session State opens it


def last_request_view(conversation: Conversation, lang: str) -> Callable[[], None]:
    """The chat's last request as sent (images' base64 cut short), and the start of its response: drawn while its
    expander is open. Returns what draws it again after a reply in this run (that reply's request)."""
    view = LazyExpander(t("last_request", lang), LAST_REQUEST_OPEN)

    def content() -> None:
        st.caption(t("last_request_help", lang))
        st.json(abridged(conversation.last_request), expanded=False)
        sample = conversation.last_response
        if sample is not None:
            st.caption(t("last_response_help", lang, shown=len(sample.chunks), total=sample.total))
            st.json(sample.chunks, expanded=False)

    def draw() -> None:
        if conversation.last_request:
            view.draw(content)

    draw()
    return draw


def state_registry(settings: Settings) -> ToolRegistry:
    s = session()
    if s.registry is None:
        s.registry = default_registry(
            settings.weather_api_url,
            settings.geocoding_api_url,
            default_timezone=st.context.timezone or "UTC",
            knowledge=knowledge_index(settings),
        )
        for tool in mcp_manager(str(settings.mcp_config), settings.tool_timeout).tools():
            s.registry.register(tool)
    return s.registry
