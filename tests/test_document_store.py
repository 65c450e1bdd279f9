"""The knowledge base in the chats' database, SQLite and PostgreSQL: indexing, BM25 ranking in English and Chinese,
collections, deleting, the bundled sample, each owner's own documents, and the tool the model calls through a real
turn against the scripted server."""

from __future__ import annotations

import json
import sqlite3

import pytest

from config import load_settings
from conversation_manager import Conversation
from document_store import DocumentStore, match_query
from documents import Limits, Refused, read_document
from function_tools import ToolCall, ToolExecutor, cited_passages, default_registry
from knowledge_base import KNOWLEDGE_DIR, SAMPLE_COLLECTION
from scripted_server import Reply, ScriptedServer
from storage_backend import POSTGRESQL
from store import MIGRATIONS, Store
from token_tracker import PriceBook
from turn import TurnChoices, prepare

LIMITS = Limits.of(1, 100)


@pytest.fixture
def index(database_url, open_stores) -> DocumentStore:
    """The knowledge base of a new store of each kind: a SQLite file, then a PostgreSQL database."""
    return DocumentStore(open_stores(database_url))


def add(index: DocumentStore, collection: str, name: str, text: str) -> int:
    return index.add(collection, read_document(name, text.encode(), LIMITS)).id


def rows(index: DocumentStore, table: str) -> int:
    """How many rows a table holds; "passages_fts": how many passages the search index holds, in either dialect."""
    if table == "passages_fts" and index.store.dialect == POSTGRESQL:
        table = "(SELECT DISTINCT passage_id FROM passage_terms) AS indexed"
    with index.store.connection() as db:
        return int(db.execute(f"SELECT COUNT(*) AS n FROM {table}").fetchone()["n"])  # noqa: S608 - a table of ours


def test_the_tables_come_with_the_migration_m007_documents(index):
    assert "m007_documents" in index.store.migrations()
    assert index.collections() == [] and index.search("anything") == []


def test_english_ranking_puts_the_passage_with_more_and_rarer_words_first(index):
    add(index, "notes", "retry.md", "Retry with exponential backoff and jitter; retry again after backoff.")
    add(index, "notes", "long.md", "Tokens and cost. " * 20 + "A retry may help. " + "Tokens and cost. " * 20)
    add(index, "notes", "tokens.md", "Tokens cost money; count tokens before sending.")
    hits = index.search("retry backoff", top_k=5)
    assert [hit.source for hit in hits] == ["retry.md", "long.md"]
    assert hits[0].score > hits[1].score > 0
    rare_first = index.search("tokens jitter", top_k=5)  # "jitter" is in one passage, "tokens" in two
    assert rare_first[0].source == "retry.md"
    assert [hit.score for hit in rare_first] == sorted((hit.score for hit in rare_first), reverse=True)


def test_chinese_is_found_by_its_bigrams_and_ranked_by_them(index):
    add(index, "笔记", "中断.md", "流式输出被中断时，应保留已收到的文本，并提供继续生成。")
    add(index, "笔记", "价格.md", "价格按词元计算，输入和输出分别计价。")
    add(index, "笔记", "协议.md", "流式传输使用 SSE 协议，每行以 data: 开头。")
    hits = index.search("流式输出中断怎么办", top_k=5)
    assert hits[0].source == "中断.md"  # 流式 式输 输出 中断: the most words
    assert {hit.source for hit in hits} == {"中断.md", "价格.md", "协议.md"}  # 输出, 流式
    assert index.search("继续生成", top_k=1)[0].source == "中断.md"
    assert index.search("SSE 协议", top_k=1)[0].source == "协议.md"  # English and Chinese in one query
    assert index.search("量子纠缠") == []


def test_a_query_is_made_of_quoted_words_so_nothing_typed_breaks_fts5(index):
    add(index, "notes", "a.md", 'The "quoted" word, NEAR(x y) and OR AND NOT.')
    assert match_query('NEAR(x y) "quoted" 流式') == '"near" OR "x" OR "y" OR "quoted" OR "流式"'
    for typed in ['"', "NEAR(", "a OR", "*", "col:x", "^start", "AND"]:
        index.search(typed)  # none raises
    assert index.search('"quoted"')[0].source == "a.md"
    assert match_query("?!…") == "" and index.search("?!…") == []


def test_collections_scope_what_a_search_sees(index):
    add(index, "work", "deploy.md", "To roll back a release, run make rollback.")
    add(index, "private", "diary.md", "I should roll back my plans.")
    assert {hit.collection for hit in index.search("roll back", 5)} == {"work", "private"}
    assert [hit.source for hit in index.search("roll back", 5, collections=["work"])] == ["deploy.md"]
    assert index.search("roll back", 5, collections=[]) == []
    assert index.search("roll back", 5, collections=["gone"]) == []
    assert [(c.name, c.documents, c.passages) for c in index.collections()] == [("private", 1, 1), ("work", 1, 1)]


