"""Tools you approve: the "ask before running" switch (every tool, or some) and the calls a reply waits with.

A waiting call shows its arguments as editable JSON, with Run (the model's arguments), Edit then run (the box's,
checked as a JSON object first) and Reject (the model is told). This tab keeps the user's word on each call until
every waiting call has one; then it goes out as one action (``turn.Action("approve")``) through the same send
decision as a prompt, so a spent budget holds it like anything else, and the next turn carries it out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import streamlit as st

from conversation_manager import Conversation, Message, awaiting_approval, unanswered
from function_tools import ToolCall
from i18n import t
from llm_client import Approval
from turn import Action, SendState
from ui_chat import literal_markdown
from ui_session import default, session

DECIDED = "tool_approvals"  # this tab's word so far on the waiting calls, by call key
PROBLEMS = "tool_approval_problems"  # why a call's edited arguments were not taken, by call key
Verdict = Literal["run", "edit", "reject"]
BUTTONS: tuple[tuple[Verdict, str], ...] = (
    ("run", "approval_run"),
    ("edit", "approval_edit_run"),
    ("reject", "approval_reject"),
)


def approval_controls(tool_names: Sequence[str], lang: str) -> tuple[bool, tuple[str, ...]]:
    """The "ask before running" switch for every tool, and the tools to ask about one by one."""
    default("approve_all", False)
    default("approve_tools", [])
    chosen = st.session_state["approve_tools"]
    if any(name not in tool_names for name in chosen):  # a tool that is gone (an MCP server's) is left out
        st.session_state["approve_tools"] = [name for name in chosen if name in tool_names]
    every = st.toggle(t("approve_all", lang), key="approve_all", help=t("approve_all_help", lang))
    some = st.multiselect(
        t("approve_tools", lang), tool_names, key="approve_tools", disabled=every, help=t("approve_tools_help", lang)
    )
    return every, tuple(some)


def approval_panel(conversation: Conversation, lang: str) -> bool:
    """The calls the reply at the leaf waits with; True while it waits (so does the message box)."""
    message = awaiting_approval(conversation)
    if message is None:
        st.session_state.pop(DECIDED, None)
        st.session_state.pop(PROBLEMS, None)
        return False
    pending = session().send.pending
    going = pending is not None and pending.kind == "approve" and pending.value == message.id
    with st.container(border=True):
        st.markdown(f"**{t('approval_title', lang)}**")
        for call in unanswered(conversation.messages, message):
            _waiting_call(message, call, going, lang)
        st.caption(t("approval_going" if going else "approval_first", lang))
    return True


def _key(message: Message, call_id: str) -> str:
    """A call's key in this tab: call ids repeat from reply to reply ("call_0")."""
    return f"{message.id}_{call_id}"


def _decided() -> dict[str, Approval]:
    found: dict[str, Approval] = st.session_state.setdefault(DECIDED, {})
    return found


def _problems() -> dict[str, str]:
    found: dict[str, str] = st.session_state.setdefault(PROBLEMS, {})
    return found


def _waiting_call(message: Message, call: dict[str, str], going: bool, lang: str) -> None:
    key = _key(message, call["id"])
    st.markdown("🔧 " + t("tool_call", lang, name=literal_markdown(call["name"])))
    decided = _decided().get(key)
    if decided is not None:
        word = "run" if decided.call.arguments == call["arguments"] else "edited"
        st.caption(t(f"approval_decided_{word if decided.run else 'rejected'}", lang))
        if not going:
            st.button(t("approval_change", lang), key=f"approve_change_{key}", on_click=_forget, args=(key,))
        return
    default(f"approve_args_{key}", _pretty(call["arguments"]))
    st.text_area(t("approval_arguments", lang), key=f"approve_args_{key}", help=t("approval_arguments_help", lang))
    if problem := _problems().get(key):
        st.error(problem)
    for column, (verdict, label) in zip(st.columns(3), BUTTONS, strict=True):
        column.button(
            t(label, lang),
            key=f"approve_{verdict}_{key}",
            type="primary" if verdict == "run" else "secondary",
            help=t(f"{label}_help", lang),
            on_click=_decide,
            args=(message.id, call["id"], verdict, lang),
            use_container_width=True,
        )


def _decide(message_id: str, call_id: str, verdict: Verdict, lang: str) -> None:
    """One call's verdict; once every waiting call has one, the approval is asked for (carried out next run)."""
    conversation = session().conversation
    message = awaiting_approval(conversation)
    if message is None or message.id != message_id:
        return
    waiting = unanswered(conversation.messages, message)
    call = next((c for c in waiting if c["id"] == call_id), None)
    if call is None:
        return
    key = _key(message, call_id)
    arguments = call["arguments"]
    _problems().pop(key, None)
    if verdict == "edit":
        edited, problem = _checked(st.session_state.get(f"approve_args_{key}", ""), arguments, lang)
        if edited is None:
            _problems()[key] = problem or ""
            return
        arguments = edited
    decided = _decided()
    decided[key] = Approval(ToolCall(call_id, call["name"], arguments), run=verdict != "reject")
    keys = [_key(message, c["id"]) for c in waiting]
    if all(k in decided for k in keys):
        session().send = SendState(pending=Action("approve", message.id, tuple(decided[k] for k in keys)))


def _forget(key: str) -> None:
    _decided().pop(key, None)


def _checked(text: str, proposed: str, lang: str) -> tuple[str | None, str | None]:
    """The edited arguments as they will run (the model's own where they mean the same), or why they cannot."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        where = t("approval_json_where", lang, line=error.lineno, column=error.colno)
        return None, t("approval_bad_json", lang, detail=f"{error.msg} ({where})")
    if not isinstance(value, dict):
        return None, t("approval_not_object", lang)
    return (proposed if value == _parsed(proposed) else json.dumps(value, ensure_ascii=False)), None


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return None


def _pretty(arguments: str) -> str:
    """The model's arguments laid out to edit; as they came where they are no JSON."""
    value = _parsed(arguments)
    return arguments if value is None else json.dumps(value, ensure_ascii=False, indent=2)
