"""A model server already running on this machine as the default backend when nothing is configured.

With no key and no base URL (settings.is_local), until the user picks a provider: the first server that
local_servers.Detector found sets the provider box, its base URL (127.0.0.1:<port>) and its first chat model
while the chat is empty; a badge says so, with the demo model one click away. While the first look is under
way (well under a second) the demo model is not loaded yet: a caption says what is happening, and a small
fragment reruns the page once the look has ended.
"""

from __future__ import annotations

import streamlit as st

from config import LOCAL, LocalPort, Settings
from i18n import t
from local_servers import Detector, FoundServer, Snapshot
from ui_chat import literal_markdown
from ui_session import session

LOOK_AGAIN_SECONDS = 30.0  # a run this long after the last look starts another: a server started later is found
POLL_SECONDS = 0.3  # how often the page asks whether the first look has ended


@st.cache_resource(show_spinner=False)
def detector(ports: tuple[LocalPort, ...]) -> Detector:
    """One look at these ports per app process, shared by every browser session."""
    return Detector(ports)


def _may_decide(settings: Settings) -> bool:
    """Whether what was found may choose the backend: nothing configured, nothing picked, an empty chat."""
    s = session()
    return settings.is_local and bool(settings.local_servers) and not s.provider_chosen and not s.conversation.nodes


def _look(settings: Settings) -> Snapshot:
    """What is known now; a look starts in the background when the last is older than LOOK_AGAIN_SECONDS."""
    found = detector(settings.local_servers)
    found.refresh(LOOK_AGAIN_SECONDS)
    return found.snapshot()


def _to_adopt(snapshot: Snapshot) -> FoundServer | None:
    """The server the provider box should switch to now: found, none adopted yet, the box still on the demo model.
    The app's own demo server is never one (it asks for a key, and its port is left out here too)."""
    s = session()
    if s.found_server is not None or st.session_state.get("provider", LOCAL) != LOCAL:
        return None
    return snapshot.first(not_port=s.local_server.port if s.local_server is not None else None)


def adopt_local_server(settings: Settings) -> None:
    """Before the provider box is drawn: sets it, the base URL and the model to the server found, once. The run's
    one look at the detector: whether the first look is still under way is decided here for the whole run."""
    s = session()
    s.looking = False
    if not _may_decide(settings):
        return
    snapshot = _look(settings)
    s.looking = snapshot.pending
    found = _to_adopt(snapshot)
    if found is None:
        return
    s.found_server = found
    st.session_state["provider"] = found.preset
    st.session_state[f"base_url_{found.preset}"] = found.base_url
    st.session_state[f"model_{found.preset}"] = found.models[0]


def provider_picked() -> None:
    """The provider box's on_change: the user decides from now on."""
    session().provider_chosen = True


def use_demo_model() -> None:
    s = session()
    s.provider_chosen = True
    st.session_state["provider"] = LOCAL


@st.fragment(run_every=POLL_SECONDS)
def _await_look(ports: tuple[LocalPort, ...]) -> None:
    """Asks again every POLL_SECONDS; once the first look has ended, the page runs again and uses what it found."""
    if not detector(ports).snapshot().pending:
        st.rerun()


def local_server_status(settings: Settings, chosen: Settings, lang: str) -> bool:
    """Above the chat: the badge of the server found, when it is in use; or, while the first look that would pick
    the backend is under way, a caption and True: do not load the demo model yet."""
    found = session().found_server
    if found is not None and chosen.provider == found.preset and chosen.base_url == found.base_url:
        model = literal_markdown(chosen.model)
        st.caption(t("local_server_found", lang, server=found.label, address=found.address, model=model))
        st.button(t("local_server_use_demo", lang), key="use_demo_model", on_click=use_demo_model)
        return False
    if not (chosen.is_local and session().looking):
        return False
    st.caption(t("local_server_looking", lang))
    _await_look(settings.local_servers)
    return True
