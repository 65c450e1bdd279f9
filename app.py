"""The Streamlit UI: renders session state and wires events. No business logic lives here.

Run with: bash scripts/run-app.sh (or streamlit run app.py)
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import app_logging
import compare
import model_catalog
from attachments import FILE_TYPES, Attachment
from budget import BudgetCheck
from compare import Comparison, PrepareTurn, Variant
from config import ConfigError, Secret, Settings, display_url, load_settings, redact
from conversation_manager import Conversation, Message, RequestSpec, TurnRequest, build_request
from events import ReasoningDelta, TextDelta
from i18n import pick_language, t
from llm_client import SummaryFailed
from local_backend import LocalBackendUnavailable, LocalModelServer, LocalModelSpec, local_spec
from prompt_templates import TemplateFileError, all_templates
from rate_limiter import RateLimiter
from rate_windows import TableLedger, bucket_of, shared_database
from response_cache import response_cache
from store import Store
from stream_pacing import STREAMS, Pacer, timed_run
from token_tracker import Totals
from turn import (
    SAVE_INTERVAL,
    Action,
    Go,
    Hold,
    Save,
    Spending,
    Turn,
    carry_out,
    decide,
    prepare,
    request_spec,
    spending,
    written_elsewhere,
)
from ui_approval import approval_panel
from ui_auth import gate, owner, pages_shown
from ui_chat import amount, literal_markdown, notice_text, render_history, render_usage, render_user, reply_controls
from ui_compare import compare_controls, compare_panel, run_compare
from ui_health import providers_panel, turn_health
from ui_images import image_controls, may_send, take_uploads, unsent_panel
from ui_local_servers import local_server_status
from ui_safety import after_reply, check_compared, held_panel, keep_sent_verdict, safe_to_send
from ui_session import (
    cancel_held,
    price_book,
    release_held,
    save_chat,
    send_or_cancel,
    session,
    show_conversation,
    started,
    unsaved,
)
from ui_sidebar import Choices, chat_parts, sidebar, state_registry
from ui_stream import LiveReply, refresh_after_reply
from ui_team import admin_panel, hard_day_budget, open_store, share_page, team_settings
from ui_titles import title_after_reply
from ui_usage import page_language
from ui_voice import voice_input
from ui_welcome import welcome

MAX_INPUT_CHARS = 32_000
MESSAGE_BOX = "chat_input"  # its key: its value is there only in the run its message started
FOLLOW_SECONDS = 2 * SAVE_INTERVAL  # a reply written elsewhere is read again this often


@st.cache_resource
def rate_limiter(base_url: str, requests_per_minute: int, tokens_per_minute: int, database: str | None) -> RateLimiter:
    """One limiter per provider, shared by every browser session of this app process; with a ``database`` its
    bookings are kept there, shared with every app process on it (rate_windows.py)."""
    ledger = TableLedger(open_store(database), bucket_of(base_url)) if database else None
    return RateLimiter(requests_per_minute, tokens_per_minute, ledger=ledger)


def limiter_for(settings: Settings) -> RateLimiter:
    """The limiter of these settings' provider, kept where RATE_LIMIT_SHARED says."""
    shared = shared_database(settings.rate_limit_shared, settings.database)
    return rate_limiter(settings.base_url or "", settings.rate_limit_rpm, settings.rate_limit_tpm, shared)


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
    session().local_models.add(spec.alias)
    session().local_server = server
    st.caption(t("local_badge", lang, model=spec.alias))
    return settings.with_overrides(base_url=server.base_url, model=spec.alias, api_key=Secret(server.api_key))


# --- a turn ----------------------------------------------------------------------------------------


