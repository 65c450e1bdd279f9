"""The "auto" model in the sidebar (its rules, the task type) and the badge of a reply it routed (model_router)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from config import Settings
from conversation_manager import Message
from i18n import t
from model_router import AUTO, TASKS, RouteRules, rule_table
from ui_session import default
from ui_text import literal_markdown

TASK_KEY = "auto_task"


def auto_controls(settings: Settings, lang: str) -> None:
    """Under the model picker when "auto" is chosen: the rules, read-only with where to change them, and the task
    type, which decides before them."""
    st.caption(t("auto_rules", lang))
    st.table(rule_table(RouteRules.of(settings), lang))
    st.caption(t("auto_rules_edit", lang))
    default(TASK_KEY, "")
    st.selectbox(
        t("auto_task", lang),
        TASKS,
        format_func=lambda task: t(f"task_{task}", lang),
        help=t("auto_task_help", lang),
        key=TASK_KEY,
    )


def chosen_task(settings: Settings) -> str:
    """The task type picked for "auto"; "" (the rules decide) when another model is chosen."""
    return str(st.session_state.get(TASK_KEY, "")) if settings.model == AUTO else ""


def model_label(model: str, lang: str) -> str:
    """The model picker's words for an option: "auto" explained, any other model as it is named."""
    return t("auto_model", lang) if model == AUTO else model


def _money(cost: dict[str, Any] | None, lang: str) -> str:
    if not cost or not cost.get("priced", True):
        return t("no_price", lang)
    # The dollar sign escaped: two amounts in one line would read as a formula.
    return t("local_cost", lang) if cost.get("local") else f"\\${cost.get('usd', 0.0):.6f}"


def render_routed(message: Message, lang: str) -> None:
    """Above a reply "auto" routed: the model it chose, the rule and why, and its cost against the strong model's."""
    routed = message.routed
    if not routed:
        return
    model, why = literal_markdown(str(routed["model"])), literal_markdown(str(routed["why"]))
    line = t("routed_badge", lang, model=model, rule=routed["rule"], why=why)
    if routed.get("strong_cost") is not None:
        cost, strong = _money(routed.get("cost"), lang), _money(routed["strong_cost"], lang)
        line += " · " + t(
            "routed_cost", lang, cost=cost, strong=literal_markdown(str(routed["strong"])), strong_cost=strong
        )
    st.caption(line)
