"""Saving while a reply streams (turn.Turn.run): at most SAVE_INTERVAL lost in a crash, and each save writes only the
messages that can have changed since the one before. Real turn against the scripted server, real SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from config import Settings
from conversation_manager import Conversation, Message
from function_tools import default_registry
from scripted_server import Reply
from store import Store
from token_tracker import PriceBook
from turn import SAVE_INTERVAL, TurnChoices, prepare


def test_each_save_while_streaming_writes_what_changed_and_leaves_the_file_as_the_reply_is(
    settings: Settings, store: Store, server
):
    server.expect(
        Reply(tool_calls=[("calculate", '{"expression": "2*21"}')], usage=(20, 5)),
        Reply(text="It is 42, as the calculator says.", usage=(30, 8)),
    )
    conversation = Conversation()
    written: list[list[str]] = []
    as_saved: list[bool] = []

    def save(messages: Sequence[Message]) -> bool:
        store.save(conversation, messages)
        written.append([m.id for m in messages])
        stored = store.load(conversation.id)  # what a crash right now would leave
        assert stored is not None
        as_saved.append([m.to_dict() for m in stored.messages] == [m.to_dict() for m in conversation.messages])
        return True

    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url)
    choices = TurnChoices("en", "default", ("calculate",))
    turn = prepare(conversation, settings, choices, "2*21?", registry=registry, book=PriceBook(7.0), save=save)
    ticks = count(step=SAVE_INTERVAL)  # a save is due after every event
    list(turn.run(clock=lambda: float(next(ticks))))

    first, tool, answer = turn.reply
    assert [m.role for m in (first, tool, answer)] == ["assistant", "tool", "assistant"]
    assert all(as_saved)  # after every save the file holds the whole chat as it was then
    user_write, *periodic, final = written
    assert user_write == [conversation.messages[0].id]  # the question, saved before it is sent
    assert final == [first.id, tool.id, answer.id]  # the last save writes the reply whole
    assert len(periodic) > 3
    assert periodic[0] == [first.id]
    assert periodic[-1] == [answer.id]  # once the answer streams, the finished first round is not written again
