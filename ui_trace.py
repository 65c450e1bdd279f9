"""A reply's wire trace, opened from the reply itself: each HTTP request of its turn with the body as sent, the
status, the useful headers and the response line by line with arrival times; a JSON download; each request as
Python, curl or JavaScript. Drawn only while its popover is open, so closed ones cost nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

import exporters
from attachments import abridged
from conversation_manager import Conversation
from i18n import t
from store import Store
from wire_trace import first_token_ms

CODE_TABS = (("python", "Python", "python"), ("curl", "curl", "bash"), ("javascript", "JavaScript", "javascript"))


def reply_traces(conversation: Conversation, store: Store, reply_id: str) -> list[dict[str, Any]]:
    """The saved rounds of a reply, then those not saved yet."""
    return store.traces(reply_id) + conversation.traces.get(reply_id, [])


def trace_popover(conversation: Conversation, store: Store, reply_id: str, lang: str) -> None:
    """The popover in a reply's controls row."""
    popover = st.popover(
        t("trace", lang), icon="🔍", help=t("trace_help", lang), key=f"trace_{reply_id}", on_change="rerun"
    )
    if not popover.open:
        return
    with popover:
        traces = reply_traces(conversation, store, reply_id)
        if not traces:
            st.caption(t("trace_none", lang))
            return
        st.download_button(
            t("trace_download", lang),
            exporters.traces_to_json(reply_id, traces),
            file_name=f"trace-{reply_id}.json",
            mime="application/json",
            key=f"trace_download_{reply_id}",
            on_click="ignore",
        )
        for number, trace in enumerate(traces):
            if number:
                st.divider()
            render_round(trace, lang)


def render_round(trace: Mapping[str, Any], lang: str) -> None:
    """One request: what went, what came back and when, and the request as code."""
    purpose = t(f"trace_purpose_{trace.get('purpose', 'answer')}", lang)
    st.markdown(f"**{t('trace_round', lang, round=trace.get('round', 0), purpose=purpose)}**")
    body = _request_body(trace)
    model = body.get("model", "") if isinstance(body, dict) else ""
    status = trace.get("status")
    answer = f"HTTP {status}" if status else t("trace_no_response", lang)
    st.text(f"{trace.get('method', 'POST')} {trace.get('url', '')} · {model} → {answer}")
    lines = trace.get("lines") or []
    timing = [t("trace_timing", lang, first=lines[0]["ms"] if lines else 0, total=trace.get("total_ms") or 0)]
    ttft = first_token_ms(trace)
    if ttft is not None:
        timing.append(t("trace_ttft", lang, ms=ttft))
    st.caption(" · ".join(timing))
    if trace.get("error"):
        st.caption(t("trace_error", lang))
        st.code(str(trace["error"]), language=None, wrap_lines=True)
    if trace.get("headers"):
        st.caption(t("trace_headers", lang))
        st.json(trace["headers"], expanded=True)
    st.caption(t("trace_request", lang))
    st.json(abridged(body), expanded=False)  # images' base64 cut short: the page sends what it shows on every run
    st.caption(t("trace_lines", lang))
    st.code("\n".join(f"{line['ms']:>9.1f}  {line['text']}" for line in lines if line["text"]), language=None)
    if trace.get("dropped_lines"):
        st.caption(t("trace_dropped", lang, lines=trace["dropped_lines"], size=trace.get("dropped_bytes", 0)))
    code = exporters.round_code(trace)
    if code:
        st.caption(t("trace_code", lang))
        for tab, (language, _, highlight) in zip(st.tabs([name for _, name, _ in CODE_TABS]), CODE_TABS, strict=True):
            tab.code(code[language], language=highlight)


def _request_body(trace: Mapping[str, Any]) -> Any:
    """The body as JSON to browse, or as the text it was when it is not JSON."""
    text = str(trace.get("request_body") or "")
    try:
        return json.loads(text)
    except ValueError:
        return {"request_body": text}
