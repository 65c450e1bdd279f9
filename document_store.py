"""The knowledge base in the app's SQLite file: collections of documents, their passages, and a BM25 index.

The tables are store.py's migration m007_documents; this module reads and writes them on the Store's short
connections. FTS5's unicode61 tokenizer does not split Chinese, so each passage is indexed as the words
``knowledge_base.terms`` makes of it (Chinese as character bigrams) and a query is split the same way: its words
are OR-ed and bm25() ranks the passages that have any, rarer words and shorter passages first. The bundled
sample (knowledge/) is imported as the collection ``SAMPLE_COLLECTION`` so a new user can try it at once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from documents import Document, Limits, Passage, Refused, read_document
from knowledge_base import SAMPLE_COLLECTION, Hit, terms
from store import Store

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 64  # of one search; a longer question adds little but work
MAX_COLLECTION_CHARS = 60
BUNDLED_LIMITS = Limits(max_bytes=1024 * 1024, max_passages=1000)


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: int
    passages: int


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    collection: str
    name: str
    kind: str
    size: int
    passages: int
    created_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collection_name(name: str) -> str:
    """A collection's name as kept: trimmed, on one line, not too long; empty when nothing is left."""
    return " ".join(name.split())[:MAX_COLLECTION_CHARS]


def match_query(query: str) -> str:
    """The FTS5 query for a question: each of its words, quoted, OR-ed; empty when it has none."""
    wanted = list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in wanted)


class DocumentStore:
    """Collections, documents and passages in the Store's file; every write is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- writing -------------------------------------------------------------------------------

    def add(self, collection: str, document: Document) -> DocumentInfo:
        """Indexes a document into a collection (made if it is new). Refused("duplicate") when the same file
        is there already; nothing is written then."""
        name = collection_name(collection)
        if not name:
            raise ValueError("a collection needs a name")
        with self.store.transaction() as db:
            collection_id = self._collection_id(db, name)
            same = db.execute(
                "SELECT name FROM documents WHERE collection_id = ? AND sha256 = ?", (collection_id, document.sha256)
            ).fetchone()
            if same is not None:
                raise Refused("duplicate", name=same["name"], collection=name)
            document_id = self._insert(db, collection_id, document)
        return DocumentInfo(
            document_id, name, document.name, document.kind, document.size, len(document.passages), _now()
        )

    def _collection_id(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)", (name, _now()))
        row = db.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return int(row["id"])

    def _insert(self, db: sqlite3.Connection, collection_id: int, document: Document) -> int:
        cursor = db.execute(
            "INSERT INTO documents (collection_id, name, kind, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (collection_id, document.name, document.kind, document.size, document.sha256, _now()),
        )
        document_id = int(cursor.lastrowid or 0)
        for passage in document.passages:
            row = db.execute(
                "INSERT INTO passages (document_id, number, title, text) VALUES (?, ?, ?, ?)",
                (document_id, passage.number, passage.title, passage.text),
            )
            db.execute(
                "INSERT INTO passages_fts (rowid, terms) VALUES (?, ?)",
                (row.lastrowid, " ".join(terms(passage.title + "\n" + passage.text))),
            )
        return document_id

    def delete(self, document_id: int) -> bool:
        """Removes a document with its passages and their index rows; False when there was none."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount > 0

    def delete_collection(self, name: str) -> bool:
        """Removes a collection with every document in it."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM collections WHERE name = ?", (name,)).rowcount > 0

    def import_bundled(self, directory: Path, collection: str = SAMPLE_COLLECTION) -> int:
        """Imports each Markdown file of ``directory`` not imported before in this version (a file the user
        deleted stays deleted; a changed one replaces its older version). Returns how many were imported."""
        imported = 0
        for path in sorted(directory.glob("*.md")):
            try:
                document = read_document(path.name, path.read_bytes(), BUNDLED_LIMITS)
            except (OSError, Refused) as error:
                log.warning("bundled knowledge file %s is left out: %s", path.name, error)
                continue
            with self.store.transaction() as db:
                key = (document.name, document.sha256)
                if db.execute("SELECT 1 FROM bundled_documents WHERE name = ? AND sha256 = ?", key).fetchone():
                    continue
                collection_id = self._collection_id(db, collection)
                db.execute("DELETE FROM documents WHERE collection_id = ? AND name = ?", (collection_id, path.name))
                self._insert(db, collection_id, document)
                db.execute("INSERT INTO bundled_documents (name, sha256) VALUES (?, ?)", key)
            imported += 1
        return imported

    # --- reading -------------------------------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        """Every collection by name, with how many documents and passages it holds."""
        with self.store.connection() as db:
            rows = db.execute(
                """
                SELECT c.name, COUNT(DISTINCT d.id) AS documents, COUNT(p.id) AS passages
                FROM collections c LEFT JOIN documents d ON d.collection_id = c.id
                    LEFT JOIN passages p ON p.document_id = d.id
                GROUP BY c.id ORDER BY c.name
                """
            ).fetchall()
        return [CollectionInfo(r["name"], r["documents"], r["passages"]) for r in rows]

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        """The documents of one collection (None: all), newest first."""
        sql = """
            SELECT d.id, c.name AS collection, d.name, d.kind, d.size, d.created_at,
                (SELECT COUNT(*) FROM passages p WHERE p.document_id = d.id) AS passages
            FROM documents d JOIN collections c ON c.id = d.collection_id
        """
        params: tuple[Any, ...] = ()
        if collection is not None:
            sql, params = sql + " WHERE c.name = ?", (collection,)
        with self.store.connection() as db:
            rows = db.execute(sql + " ORDER BY d.id DESC", params).fetchall()
        return [
            DocumentInfo(r["id"], r["collection"], r["name"], r["kind"], r["size"], r["passages"], r["created_at"])
            for r in rows
        ]

    def passages(self, document_id: int, limit: int = 1_000_000) -> list[Passage]:
        """A document's passages in order (its first ``limit``), for a preview."""
        with self.store.connection() as db:
            rows = db.execute(
                "SELECT number, title, text FROM passages WHERE document_id = ? ORDER BY number LIMIT ?",
                (document_id, limit),
            ).fetchall()
        return [Passage(r["number"], r["title"], r["text"]) for r in rows]

    def search(self, query: str, top_k: int = 3, collections: Sequence[str] | None = None) -> list[Hit]:
        """The ``top_k`` passages that match ``query`` best (bm25), within ``collections`` (None: all)."""
        match = match_query(query)
        if not match or (collections is not None and not collections):
            return []
        scope = ""
        params: list[Any] = [match]
        if collections is not None:
            scope = f" AND c.name IN ({', '.join('?' * len(collections))})"
            params.extend(collections)
        sql = f"""
            SELECT p.number, p.title, p.text, d.name AS document, c.name AS collection,
                bm25(passages_fts) AS rank
            FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid
                JOIN documents d ON d.id = p.document_id JOIN collections c ON c.id = d.collection_id
            WHERE passages_fts MATCH ?{scope}
            ORDER BY rank, p.id LIMIT ?
        """  # noqa: S608 - only placeholders are put in
        with self.store.connection() as db:
            rows = db.execute(sql, (*params, top_k)).fetchall()
        return [
            Hit(r["title"], r["document"], r["text"], round(-r["rank"], 6), r["number"], r["collection"]) for r in rows
        ]