def test_deleting_a_document_takes_its_passages_and_index_rows_and_nothing_else(index):
    long_text = "# Guide\n" + "".join(f"## Part {i}\nPart {i} explains rate limits.\n" for i in range(5))
    guide = add(index, "notes", "guide.md", long_text)
    add(index, "notes", "other.md", "Other notes on rate limits.")
    assert (rows(index, "passages"), rows(index, "passages_fts")) == (6, 6)
    assert index.delete(guide) and not index.delete(guide)
    assert (rows(index, "passages"), rows(index, "passages_fts")) == (1, 1)
    assert [hit.source for hit in index.search("rate limits", 5)] == ["other.md"]
    assert [d.name for d in index.documents()] == ["other.md"]


def test_deleting_a_collection_takes_its_documents(index):
    add(index, "old", "a.md", "alpha text")
    add(index, "old", "b.md", "beta text")
    add(index, "kept", "c.md", "gamma text")
    assert index.delete_collection("old")
    assert [c.name for c in index.collections()] == ["kept"]
    assert (rows(index, "documents"), rows(index, "passages"), rows(index, "passages_fts")) == (1, 1, 1)
    assert [hit.source for hit in index.search("text", 5)] == ["c.md"]


def test_the_same_file_twice_in_a_collection_is_refused_and_nothing_is_written(index):
    document = read_document("notes.md", b"# Notes\nsome notes", LIMITS)
    index.add("a", document)
    with pytest.raises(Refused) as caught:
        index.add("a", read_document("renamed.md", b"# Notes\nsome notes", LIMITS))
    assert (caught.value.kind, caught.value.values) == ("duplicate", {"name": "notes.md", "collection": "a"})
    assert rows(index, "documents") == 1 and rows(index, "passages") == 1
    index.add("b", document)  # another collection may have it
    listed = [(d.collection, d.name, d.passages) for d in index.documents()]
    assert listed == [("b", "notes.md", 1), ("a", "notes.md", 1)]


def test_a_preview_reads_the_first_passages_in_order(index):
    document_id = add(index, "notes", "guide.md", "# G\n## A\none\n## B\ntwo\n## C\nthree\n")
    assert [(p.number, p.title, p.text) for p in index.passages(document_id, limit=2)] == [
        (1, "G › A", "one"),
        (2, "G › B", "two"),
    ]


def test_the_bundled_sample_is_imported_once_and_a_deleted_file_stays_deleted(index, tmp_path):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "one.md").write_text("# One\nfirst sample text\n")
    (bundled / "two.md").write_text("# Two\nsecond sample text\n")
    assert index.import_bundled(bundled) == 2
    assert index.import_bundled(bundled) == 0
    one = next(d for d in index.documents(SAMPLE_COLLECTION) if d.name == "one.md")
    index.delete(one.id)
    assert index.import_bundled(bundled) == 0
    assert [d.name for d in index.documents(SAMPLE_COLLECTION)] == ["two.md"]
    (bundled / "two.md").write_text("# Two\nsecond sample text, revised\n")  # a new version of the app
    assert index.import_bundled(bundled) == 1
    assert [d.name for d in index.documents(SAMPLE_COLLECTION)] == ["two.md"]
    assert index.search("revised")[0].source == "two.md"


def test_the_shipped_sample_answers_in_english_and_chinese_at_once(index):
    index.import_bundled(KNOWLEDGE_DIR)
    assert index.search("insufficient_quota retry", 1)[0].source == "errors-and-retries.md"
    assert index.search("流式输出中断怎么办", 2)[0].source == "streaming.md"


def test_the_tool_returns_passages_with_what_to_cite_and_keeps_to_its_scope(index):
    add(index, "work", "deploy.md", "# Deploy\n## Rollback\nTo roll back, run make rollback.")
    add(index, "private", "diary.md", "# Diary\nroll back my diet")
    registry = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g", knowledge=index).scoped(["work"])
    outcome = ToolExecutor(registry).run(ToolCall("k", "search_knowledge_base", '{"query": "roll back", "top_k": 5}'))
    [passage] = json.loads(outcome.content)
    assert passage["cite"] == "[deploy.md #1]"
    assert (passage["document"], passage["passage"], passage["collection"]) == ("deploy.md", 1, "work")
    nothing = default_registry("http://127.0.0.1:9/f", "http://127.0.0.1:9/g", knowledge=index).scoped([])
    empty = ToolExecutor(nothing).run(ToolCall("k", "search_knowledge_base", '{"query": "roll back"}'))
    assert "no knowledge collection is chosen" in json.loads(empty.content)[0]["note"]


