"""Organising chats in the sidebar (AppTest over a real SQLite file): relative dates in the browser's time zone,
pin, archive and restore, folders and tags as filters."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button, Caption

from app_driver import APP, start
from conversation_manager import Conversation
from store import Store


def app_store() -> Store:
    return Store(Path(os.environ["DATA_DIR"]) / "chats.db")


def seed(*titles: str) -> dict[str, str]:
    """Chats stored as the app stores them, the last one newest; their ids by title."""
    store, ids = app_store(), {}
    for title in titles:
        conversation = Conversation(title=title)
        conversation.add_user(f"question of {title}")
        store.save(conversation)
        ids[title] = conversation.id
    return ids


def written_at(chat_id: str, moment: datetime) -> None:
    with app_store().transaction() as db:
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (moment.isoformat(), chat_id))


def chat_buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.sidebar.button if (b.key or "").startswith("open_")]


GROUPS = re.compile(r"Pinned|Today|Yesterday|Last 7 days|Last 30 days|Date unknown|\d{4}-\d{2}")


def listed(at: AppTest) -> list[str]:
    """The list as read top to bottom: each group's caption, then its chats."""
    found = []
    for node in at.sidebar:
        if isinstance(node, Caption) and GROUPS.fullmatch(node.value):
            found.append(node.value)
        elif isinstance(node, Button) and (node.key or "").startswith("open_"):
            found.append(node.label)
    return found


def open_chat(at: AppTest, chat_id: str) -> AppTest:
    at.sidebar.button(key=f"open_{chat_id}").click().run()
    assert not at.exception, at.exception
    return at


def test_chats_show_under_relative_dates_in_the_browsers_time_zone(app_env):
    ids = seed("months ago", "last week", "just before midnight", "just after midnight")
    shanghai = ZoneInfo("Asia/Shanghai")
    midnight = datetime.now(shanghai).replace(hour=0, minute=0, second=0, microsecond=0)
    written_at(ids["just after midnight"], midnight + timedelta(seconds=1))
    written_at(ids["just before midnight"], midnight - timedelta(seconds=1))  # two seconds apart, another day there
    written_at(ids["last week"], midnight - timedelta(days=3))
    long_ago = midnight - timedelta(days=70)
    written_at(ids["months ago"], long_ago)
    at = AppTest.from_file(APP, default_timeout=60)
    at.context["timezone"] = "Asia/Shanghai"
    at.run()
    assert not at.exception, at.exception
    assert listed(at) == [
        "Today",
        "just after midnight",
        "Yesterday",
        "just before midnight",
        "Last 7 days",
        "last week",
        f"{long_ago:%Y-%m}",
        "months ago",
    ]


def test_pinning_moves_a_chat_to_the_top_group_and_unpinning_puts_it_back(app_env):
    ids = seed("older", "newer")
    at = open_chat(start(), ids["older"])
    assert listed(at) == ["Today", "newer", "older"]
    at.sidebar.button(key="pin_chat").click().run()
    assert listed(at) == ["Pinned", "older", "Today", "newer"]
    assert at.sidebar.button(key=f"open_{ids['older']}").proto.icon == ":material/push_pin:"
    assert at.sidebar.button(key="pin_chat").label == "Unpin"
    refreshed = start()  # kept in the database
    assert listed(refreshed) == ["Pinned", "older", "Today", "newer"]
    at.sidebar.button(key="pin_chat").click().run()
    assert listed(at) == ["Today", "newer", "older"]


def test_archiving_hides_a_chat_search_still_finds_it_and_restore_brings_it_back(app_env):
    ids = seed("kept chat", "archived chat")
    at = open_chat(start(), ids["archived chat"])
    at.sidebar.button(key="archive_chat").click().run()
    assert not at.exception, at.exception
    assert chat_buttons(at) == ["kept chat"]
    assert at.session_state["session"].conversation.id != ids["archived chat"]  # a new chat, as after deleting
    at.sidebar.text_input(key="chat_search").input("question of archived").run()
    assert chat_buttons(at) == ["archived chat"]
    assert at.sidebar.button(key=f"open_{ids['archived chat']}").proto.icon == ":material/archive:"
    at.sidebar.text_input(key="chat_search").input("").run()
    at.sidebar.toggle(key="show_archived").set_value(True).run()
    assert chat_buttons(at) == ["archived chat"]
    at.sidebar.button(key=f"restore_{ids['archived chat']}").click().run()
    assert not at.exception, at.exception
    assert chat_buttons(at) == [] and any(c.value == "No archived chats" for c in at.sidebar.caption)
    at.sidebar.toggle(key="show_archived").set_value(False).run()
    assert chat_buttons(at) == ["archived chat", "kept chat"]


def test_folders_and_tags_set_on_the_open_chat_filter_the_list(app_env):
    ids = seed("tax return", "holiday plan", "recipe")
    at = open_chat(start(), ids["tax return"])
    assert not [s for s in at.sidebar.selectbox if s.key in ("chat_folder_filter", "chat_tag_filter")]
    at.sidebar.multiselect(key=f"tags_{ids['tax return']}").select("money").select("2026").run()  # new tags, typed
    app_store().set_folder(ids["recipe"], "Admin")  # AppTest cannot type a new option into a selectbox
    at.run()
    at.sidebar.selectbox(key=f"folder_{ids['tax return']}").select("Admin").run()
    assert not at.exception, at.exception
    open_chat(at, ids["holiday plan"])
    at.sidebar.multiselect(key=f"tags_{ids['holiday plan']}").select("money").run()
    folder_filter = at.sidebar.selectbox(key="chat_folder_filter")
    assert folder_filter.options == ["All chats", "Admin"]
    folder_filter.select("Admin").run()
    assert chat_buttons(at) == ["recipe", "tax return"]
    at.sidebar.selectbox(key="chat_folder_filter").select(None).run()
    at.sidebar.selectbox(key="chat_tag_filter").select("money").run()
    assert chat_buttons(at) == ["holiday plan", "tax return"]
    at.sidebar.selectbox(key="chat_tag_filter").select("2026").run()
    assert chat_buttons(at) == ["tax return"]
    summary = app_store().summary(ids["tax return"])
    assert (summary.folder, summary.tags) == ("Admin", ("2026", "money"))
