"""A database another process has locked: every write is reported in the page, in the UI language, and
nothing typed or received is lost (it reaches the database with the next write that works).

Each write the lock refuses waits out the store's busy timeout (10 s) first, so these tests are slow."""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app_driver import send, start
from scripted_server import Reply
from store import Store


def database() -> Path:
    return Path(os.environ["DATA_DIR"]) / "chats.db"


@contextmanager
def locked() -> Iterator[None]:
    """Holds the write lock from another connection, as a second app process or a backup tool would."""
    other = sqlite3.connect(database(), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_turn_on_a_locked_database_keeps_everything_and_saves_it_later(app_env):
    app_env.expect(Reply(text="Received before the lock."))
    at = send(start(), "before the lock")
    app_env.expect(Reply(text="Received while locked."))
    with locked():
        send(at, "typed while locked")
        assert "Could not save to the chat database (database is locked)" in at.warning[0].value
        texts = [[md.value for md in m.markdown] for m in at.chat_message]
        assert texts[-2:] == [["typed while locked"], ["Received while locked."]]
    app_env.expect(Reply(text="Received after the lock."))
    send(at, "after the lock")
    conversation = at.session_state["session"].conversation
    stored = Store(database()).load(conversation.id)
    assert [m.content for m in stored.messages] == [m.content for m in conversation.messages]
    assert "typed while locked" in [m.content for m in stored.messages]
    assert not at.warning


def test_rename_switch_version_and_delete_on_a_locked_database_are_explained_in_chinese(app_env, monkeypatch):
    monkeypatch.setenv("UI_LANGUAGE", "zh")
    app_env.expect(Reply(text="Version one."), Reply(text="Version two."))
    at = send(start(), "question")
    next(b for b in at.button if b.key.startswith("regenerate_")).click().run()
    conversation = at.session_state["session"].conversation
    with locked():
        next(b for b in at.button if b.key.startswith("prev_")).click().run()
        assert not at.exception and "无法保存到对话数据库（database is locked）" in at.warning[0].value
        assert [md.value for md in at.chat_message[-1].markdown] == ["Version one."]
        at.sidebar.text_input(key=f"title_{conversation.id}").input("Renamed while locked").run()
        assert not at.exception and "无法保存到对话数据库" in at.warning[0].value
        at.sidebar.button(key="delete_yes").click().run()
        assert not at.exception and "无法保存到对话数据库" in at.warning[0].value
        assert at.session_state["session"].conversation is conversation  # a chat that could not be deleted stays open
    app_env.expect(Reply(text="Received after the lock."))
    send(at, "after the lock")
    stored = Store(database()).load(conversation.id)
    assert stored.title == "Renamed while locked"
    contents = [m.content for m in stored.messages]
    assert contents == ["question", "Version one.", "after the lock", "Received after the lock."]