def turn_preparer(settings: Settings, store: Store) -> tuple[PrepareTurn, Save]:
    """How this tab prepares a turn: its tools, prices, rate limit and saving of its chat (``unsaved()`` taken
    now: after Stop, Streamlit raises again at any session-state access, and the final save must still happen)."""
    waiting, conversation, server = unsaved(), session().conversation, session().local_server

    def save(messages: Sequence[Message]) -> bool:
        return save_chat(store, conversation, messages, waiting)

    prepared = partial(
        prepare,
        registry=state_registry(settings),
        book=price_book(settings),
        save=save,
        limiter=limiter_for(settings),
        explain=server.explain if settings.is_local and server is not None else None,
        cache=response_cache(settings, store, price_book(settings)),
        health=turn_health(settings),
    )
    return prepared, save


def start_turn(
    settings: Settings, store: Store, choices: Choices, text: str | None, images: Sequence[Attachment] = ()
) -> Turn:
    prepared, _ = turn_preparer(settings, store)
    return prepared(session().conversation, settings, replace(choices.turn, images=tuple(images)), text)


def start_compare(
    settings: Settings,
    store: Store,
    choices: Choices,
    text: str,
    variants: Sequence[Variant],
    images: Sequence[Attachment] = (),
) -> Comparison:
    """The question under every variant at once, each variant's turn on its own working copy of this tab's chat."""
    prepared, save = turn_preparer(settings, store)
    turn_choices = replace(choices.turn, images=tuple(images))
    return compare.prepare(session().conversation, text, variants, settings, turn_choices, prepared, save)


def summarize_older(turn: Turn, lang: str) -> None:
    with st.status(t("summarizing", lang)) as status:
        try:
            count = turn.summarize()
        except SummaryFailed as error:
            status.update(label=t("summary_failed", lang, detail=str(error)), state="error")
        else:
            status.update(label=t("summary_done", lang, count=count), state="complete")


def run_turn(turn: Turn, store: Store, lang: str) -> None:
    """Draws the turn as it runs: the user's message, any summary step, then the reply as its events come. The
    finished reply gets its controls in place, and a title when titling wants one."""
    conversation = turn.conversation
    drawn_before = set(conversation.nodes)  # the history drew these, their controls too
    if turn.asked is not None:
        st.query_params["chat"] = conversation.id
        render_user(conversation, conversation.messages[-1], store, lang)
    if turn.older:
        summarize_older(turn, lang)
    with st.chat_message("assistant"):
        if turn.request.dropped_messages:
            st.info(t("trimmed", lang, count=turn.request.dropped_messages))
        live, pacer = LiveReply(lang, turn.settings.endpoint), Pacer()
        # Closed on a normal end and on Stop alike (Streamlit stops the script inside the loop): the turn
        # then settles and saves the reply.
        with STREAMS.streaming(), closing(turn.run()) as events:
            for event in events:
                if not isinstance(event, TextDelta | ReasoningDelta) or pacer.due():
                    live.draw(turn.reply, notice_text(turn.notice, lang))
        live.draw(turn.reply, notice_text(turn.notice, lang))  # as settled at the end (the "auto" model's cost)
        after_reply(turn, lang)  # content safety: the reply checked and marked
        if turn.reply and turn.reply[0].id not in drawn_before:  # a reply resumed after approval has its own
            reply_controls(conversation, turn.reply, store, lang, last=True)
    title_after_reply(turn, lang)


def show_held(action: Action, check: BudgetCheck, lang: str) -> None:
    """Over budget: show what was asked and ask; "send anyway" carries it out on the next run. Over a hard budget
    (an admin's, for a signed-in person) there is no asking: only an admin can raise it."""
    label = t(f"budget_{check.scope}", lang)
    limit = amount(check.limit, check.currency)
    over = "budget_over_hard" if check.hard else "budget_over"
    st.warning(t(over, lang, label=label, spent=amount(check.spent, check.currency), limit=limit))
    st.code(action.value if action.kind == "prompt" else t(action.kind, lang), language=None)
    send_or_cancel(lang, ("send_anyway", "cancel_held"), None if check.hard else release_held, cancel_held)


