import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from app_driver import page_text, start
from conversation_manager import Conversation, Message, Summary, TurnRecorder
from errors import ErrorInfo
from events import Finished, Interrupted, RequestSent, TextDelta, ToolCallStarted, ToolResult, UsageReported
from exporters import EXPORT_FORMAT, ImportFailed, from_json, import_into, to_curl, to_json, to_markdown, to_python
from records import CostRecord, ErrorRecord, MessageRecord, SummaryRecord, UsageRecord
from scripted_server import Reply
from store import Store
from token_tracker import Cost, PriceBook, Usage

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "It's \"quoted\" 'text'"}],
    "stream": True,
    "stream_options": {"include_usage": True},
    "temperature": 0.2,
}


def sample() -> Conversation:
    conversation = Conversation(settings={"model": "gpt-4o-mini", "template": "react"})
    conversation.add_user("算一下 123*456", template="react")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "react", PriceBook(7.0))
    for event in [
        RequestSent(REQUEST, 1),
        UsageReported(Usage(40, 10), "gpt-4o-mini"),
        ToolCallStarted("call_1", "calculate", '{"expression": "123*456"}'),
        ToolResult("call_1", "calculate", '{"expression": "123*456", "result": 56088}'),
        TextDelta("结果是 **56088**。"),
        UsageReported(Usage(90, 8), "gpt-4o-mini"),
        Finished("stop"),
    ]:
        recorder.apply(event)
    conversation.add_user("再来一次")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "react", PriceBook(7.0))
    recorder.apply(TextDelta("部分"))
    recorder.apply(Interrupted(ErrorInfo("stream_cut", "cut")))
    return conversation


