"""Property-based tests of imports (audit of issue 9): random files and mutations of valid exports.

Whatever the file holds, the import is a clear refusal (ImportFailed) with nothing stored, or chats that
are stored whole, open, render to Markdown and JSON and export again; no other exception, and a chat
already in the store never changes.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conversation_manager import Conversation, RequestSpec, build_request, history_messages
from exporters import ImportFailed, from_json, to_json, to_markdown
from store import Store
from test_exporters import CHATGPT, canonical, sample
from ui_chat import error_text

DEEP = "@@deep@@"  # replaced by nesting deeper than json.dumps can write
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINKS = {"id", "parent_id", "leaf_id", "covers", "parent", "children", "current_node"}  # where a tree is made

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)
odd_values = st.sampled_from(
    [
        "",
        "abc",
        "lots",
        "\x00",
        "\ud800",
        "yesterday",
        "9999-99-99",
        1e20,
        -1,
        10**30,
        0.5,
        True,
        [],
        {},
        [["x"]],
        {"a": 1},
        DEEP,
    ]
)


@pytest.fixture(scope="module")
def stored() -> Conversation:
    return sample()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, stored: Conversation) -> Store:
    """One store for every example, holding a chat no import may change."""
    store = Store(tmp_path_factory.mktemp("properties") / "chats.db")
    store.save(stored)
    return store


@pytest.fixture(scope="module")
def stored_ids(stored: Conversation) -> list[str]:
    """The ids of the chat already stored: mutations copy them into the file, to try to overwrite it."""
    return [stored.id, *stored.nodes]


@pytest.fixture(scope="module")
def app_export() -> Any:
    """A valid export of two chats with tool calls, usage, an interruption and an unfinished reply."""
    return json.loads(to_json([sample(), sample()]))


def paths(document: Any) -> list[tuple[Any, ...]]:
    """Every place in the document (a path of keys and indexes), the document itself first."""
    found: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        stack += [((*path, key), item) for key, item in items]
    return found


def strings_in(document: Any) -> list[str]:
    """Every string value in the document: ids among them, to point parents, leaves and covers at."""
    found, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack += value.values()
        elif isinstance(value, list):
            stack += value
        elif isinstance(value, str):
            found.append(value)
    return found


def mutate(document: Any, data: st.DataObject, store_ids: list[str]) -> Any:
    """One to four edits: a link (id, parent, leaf, cover, child) pointed at another id of the file or of the
    store (loops, dangling parents, shared ids), or any place given a new value (random or odd), removed or
    duplicated (two messages with one id)."""
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        everywhere = paths(document)[1:]
        if not everywhere:
            break
        links = [path for path in everywhere if LINKS & {str(part) for part in path[-2:]}]
        kind = data.draw(st.sampled_from(["link", "replace", "remove", "duplicate"]), label="kind")
        path = data.draw(st.sampled_from(links if kind == "link" and links else everywhere), label="path")
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if kind == "link":
            parent[key] = data.draw(st.sampled_from(strings_in(document) + store_ids), label="id")
        elif kind == "remove":
            del parent[key]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            # a copy: odd_values hands out the same objects, and a later edit inside one must not make a loop
            parent[key] = copy.deepcopy(data.draw(odd_values | json_values, label="value"))
    return document


def encode(document: Any, data: st.DataObject) -> bytes:
    """The document as a file: escaped, or raw UTF-8 (where a lone surrogate is bytes no decoder takes)."""
    ascii_only = data.draw(st.booleans(), label="ascii")
    text = json.dumps(document, ensure_ascii=ascii_only).replace(f'"{DEEP}"', "[" * 3000 + "]" * 3000)
    return text.encode("utf-8", "surrogatepass")


def snapshot(store: Store) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store.path) as db:
        return db.execute(
            "SELECT c.*, m.id, m.parent_id, m.data FROM conversations c"
            " LEFT JOIN messages m ON m.conversation_id = c.id ORDER BY c.id, m.id"
        ).fetchall()


def check_import(store: Store, raw: bytes) -> None:
    """Refused with nothing stored, or stored whole and usable everywhere, other chats untouched."""
    before = snapshot(store)
    try:
        imported = from_json(raw)
    except ImportFailed as refusal:
        assert str(refusal) and "\n" not in str(refusal)
        assert snapshot(store) == before
        event("refused", str(refusal).split(":")[0][:40])
        return
    event("imported")
    store.add(imported)
    assert set(before) <= set(snapshot(store))  # every row already stored is still there, unchanged
    for conversation in imported:
        loaded = store.load(conversation.id)
        assert loaded is not None and loaded.to_dict() == conversation.to_dict()
        opens(loaded)


def opens(conversation: Conversation) -> None:
    """What opening the chat does: the active path, its turns, the next request, Markdown, JSON and back."""
    path = conversation.messages
    assert len(path) <= len(conversation.nodes) and conversation.turns() is not None
    history_messages(path)
    build_request(conversation, RequestSpec("standard", "en", [], "gpt-4o-mini", 256))
    for message in path:
        if message.error:
            error_text(message.error, "en", "")
    for language in ("zh", "en"):
        to_markdown([conversation], language)
    (again,) = from_json(to_json([conversation]).encode())
    assert canonical(again) == canonical(conversation)


@PROPERTY
@given(data=st.data())
def test_audit_mutated_app_exports_are_refused_cleanly_or_import_whole(store, stored_ids, app_export, data):
    check_import(store, encode(mutate(app_export, data, stored_ids), data))


@PROPERTY
@given(data=st.data())
def test_audit_mutated_chatgpt_exports_are_refused_cleanly_or_import_whole(store, stored_ids, data):
    check_import(store, encode(mutate(CHATGPT, data, stored_ids), data))


@settings(max_examples=40, deadline=None)
@given(
    document=json_values
    | st.fixed_dictionaries(
        {"format": st.just("ai-chat-app/conversations")},
        optional={"version": json_values | st.integers(), "conversations": st.lists(json_values, max_size=3)},
    )
)
def test_audit_random_json_documents_are_refused_cleanly_or_import_whole(store, document):
    check_import(store, json.dumps(document).encode())


@settings(max_examples=30, deadline=None)
@given(raw=st.binary(max_size=200))
def test_audit_random_bytes_are_refused_cleanly(store, raw):
    check_import(store, raw)


@settings(max_examples=30, deadline=None)
@given(cut=st.floats(0, 1, exclude_max=True))
def test_audit_a_cut_export_is_refused_cleanly(store, app_export, cut):
    raw = json.dumps(app_export).encode()
    check_import(store, raw[: int(len(raw) * cut)])
