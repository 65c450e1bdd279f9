"""The sources under an answer that searched the knowledge base: one button per passage, opening it."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import takewhile

import streamlit as st

from conversation_manager import Message
from function_tools import CitedPassage, cited_passages
from i18n import t
from knowledge_base import SAMPLE_COLLECTION


def reply_sources(messages: Sequence[Message]) -> list[CitedPassage]:
    """The passages the knowledge tool gave the model in this reply (its tool results; failed calls give none).
    A call's result is among the tool results right after its message: ids repeat from round to round."""
    found: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        results = {m.tool_call_id: m for m in takewhile(lambda m: m.role == "tool", messages[index + 1 :])}
        answered = [(call["name"], results.get(call["id"])) for call in message.tool_calls]
        found += [(name, result.content) for name, result in answered if result is not None and not result.is_error]
    return cited_passages(found)


def render_sources(messages: Sequence[Message], lang: str) -> None:
    """A "Sources" line with a popover per passage: its document, its number, and its text as the model read it."""
    cited = reply_sources(messages)
    if not cited:
        return
    from ui_chat import literal_markdown  # ui_chat draws replies with this module, so it is imported when used

    st.caption(t("kb_sources", lang))
    with st.container(horizontal=True):
        for passage in cited:
            label = t("kb_citation", lang, document=literal_markdown(passage.document), passage=passage.passage)
            with st.popover(label):
                collection = t("kb_sample", lang) if passage.collection == SAMPLE_COLLECTION else passage.collection
                where = t("kb_citation_from", lang, collection=collection, title=passage.title)
                st.caption(literal_markdown(where))
                st.markdown(literal_markdown(passage.text))