def current_conversation(store: Store) -> Conversation:
    """The first run of a tab opens the chat its address names (?chat=ID), or a new one."""
    if not started():
        chat_id = st.query_params.get("chat")
        loaded = store.load(chat_id) if chat_id else None
        if loaded is not None:
            show_conversation(loaded)
        elif chat_id:  # deleted, mistyped or someone else's: the same words for each, so nothing is revealed
            session().chat_missing = True
            del st.query_params["chat"]
    return session().conversation


def settle_or_follow(store: Store, settings: Settings) -> bool:
    """A chat with a reply still marked streaming (opened while it was being written) is read again, its latest
    saved state shown. True while another app process or tab still writes it (``turn.written_elsewhere``): it is
    left alone; otherwise it was cut off (the app died), and is settled and saved."""
    conversation = session().conversation
    if not conversation.unfinished():
        return False
    fresh = None if conversation.id in unsaved() else store.load(conversation.id)
    if fresh is not None:
        session().conversation = conversation = fresh
    if written_elsewhere(conversation):
        return True
    if conversation.settle_unfinished(price_book(settings)):
        save_chat(store, conversation)
    return False


@st.fragment(run_every=FOLLOW_SECONDS)
def follow_elsewhere(drawn: float) -> None:
    """While another process or tab writes this chat's reply, the page reads it again every few seconds: it shows
    what was saved meanwhile, and settles the reply once its writer has gone quiet (crashed)."""
    if timed_run(drawn, time.monotonic(), FOLLOW_SECONDS):
        st.rerun()


def message_box(
    settings: Settings, connected: Settings | None, disabled: bool, lang: str
) -> tuple[str | None, list[Attachment]]:
    """The message box with its image picker and (``connected`` to a provider that offers it) microphone; the text
    and the checked images of what was sent."""
    detail = image_controls(settings, lang)
    if connected is not None:
        voice_input(connected, MESSAGE_BOX, lang, disabled=disabled)  # fills the message box below: drawn before it
    prompt = st.bottom.chat_input(
        t("input_placeholder", lang),
        max_chars=MAX_INPUT_CHARS,
        max_upload_size=settings.image_max_mb,
        accept_file="multiple",
        file_type=list(FILE_TYPES),
        disabled=connected is None or disabled,
        submit_mode="stop",
        key=MESSAGE_BOX,
    )
    return take_uploads(prompt, detail, settings, lang)


def go(
    action: Action, settings: Settings, store: Store, choices: Choices, variants: Sequence[Variant], lang: str
) -> bool:
    """Carries out what the user asked for now: a prompt (compared when variants are on), or an action. Whether
    the rest of the page can be completed in place: a new message's reply that ended as replies do. Otherwise the
    page is drawn again, to ask what comes next (a comparison's pick, tool calls to approve, a reply that failed
    or was cut) or to show the chat's new branch instead of the one its history drew (regenerate, edit, continue,
    approve)."""
    if action.kind == "edit":
        session().editing = None
    if action.template is not None:
        choices = replace(choices, turn=replace(choices.turn, template=action.template))
    if action.kind == "continue":  # its words are the same each time: the cache would give the same continuation
        choices = replace(choices, turn=replace(choices.turn, anew=True))
    edited = st.session_state.get(f"edit_text_{action.value}", "") if action.kind == "edit" else ""
    ask = carry_out(session().conversation, action, edited, lang)
    if ask is not None and ask.text is not None and action.kind == "prompt" and variants:
        comparison = start_compare(settings, store, choices, ask.text, variants, ask.images)
        keep_sent_verdict(comparison)  # content safety: a flagged question that went keeps its verdict
        run_compare(comparison, lang, settings.endpoint)
        check_compared(comparison, settings, lang)  # content safety: each variant's answer checked and marked
        return False
    if ask is None:
        return False
    turn = start_turn(settings, store, choices, ask.text, ask.images)
    run_turn(turn, store, lang)
    return action.kind == "prompt" and turn.ended_cleanly and not session().storage_error  # said by the next run


