"""Compare on screen: the ⚖️ popover beside the chat input, the variants' columns as they stream, and the
"Keep this answer" buttons. Every decision is compare.py's; this module only draws and hands clicks in."""

from __future__ import annotations

from contextlib import closing

import streamlit as st

from compare import DEFAULT_TEMPLATES, DEFAULT_VARIANTS, LABELS, MAX_VARIANTS, MIN_VARIANTS, Comparison, Lane, Variant
from config import Settings, bounds
from conversation_manager import AWAITING, Conversation
from events import ReasoningDelta, TextDelta
from i18n import t
from prompt_templates import DEFAULT_TEMPLATE, PromptTemplate, all_templates
from stream_pacing import STREAMS, Pacer
from turn import TurnChoices
from ui_chat import literal_markdown, notice_text, render_reply
from ui_images import render_thumbnails
from ui_session import default
from ui_stream import LiveReply

COMPARISON = "comparison"  # session state: the last comparison, until one of its answers is kept


def compare_controls(settings: Settings, choices: TurnChoices, lang: str) -> list[Variant]:
    """The ⚖️ Compare popover above the chat input. Switched on, a sent message goes out under every variant it
    sets (template, model, temperature); returns those variants, or none when it is off."""
    templates = all_templates(settings.templates_file)
    with st.bottom:
        button, note = st.columns([1, 4], vertical_alignment="center")
        with button, st.popover(t("compare", lang)):
            on = st.toggle(t("compare_on", lang), key="compare_on", help=t("compare_on_help", lang))
            default("compare_count", DEFAULT_VARIANTS)
            count = st.radio(
                t("compare_count", lang), range(MIN_VARIANTS, MAX_VARIANTS + 1), horizontal=True, key="compare_count"
            )
            variants = [variant_controls(index, settings, choices, templates, lang) for index in range(count)]
        if on:
            note.caption(t("compare_active", lang, count=count))
    return variants if on else []


def variant_controls(
    index: int, settings: Settings, choices: TurnChoices, templates: dict[str, PromptTemplate], lang: str
) -> Variant:
    """One variant's row; an empty model field means the chat's current model."""
    label = LABELS[index]
    template_key, temperature_key = f"compare_template_{index}", f"compare_temperature_{index}"
    if st.session_state.get(template_key) not in templates:  # unset, or its templates file changed
        st.session_state[template_key] = next(k for k in (DEFAULT_TEMPLATES[index], DEFAULT_TEMPLATE) if k in templates)
    default(temperature_key, settings.temperature)
    st.markdown(f"**{t('compare_variant', lang, label=label)}**")
    template_column, model_column, temperature_column = st.columns([2, 2, 1])
    template = template_column.selectbox(
        t("template", lang), list(templates), format_func=lambda key: templates[key].name[lang], key=template_key
    )
    model = model_column.text_input(
        t("model", lang), key=f"compare_model_{index}", placeholder=settings.model, help=t("compare_model_help", lang)
    )
    low, high = bounds("TEMPERATURE")
    temperature = temperature_column.number_input(
        t("temperature", lang), float(low), float(high), step=0.1, key=temperature_key
    )
    return Variant(
        label, template, model.strip() or settings.model, float(temperature), settings.max_tokens, choices.extras
    )


def header(lane: Lane, lang: str) -> str:
    variant = lane.variant
    template = all_templates(lane.turn.settings.templates_file).get(variant.template)
    return t(
        "compare_header",
        lang,
        label=variant.label,
        template=template.name[lang] if template else literal_markdown(variant.template),
        model=literal_markdown(variant.model),
        temperature=variant.temperature,
    )


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def lane_figures(lane: Lane, lang: str) -> str | None:
    """Once a variant has ended, its total time and finish reason (its tokens, cost and time to the first token are
    in the reply's own usage line); None before."""
    if lane.ended is None:
        return None
    figures = lane.figures()
    finish = t("compare_awaiting", lang) if figures.finish == AWAITING else figures.finish or "—"
    return t("compare_figures", lang, total=seconds(figures.total), finish=finish)


def draw_lane(lane: Lane, lang: str, base_url: str) -> None:
    """A variant's answer, and how it ended."""
    render_reply(lane.reply, lang, base_url, notice_text(lane.turn.notice, lang))
    line = lane_figures(lane, lang)
    if line is not None:
        st.caption(line)


def run_compare(comparison: Comparison, lang: str, base_url: str) -> None:
    """Draws a comparison as it runs: the question once, then one column per variant, each streaming into a
    LiveReply (updated at its own pace while text flows). Kept in the session first, so an answer can be kept after
    Stop too."""
    st.query_params["chat"] = comparison.conversation.id
    st.session_state[COMPARISON] = comparison
    with st.chat_message("user"):
        st.markdown(literal_markdown(comparison.question.content))
        render_thumbnails(comparison.question.attachments, lang)
    with st.chat_message("assistant"):
        lives, ends = [], []
        for lane, column in zip(comparison.lanes, st.columns(len(comparison.lanes)), strict=True):
            with column:
                st.markdown(header(lane, lang))
                lives.append(LiveReply(lang, base_url))
                ends.append(st.empty())
        pacers = [Pacer() for _ in lives]
        # Closed on a normal end and on Stop alike: each variant's reply is then settled, merged and saved.
        with STREAMS.streaming(len(lives)), closing(comparison.run()) as events:
            for index, event in events:
                if not isinstance(event, TextDelta | ReasoningDelta) or pacers[index].due():
                    lane = comparison.lanes[index]
                    lives[index].draw(lane.reply, notice_text(lane.turn.notice, lang))
                    line = lane_figures(lane, lang)
                    if line is not None:
                        ends[index].caption(line)


def keep(comparison: Comparison, index: int) -> None:
    comparison.keep(index)
    st.session_state.pop(COMPARISON, None)


def compare_panel(conversation: Conversation, lang: str, base_url: str) -> None:
    """The last comparison's answers side by side, each with a button that keeps it in the chat; gone once one
    is kept, another chat is opened or a newer message is sent."""
    comparison: Comparison | None = st.session_state.get(COMPARISON)
    if comparison is None:
        return
    if comparison.conversation is not conversation or not comparison.is_open:
        st.session_state.pop(COMPARISON, None)
        return
    with st.container(border=True, key="compare_panel"):
        st.markdown(f"**{t('compare_title', lang)}**")
        st.caption(t("compare_others", lang))
        for index, (lane, column) in enumerate(zip(comparison.lanes, st.columns(len(comparison.lanes)), strict=True)):
            with column:
                st.markdown(header(lane, lang))
                st.button(
                    t("compare_keep", lang),
                    key=f"compare_keep_{index}",
                    on_click=keep,
                    args=(comparison, index),
                    use_container_width=True,
                )
                draw_lane(lane, lang, base_url)
