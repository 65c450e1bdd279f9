"""The welcome of an empty chat: what answers and what it costs, and four example prompts as buttons."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from config import PROVIDER_PRESETS, Settings
from i18n import t
from prompt_templates import all_templates
from turn import Action, SendState
from ui_chat import amount, literal_markdown
from ui_session import price_book, session
from ui_sidebar import LAST_REQUEST_OPEN
from welcome import Example, Rate, examples, rate


def price_text(price: Rate, lang: str) -> str:
    if price.free:
        return t("welcome_free", lang)
    if not price.priced:
        return t("no_price", lang)
    return t(
        "welcome_price",
        lang,
        input=amount(price.input, price.currency, places=2),
        output=amount(price.output, price.currency, places=2),
    )


def try_example(example: Example, lang: str) -> None:
    """The button's callback (it runs before the script, so the sidebar drawn next shows what it set): the example's
    tools, then its prompt with its template (for that one send: the sidebar keeps the user's), sent by the next run."""
    widgets = st.session_state
    if example.tools:
        enabled = list(widgets.get("tools") or [])
        widgets["tools"] = enabled + [name for name in example.tools if name not in enabled]
    if example.opens_inspector:
        widgets[LAST_REQUEST_OPEN] = True
    session().send = SendState(pending=Action("prompt", example.text(lang), template=example.template))


def welcome(settings: Settings, tools: Sequence[str], lang: str) -> None:
    """Drawn in an empty chat with a backend connected (``settings`` are the connected ones, ``tools`` those on)."""
    send = session().send
    if settings.needs_setup or send.pending is not None or send.held is not None:
        return
    provider = PROVIDER_PRESETS[settings.provider].label
    price = price_text(rate(settings, price_book(settings)), lang)
    shown = {"provider": provider, "model": settings.model, "price": price}  # "$0.15 … $0.60" is no formula
    st.markdown(t("welcome_connected", lang, **{name: literal_markdown(text) for name, text in shown.items()}))
    if settings.is_local and not tools:
        st.caption(t("welcome_demo_tools", lang, where=f"{t('parameters', lang)} → {t('tools', lang)}"))
    st.caption(t("welcome_try", lang))
    templates = len(all_templates(settings.templates_file))
    columns = st.columns(2)
    for position, example in enumerate(examples(settings.is_local)):
        with columns[position % 2]:
            st.button(
                example.label(lang),
                key=f"welcome_{example.key}",
                on_click=try_example,
                args=(example, lang),
                width="stretch",
            )
            caption = example.caption(lang, templates)
            if caption:
                st.caption(caption)
