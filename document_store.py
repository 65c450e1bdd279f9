"""The knowledge base in the app's database: collections of documents, their passages, and a BM25 index.

The tables are store.py's migrations m007_documents and m008_owners; this module reads and writes them on the
Store's short connections, only the Store's owner's collections. FTS5's unicode61 tokenizer does not split
Chinese, so each passage is indexed as the words ``knowledge_base.terms`` makes of it (Chinese as character
bigrams) and a query is split the same way: its words are OR-ed and bm25() ranks the passages that have any,
rarer words and shorter passages first. PostgreSQL keeps the same terms in a table (passage_terms, with how often
each occurs) and ranks with the same BM25 formula as FTS5 (k1 1.2, b 0.75) in SQL. The bundled sample
(knowledge/) is imported as the collection ``SAMPLE_COLLECTION`` so a new user can try it at once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from documents import Document, Limits, Passage, Refused, read_document
from knowledge_base import SAMPLE_COLLECTION, Hit, terms
from storage_backend import SQLITE, Db
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


def query_terms(query: str) -> list[str]:
    """The words of a question as searched: each once, at most MAX_QUERY_TERMS."""
    return list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]


def match_query(query: str) -> str:
    """The FTS5 query for a question: each of its words, quoted, OR-ed; empty when it has none."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in query_terms(query))


class DocumentStore:
    """The collections, documents and passages of the Store's owner; every write is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner = store.owner

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

    def _collection_id(self, db: Db, name: str) -> int:
        db.execute(
            "INSERT INTO collections (owner, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (self.owner, name, _now()),
        )
        row = db.execute("SELECT id FROM collections WHERE owner = ? AND name = ?", (self.owner, name)).fetchone()
        return int(row["id"])

    def _insert(self, db: Db, collection_id: int, document: Document) -> int:
        row = db.execute(
            "INSERT INTO documents (collection_id, name, kind, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (collection_id, document.name, document.kind, document.size, document.sha256, _now()),
        ).fetchone()
        document_id = int(row["id"])
        for passage in document.passages:
            added = db.execute(
                "INSERT INTO passages (document_id, number, title, text) VALUES (?, ?, ?, ?) RETURNING id",
                (document_id, passage.number, passage.title, passage.text),
            ).fetchone()
            _index(db, int(added["id"]), terms(passage.title + "\n" + passage.text))
        return document_id

    def delete(self, document_id: int) -> bool:
        """Removes a document of this owner with its passages and their index rows; False when there was none."""
        with self.store.transaction() as db:
            return db.execute(_DELETE_DOCUMENT, (document_id, self.owner)).rowcount > 0

    def delete_collection(self, name: str) -> bool:
        """Removes a collection with every document in it."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM collections WHERE owner = ? AND name = ?", (self.owner, name)).rowcount > 0

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
                key = (self.owner, document.name, document.sha256)
                seen = "SELECT 1 FROM bundled_documents WHERE owner = ? AND name = ? AND sha256 = ?"
                if db.execute(seen, key).fetchone():
                    continue
                collection_id = self._collection_id(db, collection)
                db.execute("DELETE FROM documents WHERE collection_id = ? AND name = ?", (collection_id, path.name))
                self._insert(db, collection_id, document)
                db.execute("INSERT INTO bundled_documents (owner, name, sha256) VALUES (?, ?, ?)", key)
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
                WHERE c.owner = ?
                GROUP BY c.id ORDER BY c.name
                """,
                (self.owner,),
            ).fetchall()
        return [CollectionInfo(r["name"], r["documents"], r["passages"]) for r in rows]

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        """The documents of one collection (None: all), newest first."""
        sql = """
            SELECT d.id, c.name AS collection, d.name, d.kind, d.size, d.created_at,
                (SELECT COUNT(*) FROM passages p WHERE p.document_id = d.id) AS passages
            FROM documents d JOIN collections c ON c.id = d.collection_id
            WHERE c.owner = ?
        """
        params: tuple[Any, ...] = (self.owner,)
        if collection is not None:
            sql, params = sql + " AND c.name = ?", (*params, collection)
        with self.store.connection() as db:
            rows = db.execute(sql + " ORDER BY d.id DESC", params).fetchall()
        return [
            DocumentInfo(r["id"], r["collection"], r["name"], r["kind"], r["size"], r["passages"], r["created_at"])
            for r in rows
        ]

    def passages(self, document_id: int, limit: int = 1_000_000) -> list[Passage]:
        """A document's passages in order (its first ``limit``), for a preview."""
        with self.store.connection() as db:
            rows = db.execute(_PASSAGES, (document_id, self.owner, limit)).fetchall()
        return [Passage(r["number"], r["title"], r["text"]) for r in rows]

    def search(self, query: str, top_k: int = 3, collections: Sequence[str] | None = None) -> list[Hit]:
        """The ``top_k`` passages that match ``query`` best (bm25), within ``collections`` (None: all)."""
        wanted = query_terms(query)
        if not wanted or (collections is not None and not collections):
            return []
        scope, params = "c.owner = ?", [self.owner]
        if collections is not None:
            scope += f" AND c.name IN ({', '.join('?' * len(collections))})"
            params.extend(collections)
        with self.store.connection() as db:
            first: list[Any] = [match_query(query)] if db.dialect == SQLITE else [wanted]
            sql = _FTS5_SEARCH if db.dialect == SQLITE else _BM25_SEARCH
            rows = db.execute(sql.format(scope=scope), (*first, *params, top_k)).fetchall()
        return [
            Hit(r["title"], r["document"], r["text"], round(-r["rank"], 6), r["number"], r["collection"]) for r in rows
        ]


