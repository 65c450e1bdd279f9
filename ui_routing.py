"""The "auto" model in the sidebar (its rules, the task type) and the badge of a reply it routed (model_router)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from config import Settings
from conversation_manager import Message
from i18n import t
from model_router import AUTO, TASKS, RouteRules, rule_table
from token_tracker import Cost
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


def cost_amount(cost: Cost | None, lang: str) -> str:
    """A reply's cost as its badges say it. The dollar sign escaped: two amounts in one line would read as a formula."""
    if cost is not None and cost.local:
        return t("local_cost", lang)
    return f"\\${cost.usd:.6f}" if cost is not None and cost.priced else t("no_price", lang)


def _cost(recorded: dict[str, Any] | None) -> Cost | None:
    return Cost(**recorded) if recorded else None


def render_routed(message: Message, lang: str) -> None:
    """Above a reply "auto" routed: the model it chose, the rule and why, and its cost against the strong model's."""
    routed = message.routed
    if not routed:
        return
    model, why = literal_markdown(str(routed["model"])), literal_markdown(str(routed["why"]))
    line = t("routed_badge", lang, model=model, rule=routed["rule"], why=why)
    if routed.get("strong_cost") is not None:
        cost, strong = cost_amount(_cost(routed.get("cost")), lang), cost_amount(_cost(routed["strong_cost"]), lang)
        line += " · " + t(
            "routed_cost", lang, cost=cost, strong=literal_markdown(str(routed["strong"])), strong_cost=strong
        )
    st.caption(line)
