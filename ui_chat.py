"""Drawing the conversation and the usage panel from state: no decisions, only rendering."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, assert_never

import streamlit as st

import model_catalog
from budget import OVER, WARNING
from config import Settings, display_url, redact
from conversation_manager import (
    AWAITING,
    INTERRUPTED,
    STOPPED,
    Conversation,
    Message,
    RequestSpec,
    TurnRequest,
    unanswered,
)
from events import Notice, Retrying, Waiting
from formulas import normalize
from i18n import t
from rate_limiter import RateLimiter
from store import Store
from token_tracker import Totals, Usage
from turn import Spending, reply_figures
from ui_charts import bar_chart, line_chart
from ui_health import render_skipped
from ui_images import render_thumbnails
from ui_reply_parts import render_reply_parts, reply_choices
from ui_routing import cost_amount, render_routed
from ui_safety import safety_badge
from ui_session import price_book, request_action, session, start_editing, stop_editing, switch_version
from ui_sources import render_sources
from ui_text import LazyExpander, literal_markdown
from ui_tokens import render_token_lab
from ui_trace import trace_popover

VISIBLE_MESSAGES = 30
STATUS_ICONS = {"running": "spinner", "complete": ":material/check:", "error": ":material/error:"}  # as st.status


def money(totals: Totals, lang: str) -> str:
    if totals.cost.local:
        return t("local_cost", lang)
    if not totals.cost.priced:
        return t("no_price", lang)
    return f"${totals.cost.usd:.6f} · ¥{totals.cost.cny:.5f}"


def usage_line(totals: Totals, lang: str) -> str:
    usage = totals.usage
    mark = f" {t('estimated', lang)}" if usage.estimated else ""
    cached = f" ({t('cached_tokens', lang, tokens=usage.cached_tokens)})" if usage.cached_tokens else ""
    return (
        f"↑{usage.prompt_tokens}{cached} ↓{usage.completion_tokens} = {usage.total_tokens} tokens{mark} · "
        f"{money(totals, lang)}"
    )


def error_text(error: dict, lang: str, base_url: str) -> str:
    values = {"status": error.get("status"), "base_url": display_url(base_url), "param": error.get("param")}
    return t(f"err_{error['kind']}", lang, **values)


def render_tool(call: dict[str, str], result: Message | None, lang: str) -> None:
    failed = result is not None and result.is_error
    decision = call.get("decision")  # the user's, where the call waited for approval
    icon = "🚫 " if decision == "rejected" else ("⚠️ " if failed else "🔧 ")
    label = icon + t("tool_call", lang, name=call["name"])
    status: Literal["running", "complete", "error"] = (
        "running" if result is None else ("error" if failed else "complete")
    )
    with st.expander(label, icon=STATUS_ICONS[status]):  # st.status's look, without its 50 ms sleep per call
        if decision:
            st.caption(t(f"tool_decision_{decision}", lang))
        st.caption(t("tool_arguments", lang))
        st.code(call["arguments"] or "{}", language="json")
        if call.get("proposed"):
            st.caption(t("tool_proposed", lang))
            st.code(call["proposed"], language="json")
        if result is not None:
            st.caption(t("tool_error", lang) if failed else t("tool_result", lang))
            st.code(result.content, language="json")


def confirm_popover(
    label: str,
    question: str,
    yes: str,
    key: str,
    on_click: Callable[..., None],
    args: tuple[Any, ...],
    width: Literal["content", "stretch"] = "content",
) -> None:
    """A button that asks before it acts (deleting): its popover holds the question and the one button that does it."""
    with st.popover(label, width=width):
        st.markdown(question)
        st.button(yes, key=key, type="primary", on_click=on_click, args=args)


def notice_text(notice: Notice | None, lang: str) -> str | None:
    """The words for what holds the reply up (a retry, a rate-limit wait); None when nothing does."""
    match notice:
        case Retrying():
            return t("notice_retrying", lang, kind=notice.error.kind, delay=notice.delay, attempt=notice.attempt)
        case Waiting():
            return t("notice_waiting", lang, seconds=notice.seconds)
        case None:
            return None
        case _:
            assert_never(notice)


def render_reply(messages: Sequence[Message], lang: str, base_url: str, notice: str | None = None) -> None:
    """One assistant bubble: reasoning, text, tool calls with results, usage and any interruption. A reply that
    streams is drawn by ui_stream.LiveReply from the same parts, each in a place of its own."""
    results = tool_results(messages)
    for message in messages:
        if message.role != "assistant":
            continue
        render_badges(message, lang)
        if message.reasoning:
            with st.expander(t("reasoning", lang)):
                st.markdown(normalize(message.reasoning))
        for place, text in reply_choices(message, lang):
            place.markdown(normalize(text))  # formulas as Streamlit draws them, also while streaming
        render_reply_parts(message, lang)
        render_tools(message, messages, results, lang)
        render_ending(message, lang, base_url)
    render_sources(messages, lang)
    if notice:
        st.caption(notice)
    line = figures_line(messages, lang)
    if line is not None:
        st.caption(line)


def tool_results(messages: Sequence[Message]) -> dict[str | None, Message]:
    """The reply's tool results by the id of the call they answer."""
    return {m.tool_call_id: m for m in messages if m.role == "tool"}