# A document and its passages are the owner's when their collection is.
_DELETE_DOCUMENT = (
    "DELETE FROM documents WHERE id = ? AND collection_id IN (SELECT id FROM collections WHERE owner = ?)"
)
_PASSAGES = """
    SELECT p.number, p.title, p.text
    FROM passages p JOIN documents d ON d.id = p.document_id JOIN collections c ON c.id = d.collection_id
    WHERE p.document_id = ? AND c.owner = ? ORDER BY p.number LIMIT ?
"""


def _index(db: Db, passage_id: int, words: list[str]) -> None:
    """A passage's words in the search index: FTS5's table (SQLite), or each term with its count (PostgreSQL)."""
    if db.dialect == SQLITE:
        db.execute("INSERT INTO passages_fts (rowid, terms) VALUES (?, ?)", (passage_id, " ".join(words)))
        return
    db.executemany(
        "INSERT INTO passage_terms (passage_id, term, tf) VALUES (?, ?, ?)",
        [(passage_id, term, count) for term, count in Counter(words).items()],
    )
    db.execute("UPDATE passages SET term_count = ? WHERE id = ?", (len(words), passage_id))


_SEARCH_COLUMNS = "p.number, p.title, p.text, d.name AS document, c.name AS collection"
_FTS5_SEARCH = f"""
    SELECT {_SEARCH_COLUMNS}, bm25(passages_fts) AS rank
    FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid
        JOIN documents d ON d.id = p.document_id JOIN collections c ON c.id = d.collection_id
    WHERE passages_fts MATCH ? AND {{scope}}
    ORDER BY rank, p.id LIMIT ?
"""  # noqa: S608 - only placeholders are put in
# FTS5's bm25() in SQL: over every passage (N, the average length), each query term's IDF, clamped as FTS5 does,
# times its saturated frequency in the passage, summed; negated, so that lower ranks first as in SQLite.
_BM25_SEARCH = f"""
    WITH corpus AS (SELECT COUNT(*) AS n, AVG(term_count) AS average FROM passages),
    df AS (SELECT term, COUNT(*) AS n FROM passage_terms WHERE term = ANY(?) GROUP BY term)
    SELECT {_SEARCH_COLUMNS}, -SUM(
        GREATEST(LN((corpus.n - df.n + 0.5) / (df.n + 0.5)), 1e-6)
        * t.tf * (1.2 + 1) / (t.tf + 1.2 * (1 - 0.75 + 0.75 * p.term_count / corpus.average))
    )::float8 AS rank
    FROM passage_terms t JOIN df ON df.term = t.term JOIN passages p ON p.id = t.passage_id
        JOIN documents d ON d.id = p.document_id JOIN collections c ON c.id = d.collection_id CROSS JOIN corpus
    WHERE {{scope}}
    GROUP BY p.id, d.id, c.id
    ORDER BY rank, p.id LIMIT ?
"""  # noqa: S608 - only placeholders are put in
