"""The optional request parameters, in a popover of the sidebar's parameters panel.

Every control starts unset (an empty number, "default", off), and only what the user sets is sent
(``chat_params.Extras``), so the request shows exactly what was changed. A chat keeps what was set and
``restore_parameters`` puts it back into the controls when the chat is opened again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from chat_params import BOUNDS, REASONING_EFFORTS, RESPONSE_FORMATS, TOOL_CHOICES, Extras, stop_sequences
from i18n import t
from reply_format import EXAMPLE_SCHEMAS, parse_schema

UNSET = ""  # the "default (not sent)" option of every choice
KEY = "param_{}"  # the widget key of each control, by the Extras field it sets


@dataclass(frozen=True)
class _Number:
    """A numeric control: the Extras field it sets, its label and help (i18n keys) and step."""

    name: str
    label: str
    help: str
    step: float


_NUMBERS = (
    _Number("top_p", "top_p", "top_p_help", 0.05),
    _Number("presence_penalty", "presence_penalty", "penalty_help", 0.1),
    _Number("frequency_penalty", "frequency_penalty", "penalty_help", 0.1),
    _Number("seed", "seed", "seed_help", 1),
    _Number("n", "n_choices", "n_help", 1),
)
_TOP_LOGPROBS = _Number("top_logprobs", "top_logprobs", "top_logprobs_help", 1)


def _number(control: _Number, lang: str, disabled: bool = False) -> Any:
    low, high = BOUNDS[control.name]
    kind = int if isinstance(control.step, int) else float
    return st.number_input(
        t(control.label, lang),
        kind(low),
        kind(high),
        value=None,
        step=kind(control.step),
        help=t(control.help, lang),
        disabled=disabled,
        key=KEY.format(control.name),
    )


def _choice(name: str, options: Sequence[str], lang: str, disabled: bool = False) -> str | None:
    """A selectbox whose first option leaves the parameter unset (None)."""
    key = KEY.format(name)
    if st.session_state.get(key, UNSET) not in options:  # e.g. a tool that is no longer enabled
        st.session_state[key] = UNSET
    chosen = st.selectbox(
        t(name, lang),
        [UNSET, *options],
        format_func=lambda option: option or t("param_default", lang),
        help=t(f"{name}_help", lang),
        disabled=disabled,
        key=key,
    )
    return chosen or None


def _fill_example() -> None:
    """Picking an example schema puts it in the schema field, to read and edit."""
    example = st.session_state[KEY.format("schema_example")]
    if example:
        st.session_state[KEY.format("json_schema")] = json.dumps(EXAMPLE_SCHEMAS[example], indent=2)


def _schema(lang: str) -> dict[str, Any] | None:
    """The schema field (paste one or pick an example); None, with the reason shown, when it is not usable."""
    st.selectbox(
        t("schema_example", lang),
        [UNSET, *EXAMPLE_SCHEMAS],
        format_func=lambda option: option or t("schema_own", lang),
        on_change=_fill_example,
        key=KEY.format("schema_example"),
    )
    text = st.text_area(t("schema_text", lang), height=180, key=KEY.format("json_schema"))
    schema, problem = parse_schema(text)
    if problem is not None:
        st.error(t("schema_invalid", lang))
        st.code(problem, language=None)  # its words may quote the schema: shown literally
    return schema


def _tool_parameters(tool_names: Sequence[str], lang: str) -> dict[str, Any]:
    """tool_choice and parallel_tool_calls: shown without tools too (disabled), but then never set."""
    no_tools = not tool_names
    choice = _choice("tool_choice", (*TOOL_CHOICES, *tool_names), lang, disabled=no_tools)
    parallel = _choice("parallel_tool_calls", ("true", "false"), lang, disabled=no_tools)
    if no_tools:
        return {}
    return {"tool_choice": choice, "parallel_tool_calls": None if parallel is None else parallel == "true"}


def _controls(tool_names: Sequence[str], lang: str) -> Extras:
    values: dict[str, Any] = {control.name: _number(control, lang) for control in _NUMBERS}
    stop = st.text_area(t("stop", lang), help=t("stop_help", lang), height=68, key=KEY.format("stop"))
    logprobs = st.toggle(t("logprobs", lang), help=t("logprobs_help", lang), key=KEY.format("logprobs"))
    top_logprobs = _number(_TOP_LOGPROBS, lang, disabled=not logprobs)
    values |= {"stop": stop_sequences(stop), "logprobs": logprobs, "top_logprobs": top_logprobs if logprobs else None}
    values["response_format"] = _choice("response_format", RESPONSE_FORMATS, lang)
    if values["response_format"] == "json_schema":
        values["json_schema"] = _schema(lang)
        values["response_format"] = "json_schema" if values["json_schema"] is not None else None
    values |= _tool_parameters(tool_names, lang)
    values["reasoning_effort"] = _choice("reasoning_effort", REASONING_EFFORTS, lang)
    return Extras(**values)


def parameter_controls(tool_names: Sequence[str], lang: str) -> Extras:
    """Draws the optional parameters (``tool_names``: the enabled tools) and returns what they set."""
    with st.popover(t("more_parameters", lang), width="stretch"):
        st.caption(t("more_parameters_help", lang))
        extras = _controls(tool_names, lang)
    names = [name for name in extras.to_dict() if name != "json_schema"]
    if names:
        st.caption(t("parameters_set", lang, names=", ".join(f"`{name}`" for name in names)))
    return extras


def restore_parameters(extras: Extras) -> None:
    """Sets the controls to what a chat kept (before they are drawn in this run)."""
    state = st.session_state
    for control in (*_NUMBERS, _TOP_LOGPROBS):
        state[KEY.format(control.name)] = getattr(extras, control.name)
    state[KEY.format("stop")] = "\n".join(stop.replace("\n", "\\n") for stop in extras.stop)
    state[KEY.format("logprobs")] = extras.logprobs
    for name in ("tool_choice", "reasoning_effort", "response_format"):
        state[KEY.format(name)] = getattr(extras, name) or UNSET
    parallel = extras.parallel_tool_calls
    state[KEY.format("parallel_tool_calls")] = UNSET if parallel is None else str(parallel).lower()
    state[KEY.format("schema_example")] = UNSET
    schema = extras.json_schema
    state[KEY.format("json_schema")] = json.dumps(schema, indent=2, ensure_ascii=False) if schema else ""