def render_badges(message: Message, lang: str) -> None:
    """What stands above a message's text: the context it trimmed, the fallback model that wrote it."""
    if message.trimmed:
        st.info(t("context_trimmed", lang, count=message.trimmed))
    if message.fallback_from:
        kind = (message.error or {}).get("kind") or "error"
        st.caption(t("fallback_badge", lang, model=message.model, primary=message.fallback_from, kind=kind))
    safety_badge(message, lang)
    render_skipped(message, lang)
    render_routed(message, lang)
    if message.cache_saved is not None:
        st.caption(t("cached_badge", lang, saved=cost_amount(message.cache_saved, lang)))  # what it cost then


def shown_calls(message: Message, messages: Sequence[Message]) -> list[dict[str, str]]:
    """A message's tool calls as drawn with it: a call waiting for approval is the approval panel's."""
    waiting = unanswered(messages, message) if message.status == AWAITING else []
    return [call for call in message.tool_calls if call not in waiting]


def render_tools(message: Message, messages: Sequence[Message], results: dict[str | None, Message], lang: str) -> None:
    for call in shown_calls(message, messages):
        render_tool(call, results.get(call["id"]), lang)


def has_ending(message: Message) -> bool:
    """Whether render_ending has something to say about this message."""
    stopped = message.status == STOPPED or (message.status == INTERRUPTED and bool(message.error))
    return stopped or bool(message.refusal) or message.finish_reason in ("length", "content_filter")


def render_ending(message: Message, lang: str, base_url: str) -> None:
    """How a message ended, where that needs saying: stopped, interrupted (with the raw error), refused, cut."""
    if message.status == STOPPED:
        st.warning(t("status_stopped", lang))
    if message.status == INTERRUPTED and message.error:
        st.error(error_text(message.error, lang, base_url))
        with st.expander(t("raw_error", lang)):
            st.code(redact(message.error.get("detail", "")))  # also details stored before URLs were redacted
    if message.refusal:
        st.warning(t("status_refused", lang, text=message.refusal))
    if message.finish_reason == "length":
        st.warning(t("status_length", lang))
    if message.finish_reason == "content_filter":
        st.warning(t("status_filtered", lang))


def figures_line(messages: Sequence[Message], lang: str) -> str | None:
    """The reply's usage line: tokens and cost, the prompt estimate against the count, speed; None without usage."""
    figures = reply_figures(messages)
    if figures is None:
        return None
    line = usage_line(figures.totals, lang)
    if figures.estimate is not None:
        estimate, actual, diff = figures.estimate
        line += " · " + t("estimate_vs_actual", lang, estimate=estimate, actual=actual, diff=diff)
    if figures.speed is not None:
        first, rate = figures.speed
        line += " · " + t("speed", lang, first=first, rate=rate)
    return line


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
        if session().editing == message.id:
            st.text_area(t("edit", lang), value=message.content, key=f"edit_text_{message.id}")
            save, cancel, _ = st.columns([2, 1, 3])
            save.button(
                t("save_send", lang), key=f"save_{message.id}", on_click=request_action, args=("edit", message.id)
            )
            cancel.button(t("cancel", lang), key=f"cancel_{message.id}", on_click=stop_editing)
            return
        st.markdown(literal_markdown(message.content))
        render_thumbnails(message.attachments, lang)
        safety_badge(message, lang)
        controls = st.columns([1, 3])
        controls[0].button(
            "✏️", key=f"edit_{message.id}", help=t("edit", lang), on_click=start_editing, args=(message.id,)
        )
        with controls[1]:
            version_switcher(conversation, message, store, lang)


def show_all() -> None:
    """The button's callback: it runs before the page, which then draws every turn."""
    session().show_all = True


def render_history(conversation: Conversation, store: Store, lang: str, base_url: str) -> Callable[[], None] | None:
    """The chat's turns (the latest ones, unless the user asked for all). Returns what takes the last reply's own
    buttons away again (regenerate, continue), for when a newer reply is drawn after it in the same run."""
    turns = conversation.turns()
    if not session().show_all:
        shown, kept = 0, list[list[Message]]()
        for turn in reversed(turns):
            if shown >= VISIBLE_MESSAGES and kept:
                break
            kept.insert(0, turn)
            shown += len(turn)
        hidden = sum(len(turn) for turn in turns) - shown
        if hidden > 0:
            st.button(t("show_earlier", lang, count=hidden), key="show_earlier", on_click=show_all)
        turns = kept
    retire = None
    for position, turn in enumerate(turns):
        if turn[0].role == "user":
            render_user(conversation, turn[0], store, lang)
            turn = turn[1:]
        if not turn:
            continue
        with st.chat_message("assistant"):
            render_reply(turn, lang, base_url)
            retire = reply_controls(conversation, turn, store, lang, last=position == len(turns) - 1)
    return retire