def test_a_turn_where_the_model_searches_carries_the_citations(app_env: ScriptedServer, index, tmp_path):
    add(index, "work", "deploy.md", "# Deploy\n## Rollback\nTo roll back, run make rollback.")
    add(index, "private", "diary.md", "# Diary\nI roll back my diet every week.")
    settings = load_settings()
    registry = default_registry(settings.weather_api_url, settings.geocoding_api_url, knowledge=index)
    app_env.expect(
        Reply(tool_calls=[("search_knowledge_base", '{"query": "how to roll back", "top_k": 5}')]),
        Reply(text="Run make rollback [deploy.md #1]."),
    )
    conversation = Conversation()
    choices = TurnChoices("en", "default", ("search_knowledge_base",), collections=("work",))
    turn = prepare(
        conversation, settings, choices, "How do I roll back?", registry=registry, book=PriceBook(7.0), save=bool
    )
    list(turn.run())
    [result] = [m for m in turn.reply if m.role == "tool"]
    sent = app_env.chat_requests()[1]["messages"][-1]
    assert (sent["role"], sent["content"]) == ("tool", result.content)  # what the model read
    cited = cited_passages([("search_knowledge_base", result.content)])
    assert [(c.collection, c.document, c.passage, c.title) for c in cited] == [
        ("work", "deploy.md", 1, "Deploy › Rollback")
    ]
    assert conversation.settings["collections"] == ["work"]  # kept with the chat


def test_citations_come_only_from_the_knowledge_tools_readable_results():
    passage = {"document": "a.md", "passage": 2, "collection": "c", "title": "A", "text": "alpha", "cite": "x"}
    results = [
        ("calculate", json.dumps([passage])),
        ("search_knowledge_base", json.dumps({"error": "top_k must be between 1 and 5"})),
        ("search_knowledge_base", json.dumps([{"note": "nothing matches"}])),
        ("search_knowledge_base", "not json"),
        ("search_knowledge_base", json.dumps([passage, {**passage, "passage": "2"}, passage])),
    ]
    assert [(c.document, c.passage, c.text) for c in cited_passages(results)] == [("a.md", 2, "alpha")]


# --- each owner's own documents (issue 15) -----------------------------------------------------------------


def test_each_owner_has_their_own_collections_documents_and_search(index):
    alice, bob = DocumentStore(index.store.as_user("alice@example.com")), DocumentStore(index.store.as_user("bob"))
    hers = add(alice, "notes", "alice.md", "Alice rolls back releases with make rollback. 回滚发布")
    his = add(bob, "notes", "bob.md", "Bob rolls back his diet. 回滚计划")
    add(index, "notes", "single.md", "The single user rolls back too.")
    assert [(c.name, c.documents) for c in alice.collections()] == [("notes", 1)]
    assert [d.name for d in alice.documents()] == ["alice.md"]
    assert [d.name for d in bob.documents("notes")] == ["bob.md"]
    assert [hit.source for hit in alice.search("roll back 回滚", 5)] == ["alice.md"]
    assert [hit.source for hit in bob.search("roll back 回滚", 5, collections=["notes"])] == ["bob.md"]
    assert [hit.source for hit in index.search("rolls", 5)] == ["single.md"]
    assert bob.passages(hers) == [] and not bob.delete(hers)  # another owner's document id: not found
    assert bob.delete_collection("notes") and [d.name for d in alice.documents()] == ["alice.md"]
    assert alice.passages(hers)[0].text.startswith("Alice") and his not in [d.id for d in alice.documents()]


def test_the_bundled_sample_is_each_owners_own(index, tmp_path):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "one.md").write_text("# One\nfirst sample text\n")
    alice, bob = DocumentStore(index.store.as_user("alice")), DocumentStore(index.store.as_user("bob"))
    assert alice.import_bundled(bundled) == 1 and bob.import_bundled(bundled) == 1
    assert alice.import_bundled(bundled) == 0
    alice.delete(alice.documents(SAMPLE_COLLECTION)[0].id)
    assert alice.import_bundled(bundled) == 0 and alice.documents() == []  # deleted stays deleted, for her only
    assert [d.name for d in bob.documents(SAMPLE_COLLECTION)] == ["one.md"]


def test_a_file_from_before_owners_keeps_its_knowledge_base_as_the_single_users(tmp_path, monkeypatch):
    path = tmp_path / "chats.db"
    monkeypatch.setattr("store.MIGRATIONS", MIGRATIONS[:7])  # as the app left it before m008_owners
    Store(path)
    with sqlite3.connect(path) as db:  # rows as that version wrote them
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'notes', 'x')")
        db.execute("INSERT INTO documents VALUES (1, 1, 'kept.md', 'markdown', 17, 'abc', 'x')")
        db.execute("INSERT INTO passages VALUES (1, 1, 1, 'kept', 'Alpha beta gamma.')")
        db.execute("INSERT INTO passages_fts (rowid, terms) VALUES (1, 'kept alpha beta gamma')")
        db.execute("INSERT INTO bundled_documents (name, sha256) VALUES ('one.md', 'abc')")
    monkeypatch.setattr("store.MIGRATIONS", MIGRATIONS)
    index = DocumentStore(Store(path))
    assert "m008_owners" in index.store.migrations()
    assert [(c.name, c.documents, c.passages) for c in index.collections()] == [("notes", 1, 1)]
    assert index.search("gamma")[0].source == "kept.md"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT owner, name FROM bundled_documents").fetchall() == [("", "one.md")]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert DocumentStore(index.store.as_user("alice")).collections() == []
    add(DocumentStore(index.store.as_user("alice")), "notes", "hers.md", "Delta.")  # the same name, another owner