def page_title(place: DeltaGenerator, conversation: Conversation, lang: str) -> None:
    place.title(literal_markdown(conversation.title) if conversation.title else t("title", lang))


def usage_now(
    conversation: Conversation, store: Store, settings: Settings, shown: Settings, spec: RequestSpec
) -> tuple[TurnRequest, Spending, Totals]:
    """The usage panel's figures as the chat stands: the next request, what was spent against the budgets, and
    all-time totals."""
    today, all_time = store.today_and_all_totals()
    spent = spending(conversation.totals(), today, shown, day_hard=hard_day_budget(store, settings))
    return build_request(conversation, spec), spent, all_time


TABLE_ERRORS = (model_catalog.CatalogError, TemplateFileError)


def read_tables(settings: Settings) -> None:
    """MODELS_FILE and TEMPLATES_FILE as they are now: each is read again once it changes, so one saved broken
    while the app runs raises one of TABLE_ERRORS at the next run."""
    model_catalog.table(settings.models_file)
    all_templates(settings.templates_file)


def chat_page() -> None:
    """The chat page (the default, at the app's own address: ?chat=, ?share=)."""
    st.set_page_config(page_title="AI Chat", page_icon="💬")
    try:
        settings = load_settings()
        app_logging.configure(settings.log_level, *settings.log_secrets)
        settings = gate(settings)  # AUTH=oidc/header: only the sign-in page or a refusal gets drawn before this
        read_tables(settings)
        store = open_store(settings.database).as_user(owner())  # this session's person's things only
    except (ConfigError, *TABLE_ERRORS, sqlite3.Error, OSError) as error:
        st.error(t("config_error", pick_language("auto", st.context.locale), detail=redact(str(error))))
        st.stop()
    share_page(store, settings)  # ?share=TOKEN (signed in): that snapshot, read-only, and nothing else
    current_conversation(store)
    writing_elsewhere = settle_or_follow(store, settings)
    choices = sidebar(settings, store, pick_language(settings.ui_language, st.context.locale))
    admin_panel(store, settings, choices.lang)
    providers_panel(settings, choices.lang)
    s = session()  # held, not looked up: after Stop, Streamlit raises again at any session-state access
    s.page_run = True
    try:
        chat_area(settings, store, choices, writing_elsewhere)
    finally:
        s.page_run = False