def test_json_export_has_roles_tool_calls_results_model_template_usage_and_cost():
    document = json.loads(to_json([sample()]))
    assert document["format"] == EXPORT_FORMAT
    (conversation,) = document["conversations"]
    messages = conversation["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert messages[0]["template"] == "react"
    assert messages[1]["tool_calls"] == [
        {"id": "call_1", "name": "calculate", "arguments": '{"expression": "123*456"}'}
    ]
    assert messages[2]["tool_call_id"] == "call_1" and "56088" in messages[2]["content"]
    assert messages[3]["model"] == "gpt-4o-mini"
    assert messages[3]["usage"] == {
        "prompt_tokens": 90,
        "completion_tokens": 8,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "estimated": False,
    }
    assert messages[3]["cost"]["usd"] > 0 and messages[3]["cost"]["cny"] > 0
    assert messages[5]["status"] == "interrupted" and messages[5]["content"] == "部分"
    assert conversation["totals"]["usage"]["prompt_tokens"] == 130 and conversation["totals"]["calls"] == 2
    assert conversation["settings"] == {"model": "gpt-4o-mini", "template": "react"}


def test_json_export_carries_no_key_or_base_url():
    text = to_json([sample()])
    for word in ("api_key", "base_url", "Bearer", "sk-"):
        assert word not in text


def test_json_export_scrubs_credentials_an_older_version_left_in_an_error_detail():
    conversation = Conversation()
    conversation.add_user("hi")
    recorder = TurnRecorder(conversation, "gpt-4o-mini", "standard", PriceBook(7.0))
    detail = "APIConnectionError: cannot reach http://alice:s3cr3t@10.0.0.5:8080/v1?token=qs-secret"
    recorder.apply(Interrupted(ErrorInfo("connection", detail)))
    text = to_json([conversation])
    assert "s3cr3t" not in text and "qs-secret" not in text and "alice" not in text
    assert "10.0.0.5:8080" in text


def test_an_export_without_its_current_message_imports_as_it_will_load(tmp_path):
    document = json.loads(to_json([sample()]))
    del document["conversations"][0]["leaf_id"]
    (imported,) = from_json(json.dumps(document).encode())
    assert imported.leaf_id == list(imported.nodes)[-1]
    store = Store(tmp_path / "chats.db")
    store.add([imported])
    loaded = store.load(imported.id)
    assert loaded is not None and loaded.to_dict() == imported.to_dict()


def canonical(conversation: Conversation) -> dict:
    """The conversation's dict with each id replaced by its message's position: equal when only ids differ."""
    position = {message_id: f"#{index}" for index, message_id in enumerate(conversation.nodes)}
    data = conversation.to_dict() | {"id": None, "leaf_id": position.get(conversation.leaf_id or "")}
    data["messages"] = [
        m | {"id": position[m["id"]], "parent_id": position.get(m["parent_id"] or "")} for m in data["messages"]
    ]
    if data["summary"]:
        data["summary"] = data["summary"] | {"covers": [position[i] for i in data["summary"]["covers"]]}
    return data


def test_json_round_trip_is_lossless_including_every_version_under_fresh_ids():
    original = sample()
    original.rewind_to(original.messages[0].id)
    recorder = TurnRecorder(original, "gpt-4o", "standard", PriceBook(7.0))
    recorder.apply(TextDelta("another version"))
    recorder.apply(Finished("stop"))
    original.apply_summary("they multiplied", [original.messages[0].id], "gpt-4o-mini", Usage(9, 3), Cost(0.1, 0.7))
    (restored,) = from_json(to_json([original]).encode())
    assert canonical(restored) == canonical(original)
    assert restored.id != original.id and not set(restored.nodes) & set(original.nodes)
    again = json.loads(to_json([restored]))["conversations"][0]
    assert again["totals"] == json.loads(to_json([original]))["conversations"][0]["totals"]


def organisation(store: Store) -> dict[str, tuple[bool, bool, str, tuple[str, ...]]]:
    return {s.title: (s.pinned, s.archived, s.folder, s.tags) for s in store.recent(archived=None)}


def test_json_round_trip_keeps_how_each_chat_is_organised(tmp_path):
    source = Store(tmp_path / "source.db")
    organised, plain = sample(), Conversation(title="plain")
    plain.add_user("hi")
    for chat in (organised, plain):
        source.save(chat)
    source.set_pinned(organised.id, True)
    source.set_archived(organised.id, True)
    source.set_folder(organised.id, "Work")
    source.set_tags(organised.id, ["中文", "maths"])
    exported = to_json([source.load(organised.id), source.load(plain.id)], source)
    fresh = Store(tmp_path / "fresh.db")
    assert import_into(fresh, exported.encode()) == 2
    assert organisation(fresh) == organisation(source)
    assert organisation(fresh) == {
        organised.title: (True, True, "Work", ("maths", "中文")),
        "plain": (False, False, "", ()),
    }


REFUSE_TAGS = {
    "sqlite": "CREATE TRIGGER refuse BEFORE INSERT ON conversation_tags BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    "postgresql": """
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON conversation_tags FOR EACH ROW EXECUTE FUNCTION refuse();
    """,
}


def test_an_import_whose_tags_the_database_refuses_stores_no_chat(database_url, open_stores):
    store = open_stores(database_url)
    tagged, plain = json.loads(to_json([sample(), sample()]))["conversations"]
    tagged |= {"pinned": True, "folder": "Work", "tags": ["maths"]}
    with store.transaction() as db:
        db.script(**REFUSE_TAGS)
    with pytest.raises(sqlite3.Error, match="refused"):
        import_into(store, app_export(plain, tagged))
    assert store.recent(archived=None) == []


def test_an_export_from_before_organising_and_a_chatgpt_one_import_unorganised(tmp_path):
    document = json.loads(to_json([sample()]))
    document["version"] = 2
    for key in ("pinned", "archived", "folder", "tags"):
        del document["conversations"][0][key]
    store = Store(tmp_path / "chats.db")
    assert import_into(store, json.dumps(document).encode()) == 1
    assert import_into(store, json.dumps(CHATGPT).encode()) == 1
    assert set(organisation(store).values()) == {(False, False, "", ())}


def test_the_import_records_name_every_field_of_what_they_build():
    """A field added to Message (or Usage, Cost, Summary, ErrorInfo) needs its type here, or imports drop it."""
    pairs = [(MessageRecord, Message), (UsageRecord, Usage), (CostRecord, Cost), (SummaryRecord, Summary)]
    pairs.append((ErrorRecord, ErrorInfo))
    for record, built in pairs:
        assert set(record.model_fields) == {f.name for f in fields(built)}, record


def test_a_reply_exported_while_streaming_imports_as_stopped():
    conversation = Conversation()
    conversation.add_user("q")
    TurnRecorder(conversation, "gpt-4o-mini", "standard", PriceBook(7.0)).apply(TextDelta("half"))
    (restored,) = from_json(to_json([conversation]).encode())
    assert [(m.content, m.status) for m in restored.messages] == [("q", "done"), ("half", "stopped")]


def test_markdown_export_reads_as_a_transcript():
    text = to_markdown([sample()], "zh")
    assert text.startswith("# 算一下 123*456")
    assert "## 你 · ReAct 推理+行动" in text
    assert "## 工具 · calculate" in text
    assert "结果是 **56088**。" in text
    assert "40 + 10 = 50 tokens" in text
    assert "中断原因: stream_cut" in text
    english = to_markdown([sample(), sample()], "en")
    assert "## You · ReAct" in english and "**Tool call calculate**" in english
    assert english.count("# 算一下 123*456") == 2


def test_markdown_fences_survive_backticks_in_content():
    conversation = Conversation()
    conversation.add_user("x")
    recorder = TurnRecorder(conversation, "m", "standard", PriceBook(7.0))
    recorder.apply(ToolCallStarted("c", "calculate", "{}"))
    recorder.apply(ToolResult("c", "calculate", '{"r": "```"}'))
    assert "````json" in to_markdown([conversation], "en")


def test_the_python_export_reproduces_the_request_with_the_key_from_the_environment(server, tmp_path):
    script = tmp_path / "request.py"
    script.write_text(to_python(REQUEST))
    assert "sk-" not in script.read_text()
    server.expect(Reply(text="Reproduced.", usage=(9, 2)))
    env = {"OPENAI_API_KEY": "sk-from-env-1234567890", "OPENAI_BASE_URL": server.base_url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Reproduced.")
    assert server.chat_requests()[-1] == REQUEST
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-from-env-1234567890"


def test_the_curl_export_sends_the_same_body(server, tmp_path):
    command = to_curl(REQUEST)
    assert "$OPENAI_API_KEY" in command and "sk-" not in command
    server.expect(Reply(text="Resent"))
    env = {"OPENAI_API_KEY": "sk-curl-0987654321", "OPENAI_BASE_URL": server.base_url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Resent" in run.stdout and "data: [DONE]" in run.stdout
    assert server.chat_requests()[-1] == REQUEST


CHATGPT = [
    {
        "title": "Paris trip",
        "create_time": 1700000000.0,
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["sys"]},
            "sys": {
                "id": "sys",
                "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}},
                "parent": "root",
                "children": ["u1"],
            },
            "u1": {
                "id": "u1",
                "message": {
                    "author": {"role": "user"},
                    "create_time": 1700000001.0,
                    "content": {"content_type": "text", "parts": ["Plan a day in Paris"]},
                },
                "parent": "sys",
                "children": ["a1", "a2"],
            },
            "a1": {
                "id": "a1",
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Louvre first."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
                "parent": "u1",
                "children": [],
            },
            "a2": {
                "id": "a2",
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Eiffel Tower at dawn."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
                "parent": "u1",
                "children": [],
            },
        },
    }
]


def test_chatgpt_export_imports_with_its_branches():
    (conversation,) = from_json(json.dumps(CHATGPT).encode())
    assert conversation.title == "Paris trip"
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Plan a day in Paris"),
        ("assistant", "Eiffel Tower at dawn."),
    ]
    assert len(conversation.versions(conversation.messages[-1])) == 2
    assert conversation.messages[-1].model == "gpt-4o"
    assert conversation.created_at.startswith("2023-11-14")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe not utf8", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b'{"format": "something-else"}', "not an ai-chat-app export"),
        (b"[1, 2]", "not an ai-chat-app export"),
        (b'{"format": "ai-chat-app/conversations", "conversations": [{"messages": [{"role": 5, "x": 1}]}]}', "damaged"),
    ],
)
def test_bad_imports_say_what_is_wrong(data, message):
    with pytest.raises(ImportFailed, match=message):
        from_json(data)


def test_oversized_imports_are_refused(monkeypatch):
    import exporters

    monkeypatch.setattr(exporters, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(ImportFailed, match="larger than"):
        from_json(b"[" + b" " * 20 + b"]")


# --- audit of issue 9: imports are checked whole before anything is stored ---------------------------


def app_export(*conversations: dict) -> bytes:
    return json.dumps({"format": EXPORT_FORMAT, "version": 2, "conversations": list(conversations)}).encode()


def chat_of(*messages: dict, **fields_: object) -> dict:
    return {"title": "t", "messages": list(messages)} | fields_


def user(message_id: str, parent: str | None = None, **fields_: object) -> dict:
    return {"role": "user", "content": "hi", "id": message_id, "parent_id": parent} | fields_


def stored_rows(store: Store) -> list[tuple]:
    with sqlite3.connect(store.path) as db:
        return (
            db.execute("SELECT * FROM conversations ORDER BY id").fetchall()
            + db.execute("SELECT id, conversation_id, parent_id, data FROM messages ORDER BY id").fetchall()
        )


def test_audit_chatgpt_node_that_is_its_own_child_imports_once_without_growing():
    document = [
        {
            "title": "self",
            "mapping": {
                "a": {
                    "id": "a",
                    "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}},
                    "parent": None,
                    "children": ["a", "a"],
                }
            },
        }
    ]
    (conversation,) = from_json(json.dumps(document).encode())
    assert [(m.role, m.content) for m in conversation.messages] == [("user", "hi")]
    assert len(conversation.nodes) == 1


@pytest.mark.parametrize(
    "mapping",
    [
        {"a": {"parent": "a"}},
        {"a": {"parent": "b"}, "b": {"parent": "a"}},
        {"r": {"parent": None}, "a": {"parent": "b"}, "b": {"parent": "c"}, "c": {"parent": "a"}},
    ],
    ids=["own-parent", "two-node-loop", "loop-beside-a-root"],
)
def test_audit_chatgpt_parent_loops_are_refused(mapping):
    with pytest.raises(ImportFailed, match="loop"):
        from_json(json.dumps([{"title": "x", "mapping": mapping}]).encode())


def test_audit_chatgpt_dangling_parent_is_refused():
    with pytest.raises(ImportFailed, match="parent that is not in the file"):
        from_json(json.dumps([{"mapping": {"a": {"parent": "gone"}}}]).encode())


def test_audit_app_export_with_a_parent_loop_is_refused_and_nothing_is_stored(tmp_path):
    store = Store(tmp_path / "chats.db")
    store.save(sample())
    before = stored_rows(store)
    looped = app_export(chat_of(user("a", "b"), user("b", "a"), leaf_id="a"))
    with pytest.raises(ImportFailed, match="loop"):
        from_json(looped)
    with pytest.raises(ImportFailed, match="loop"):
        from_json(app_export(chat_of(user("a", "a"))))
    assert stored_rows(store) == before


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        (chat_of(user("a"), user("b", "missing")), "parent that is not in the file"),
        (chat_of(user("a"), user("a")), "two messages share one id"),
        (chat_of(user("a"), leaf_id="elsewhere"), "current message is not in the file"),
        (chat_of(user("a"), summary={"text": "s", "covers": ["zz"]}), "summary stands for messages"),
    ],
    ids=["dangling-parent", "duplicate-id", "dangling-leaf", "dangling-summary"],
)
def test_audit_app_export_trees_that_do_not_hold_together_are_refused(conversation, message):
    with pytest.raises(ImportFailed, match=message):
        from_json(app_export(conversation))


def test_audit_imported_ids_never_overwrite_another_chat(tmp_path):
    store = Store(tmp_path / "chats.db")
    victim = sample()
    store.save(victim)
    before = stored_rows(store)
    forged = json.loads(to_json([victim]))  # the same conversation id and message ids, other content
    for message in forged["conversations"][0]["messages"]:
        message["content"] = "overwritten"
    (copy,) = from_json(json.dumps(forged).encode())
    store.add([copy])
    assert copy.id != victim.id and not set(copy.nodes) & set(victim.nodes)
    after = stored_rows(store)
    assert set(before) < set(after) and store.load(victim.id).to_dict() == victim.to_dict()
    assert store.load(copy.id).messages[0].content == "overwritten"


def deep(levels: int) -> bytes:
    return app_export(chat_of(user("a"))).replace(b'"t"', b"[" * levels + b"]" * levels)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (app_export(chat_of({"role": "assistant", "id": "a", "tool_calls": "abc"})), "tool_calls: Input should be"),
        (app_export(chat_of(user("a", usage={"prompt_tokens": "lots"}))), "usage.prompt_tokens: Input should be"),
        (app_export(chat_of(user("a", cost={"usd": "1"}))), "cost.usd: Input should be"),
        (app_export(chat_of(user("a", tool_calls=[{"id": "c", "name": 1, "arguments": "{}"}]))), "name"),
        (app_export(chat_of(user("a", error={"kind": "no-such-kind"}))), "unknown error kind"),
        (app_export(chat_of(user("a", created_at="yesterday"))), "not an ISO 8601 time"),
        (app_export(chat_of(user("a", usage={"prompt_tokens": 10**30}))), "less than or equal"),
        (app_export(chat_of(user("a", is_error="yes"))), "is_error: Input should be a valid boolean"),
        (app_export(chat_of({"role": "system", "id": "a"})), "role: Input should be"),
        (app_export(chat_of({"role": "user", "id": ["a"]})), "id: Input should be a valid string"),
        (app_export(chat_of(user("a"), settings={"temperature": "hot"})), "settings.temperature"),
        (app_export(chat_of(user("a"), settings={"temperature": 5})), "settings.temperature"),
        (app_export(chat_of(user("a"), settings={"tools": "calculate"})), "settings.tools"),
        (app_export(chat_of(user("a"), last_request=[])), "last_request: Input should be a valid dictionary"),
        (app_export(chat_of(user("a"), summary={"text": 3, "covers": []})), "summary.text"),
        (app_export(chat_of(messages={})), "messages: Input should be a valid list"),
        (app_export(chat_of(user("a"), id=["x"])), "conversations.0.id"),
        (app_export(chat_of(user("a"), pinned=1)), "conversations.0.pinned"),
        (app_export(chat_of(user("a"), tags="work")), "conversations.0.tags"),
        (app_export(chat_of(user("a"), folder=["work"])), "conversations.0.folder"),
        (app_export(chat_of(user("a", tool_call_extras={"\n": None}))), r"tool_call_extras\.'\\n': Input should be"),
        (app_export(), "no conversations"),
        (json.dumps({"format": EXPORT_FORMAT, "version": "2", "conversations": []}).encode(), "version"),
        (deep(5000), "nests deeper than"),
        (deep(150), "nests deeper than"),
        (app_export(chat_of(user("a", content="\ud800"))), "not valid Unicode"),
        (app_export(chat_of(user("a"))).replace(b'"t"', b"NaN"), "not finite"),
        (app_export(chat_of(user("a"))).replace(b'"t"', b"1e400"), "not finite"),
        (app_export(chat_of(user("a"))).replace(b'"t"', b"9" * 5000), "not valid JSON"),
        (json.dumps([{"mapping": []}]).encode(), "0.mapping: Input should be a valid dictionary"),
        (json.dumps([{"mapping": {}, "create_time": 1e20}]).encode(), "create_time"),
        (json.dumps([{"mapping": {}, "create_time": "today"}]).encode(), "create_time"),
        (json.dumps([{"mapping": {"a": {"children": "b"}}}]).encode(), "children"),
        (json.dumps([{"mapping": {"a": {"message": {"author": {"role": 1}}}}}]).encode(), "role"),
        (json.dumps([{"mapping": {"a": {"message": {"author": {"role": "u"}, "create_time": 1e20}}}}]).encode(), "ti"),
        (json.dumps([{"mapping": {"a": {"parent": ["b"]}}}]).encode(), "parent"),
    ],
)
def test_audit_every_field_is_type_checked_and_refused_in_one_clear_message(data, message):
    with pytest.raises(ImportFailed, match=message) as refused:
        from_json(data)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 300


def test_audit_a_multi_chat_import_with_one_bad_chat_stores_nothing(tmp_path):
    store = Store(tmp_path / "chats.db")
    good = json.loads(to_json([sample()]))["conversations"][0]
    with pytest.raises(ImportFailed, match="conversations.1.messages.0.usage"):
        from_json(app_export(good, chat_of(user("a", usage={"prompt_tokens": "lots"}))))
    assert store.recent() == []


def test_audit_an_imported_chat_opens_from_its_chat_link(app_env, tmp_path):
    store = Store(tmp_path / "data" / "chats.db")
    (imported, chatgpt) = from_json(to_json([sample()]).encode()) + from_json(json.dumps(CHATGPT).encode())
    store.add([imported, chatgpt])
    for conversation, expected in ((imported, "结果是"), (chatgpt, "Eiffel Tower at dawn.")):
        at = start(conversation.id)
        assert not at.exception, at.exception
        assert expected in page_text(at)


def upload(at, data: bytes):
    at.file_uploader(key="import_file").upload("chats.json", data, "application/json").run()
    assert not at.exception, at.exception
    return at


def app_store() -> Store:
    return Store(Path(os.environ["DATA_DIR"]) / "chats.db")


def test_audit_the_import_button_refuses_a_looped_file_in_one_message_and_stores_nothing(app_env):
    at = upload(start(), app_export(chat_of(user("a", "b"), user("b", "a"), leaf_id="a")))
    (error,) = at.error
    assert error.value.startswith("Import failed:") and "loop" in error.value
    assert app_store().recent() == []


def test_audit_the_import_button_stores_every_chat_of_a_file_beside_the_stored_ones(app_env):
    store = app_store()
    victim = sample()
    store.save(victim)
    at = upload(start(), to_json([victim, sample()]).encode())
    assert "Imported 2 chats" in [s.value for s in at.success]
    assert len(store.recent()) == 3 and store.load(victim.id).to_dict() == victim.to_dict()


def test_audit_a_database_error_during_import_stores_no_chat_of_the_file(app_env):
    store = app_store()
    with sqlite3.connect(store.path) as db:  # the second chat's insert fails, after the first one's
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON conversations WHEN NEW.title = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    second = sample()
    second.title = "boom"
    at = upload(start(), to_json([sample(), second]).encode())
    (error,) = at.error
    assert "nothing was imported" in error.value and "refused by the test" in error.value
    assert store.recent() == []
