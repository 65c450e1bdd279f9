"""Images on screen: the detail picker above the chat input, the images a sent message brings, thumbnails, and
a message kept unsent (a model that reads no images, a refused file) until "Send again". attachments.py decides
what is taken and where images may go; this module draws and hands clicks in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st
from streamlit.typing import ChatInputValue

from attachments import DETAILS, Attachment, Detail, ImageRefused, attach_all, refusal
from config import Settings
from i18n import t
from token_tracker import image_tokens
from turn import Action, SendState
from ui_session import default, session

DETAIL_KEY = "image_detail"
UNSENT_KEY = "unsent_message"  # session state: a message kept unsent, until sent again or discarded
THUMBNAIL_WIDTH = 160


@dataclass(frozen=True)
class Unsent:
    """A message that did not go, with why (in the words of the language it was refused in)."""

    action: Action
    reasons: tuple[str, ...]


def image_controls(settings: Settings, lang: str) -> Detail:
    """The 🖼️ popover above the chat input: the detail images are sent with, and what may be attached."""
    default(DETAIL_KEY, DETAILS[0])
    label = t("image_detail", lang, detail=st.session_state[DETAIL_KEY])
    with st.bottom, st.popover(label, key="image_popover"):
        detail: Detail = st.radio(
            t("image_detail_label", lang),
            DETAILS,
            format_func=lambda option: t(f"detail_{option}", lang),
            horizontal=True,
            key=DETAIL_KEY,
            help=t("image_detail_help", lang),
        )
        st.caption(t("image_limits", lang, count=settings.image_max_count, mb=settings.image_max_mb))
    return detail


def take_uploads(
    prompt: ChatInputValue | None, detail: Detail, settings: Settings, lang: str
) -> tuple[str | None, list[Attachment]]:
    """The text and the images a sent message brings, each image checked and scaled. When a file is refused the
    message does not go: its text and the images taken wait unsent, with the reasons."""
    if prompt is None:
        return None, []
    uploads = [(file.name, file.getvalue()) for file in prompt.files]  # the content decides, not the name
    images, refused = attach_all(uploads, detail, settings.image_max_mb * 2**20, settings.image_max_count)
    if refused:
        keep_unsent(Action("prompt", prompt.text, images=tuple(images)), [refusal_text(*r, lang) for r in refused])
        return None, []
    return prompt.text, images


def refusal_text(name: str, why: ImageRefused, lang: str) -> str:
    from ui_chat import literal_markdown  # ui_chat draws thumbnails with this module, so it is imported when used

    return t(f"image_{why.reason}", lang, name=literal_markdown(name), **why.values)


def may_send(action: Action, settings: Settings, models: Sequence[str], lang: str) -> bool:
    """Whether the action goes now: a prompt with images for a model known to read none (or the local demo
    model) waits unsent instead, with why, to be sent again after switching model."""
    if not action.images:
        return True
    for model in models:
        why = refusal(model, settings.is_local)
        if why is not None:
            keep_unsent(action, [t(f"image_refused_{why}", lang, model=model)])
            return False
    return True


def keep_unsent(action: Action, reasons: Sequence[str]) -> None:
    st.session_state[UNSENT_KEY] = Unsent(action, tuple(reasons))


def unsent_panel(lang: str) -> None:
    """A message kept unsent: why, its text and images, "Send again" (checked again then) and "Discard"."""
    unsent: Unsent | None = st.session_state.get(UNSENT_KEY)
    if unsent is None:
        return
    for reason in unsent.reasons:
        st.warning(reason)
    action = unsent.action
    kept = bool(action.value or action.images)
    if kept:
        st.caption(t("unsent_title", lang))
        if action.value:
            st.code(action.value, language=None)
        render_thumbnails(action.images, lang)
    send, discard, _ = st.columns([2, 1, 3])
    if kept:
        send.button(t("send_again", lang), key="unsent_send", on_click=_send_again)
    discard.button(t("discard", lang), key="unsent_discard", on_click=_discard)


def _send_again() -> None:
    unsent: Unsent | None = st.session_state.pop(UNSENT_KEY, None)
    if unsent is not None:
        session().send = SendState(pending=unsent.action)


def _discard() -> None:
    st.session_state.pop(UNSENT_KEY, None)


def render_thumbnails(images: Sequence[Attachment], lang: str) -> None:
    """A message's images, small, each named; and the prompt tokens they take by OpenAI's published rule."""
    if not images:
        return
    from ui_chat import literal_markdown  # ui_chat draws thumbnails with this module, so it is imported when used

    names = [image.name for image in images]
    captions = [literal_markdown(name) for name in names]  # a caption is Markdown; a name (an import's) is any text
    st.image([image.raw() for image in images], caption=captions, width=THUMBNAIL_WIDTH, alt=names)
    tokens = sum(image_tokens(image.width, image.height, image.detail) for image in images)
    st.caption(t("image_tokens", lang, count=len(images), tokens=tokens))