@st.fragment(key="chat")
def chat_area(settings: Settings, store: Store, choices: Choices, writing_elsewhere: bool) -> None:
    """The open chat and the sidebar's parts that show it (its entry and controls in the list, the usage panel,
    exports, the last request). A message sent reruns only this: the sidebar's controls, which a reply does not
    change, are not sent again, sparing every browser (and the app process) the whole page at each message. Any
    other interaction in it (a reply's buttons, an example, the open chat's controls) draws the whole page again, as
    outside a fragment; while a reply streams, such a click waits for the reply to end (Streamlit lets no fragment's
    interaction cut a run short; Stop does, and so do the sidebar's controls and its other chats)."""
    s = session()
    if not s.page_run and st.session_state.get(MESSAGE_BOX) is None:
        st.rerun()
    conversation, lang = s.conversation, choices.lang
    try:
        read_tables(settings)
    except TABLE_ERRORS as error:  # saved broken since the page run, which would have said so
        st.error(t("config_error_sent", lang, detail=redact(str(error))))
        sent = st.session_state.get(MESSAGE_BOX)
        if sent is not None:
            st.code(sent.text, language=None)
        return
    chosen = team_settings(choices.settings, store)  # signed in: their own daily budget, as an admin set it now
    redraws = chat_parts(choices, store, conversation)
    usage_place = choices.panel.container()  # its place taken first: a run that fails later still holds it
    title = st.empty()
    page_title(title, conversation, lang)
    if local_server_status(settings, chosen, lang):  # still looking for a model server on this machine
        effective = None
    else:
        effective = connect_local(chosen, lang) if chosen.is_local else chosen
    if effective is not None:
        st.caption(f"`{effective.model}` · {display_url(effective.endpoint)}")
    if s.storage_error:
        st.warning(t("storage_error", lang, detail=s.storage_error))
        s.storage_error = None
    if s.chat_missing:
        st.info(t("chat_not_found", lang))
        s.chat_missing = False
    retire_last = render_history(conversation, store, lang, (effective or chosen).endpoint)
    greeting = st.empty()
    if effective is not None and not conversation.nodes:
        with greeting.container():
            welcome(effective, choices.turn.tools, lang)
    if writing_elsewhere:
        st.info(t("status_writing_elsewhere", lang))
        follow_elsewhere(time.monotonic())
    waiting = approval_panel(conversation, lang)  # tool calls wait for the user: the message box waits too
    blocked = effective is None or effective.needs_setup
    if effective is not None and effective.needs_setup:
        st.info(f"**{t('setup_title', lang)}**\n\n{t('setup_body', lang)}")
    variants = compare_controls(effective or chosen, choices.turn, lang)
    # A reply another server or tab still writes: nothing is sent into the chat until it ends (reload to see it)
    typed, images = message_box(settings, None if blocked else effective, waiting or writing_elsewhere, lang)
    shown = effective or chosen
    schemas = state_registry(settings).schemas(list(choices.turn.tools))
    spec = request_spec(shown, choices.turn, schemas)
    plan, spent, all_time = usage_now(conversation, store, settings, shown, spec)
    limiter = limiter_for(shown)
    with usage_place:
        figures = render_usage(conversation, store, lang, shown, plan, spent, all_time, spec, limiter)
    if blocked or effective is None:
        return
    decision, s.send = decide(typed, s.send, spent.over, images)
    models = [effective.model, *(variant.model for variant in variants)]
    if isinstance(decision, Go) and not may_send(decision.action, effective, models, lang):
        decision = None  # kept unsent, with why
    if isinstance(decision, Go) and not safe_to_send(decision.action, effective, lang):
        decision = None  # flagged (SAFETY=block): kept unsent, with why
    if isinstance(decision, Hold):
        show_held(decision.action, decision.check, lang)
    elif isinstance(decision, Go):
        greeting.empty()  # the chat starts: its welcome and example prompts make way for it
        if not go(decision.action, effective, store, choices, variants, lang):
            refresh_after_reply(time.monotonic())
            return
        # What the reply changed elsewhere, drawn in place: a page run at once would drop the reply's last updates
        # not yet sent, and a refresh would draw the whole page again (every session's browser too) for these few.
        if retire_last is not None:  # the reply above is no longer the last: its regenerate and continue go
            retire_last()
        page_title(title, conversation, lang)
        for draw in redraws:
            draw()
        figures(*usage_now(conversation, store, settings, shown, spec))
    else:
        unsent_panel(lang)
        held_panel(lang)
        compare_panel(conversation, lang, effective.endpoint)


@st.cache_resource(show_spinner=False)
def freeze_startup_objects() -> None:
    """Once per process, at its first page run: what exists by then (Streamlit, the SDKs, our tables, and that first
    run's own few objects, kept for good) is moved out of the garbage collector's reach (``gc.freeze``). Otherwise
    a full collection walked it all about once a minute under load, 90-130 ms holding the GIL while every session's
    stream stood still (bench/NOTES.md)."""
    gc.freeze()


def main() -> None:
    """The pages, in the sidebar's navigation: the chat, and the usage log (ui_usage.py, at /usage)."""
    freeze_startup_objects()
    lang = page_language()
    chat = st.Page(chat_page, title=t("page_chat", lang), icon="💬", default=True)
    usage = st.Page("ui_usage.py", title=t("page_usage", lang), icon="📊", url_path="usage")
    try:
        shown = pages_shown(load_settings())
    except ConfigError:
        shown = False  # the page says what is wrong with the settings, and nothing else
    st.navigation([chat, usage], position="sidebar" if shown else "hidden").run()


main()