def reply_controls(
    conversation: Conversation, reply: Sequence[Message], store: Store, lang: str, last: bool
) -> Callable[[], None]:
    """Under a reply: regenerate and continue (the last reply only), its wire trace, its versions. Returns what
    takes the last reply's buttons away (a newer reply drawn after it in the same run is the last one then)."""
    controls = st.columns([1, 1, 1, 3])
    regenerate, go_on = controls[0].empty(), controls[1].empty()
    if last:
        regenerate.button(
            "🔄",
            key=f"regenerate_{reply[0].id}",
            help=t("regenerate", lang),
            on_click=request_action,
            args=("regenerate", reply[0].parent_id),
        )
        if reply[-1].status in (STOPPED, INTERRUPTED):
            go_on.button(
                t("continue", lang), key=f"continue_{reply[-1].id}", on_click=request_action, args=("continue",)
            )
    with controls[2]:
        trace_popover(conversation, store, reply[0].id, lang)
    with controls[3]:
        version_switcher(conversation, reply[0], store, lang)

    def retire() -> None:
        regenerate.empty()
        go_on.empty()

    return retire


UsageFigures = Callable[[TurnRequest, Spending, Totals], None]


def render_usage(
    conversation: Conversation,
    store: Store,
    lang: str,
    settings: Settings,
    plan: TurnRequest,
    spent: Spending,
    all_time: Totals,
    spec: RequestSpec,
    limiter: RateLimiter,
) -> UsageFigures:
    """The usage panel. Returns what draws its figures again after a reply in this run: the next request and its
    breakdown, the rows and budgets, and the charts and context view while their expanders are open."""
    st.subheader(t("usage", lang))
    head = st.empty()
    breakdown = render_token_lab(conversation, store, spec, limiter, lang)
    rows = st.empty()
    charts = LazyExpander(t("chart_title", lang), "usage_charts")  # two Vega-Lite charts: a browser's dearest parts
    view = LazyExpander(t("context_view", lang), "context_view")  # a line per message

    def figures(plan: TurnRequest, spent: Spending, all_time: Totals) -> None:
        with head.container():
            next_request(plan, settings, lang)
        breakdown(plan)
        with rows.container():
            usage_rows(conversation, settings, spent, all_time, lang)
        replies = conversation.per_reply()
        if len(replies) > 1:
            charts.draw(lambda: reply_charts(replies, lang))
        view.draw(lambda: render_context_view(conversation, plan, lang))

    figures(plan, spent, all_time)
    return figures


def next_request(plan: TurnRequest, settings: Settings, lang: str) -> None:
    """What the next request sends: its tokens, their cost, and how full the model's context window is."""
    book = price_book(settings)
    window = model_catalog.lookup(settings.model).context_window
    st.markdown(f"**{t('next_request', lang)}**")
    next_cost = Totals.of([(Usage(plan.prompt_tokens), book.cost(settings.model, Usage(plan.prompt_tokens)))])
    st.caption(t("next_request_line", lang, tokens=plan.prompt_tokens, cost=money(next_cost, lang)))
    share = plan.prompt_tokens / window if window else 0.0
    st.progress(
        min(share, 1.0), text=t("context_meter", lang, percent=share * 100, tokens=plan.prompt_tokens, window=window)
    )


def usage_rows(conversation: Conversation, settings: Settings, spent: Spending, all_time: Totals, lang: str) -> None:
    """Tokens and cost of the last reply, this chat, today and all time; the budgets."""
    rows = [
        (t("last_reply", lang), conversation.last_reply_totals()),
        (t("conversation", lang), spent.chat),
        (t("today", lang), spent.today),
        (t("all_time", lang), all_time),
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
    for check in spent.checks:
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


def reply_charts(replies: Sequence[Totals], lang: str) -> None:
    """Tokens and cost per reply."""
    bar_chart(
        {
            t("prompt_tokens", lang): [r.usage.prompt_tokens for r in replies],
            t("completion_tokens", lang): [r.usage.completion_tokens for r in replies],
        },
        height=140,
    )
    line_chart("USD", [r.cost.usd for r in replies], height=100)


def amount(value: float, currency: str, places: int = 4) -> str:
    return f"¥{value:.{places}f}" if currency == "CNY" else f"${value:.{places}f}"


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
