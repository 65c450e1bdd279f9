"""The bundled sample collection (the Markdown files in knowledge/), searchable in memory with BM25, and the
words any search of the knowledge base is made of.

Text is split into sections at headings. Words are lower-cased runs of letters and digits (any script);
Chinese and Japanese are indexed as character bigrams, so "流式输出" finds "流式" and "输出" alike. The app's
own index (document_store.py) keeps uploaded documents and this sample in SQLite and ranks with FTS5's
bm25(); this in-memory index serves where there is no database (tools built without the app, tests).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
SAMPLE_COLLECTION = "sample"  # the collection the bundled files make, so a new user can try the tool at once
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"  # kana and ideographs
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+(?:[.\-][^\W{_CJK}]+)*")
_BM25_K1 = 1.5
_BM25_B = 0.75


def terms(text: str) -> list[str]:
    """The words of ``text`` as they are indexed and searched: words lower-cased, CJK runs as bigrams."""
    found: list[str] = []
    for run in _WORD.findall(text.lower()):
        if _CJK_RUN.match(run):
            found.extend(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
        else:
            found.append(run)
    return found


@dataclass(frozen=True)
class Passage:
    title: str
    source: str
    text: str
    number: int = 1  # its place in its document, counted from 1: what a citation names


@dataclass(frozen=True)
class Hit:
    title: str
    source: str  # the document's name
    text: str
    score: float
    passage: int = 1  # the passage's number in its document
    collection: str = SAMPLE_COLLECTION


def split_sections(markdown: str, source: str) -> list[Passage]:
    """One passage per section; a section's title carries its document's title for context."""
    passages: list[Passage] = []
    document, title = "", source
    lines: list[str] = []

    def close() -> None:
        if "".join(lines).strip():
            passages.append(Passage(title, source, "\n".join(lines).strip(), len(passages) + 1))

    for line in markdown.splitlines():
        if line.startswith("# "):
            close()
            document = title = line[2:].strip()
            lines = []
        elif line.startswith("#"):
            close()
            heading = line.lstrip("#").strip()
            title, lines = (f"{document} › {heading}" if document else heading), []
        else:
            lines.append(line)
    close()
    return passages


class KnowledgeBase:
    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self._counts = [Counter(terms(p.title + "\n" + p.text)) for p in passages]
        self._lengths = [sum(c.values()) for c in self._counts]
        self._average = (sum(self._lengths) / len(self._lengths)) if passages else 0.0
        document_frequency: Counter[str] = Counter()
        for counts in self._counts:
            document_frequency.update(counts.keys())
        n = len(passages)
        self._idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}

    @classmethod
    def from_directory(cls, directory: Path) -> KnowledgeBase:
        passages: list[Passage] = []
        for path in sorted(directory.glob("*.md")):
            passages.extend(split_sections(path.read_text(encoding="utf-8"), path.name))
        return cls(passages)

    @classmethod
    def bundled(cls) -> KnowledgeBase:
        return cls.from_directory(KNOWLEDGE_DIR)

    def search(self, query: str, top_k: int = 3, collections: Sequence[str] | None = None) -> list[Hit]:
        """The best ``top_k`` passages; this index holds the sample collection only (None: every collection)."""
        if collections is not None and SAMPLE_COLLECTION not in collections:
            return []
        wanted = set(terms(query))
        scored: list[Hit] = []
        for passage, counts, length in zip(self.passages, self._counts, self._lengths, strict=True):
            score = 0.0
            for term in wanted & counts.keys():
                tf = counts[term]
                norm = tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * length / self._average)
                score += self._idf[term] * tf * (_BM25_K1 + 1) / norm
            if score > 0:
                scored.append(Hit(passage.title, passage.source, passage.text, score, passage.number))
        scored.sort(key=lambda hit: hit.score, reverse=True)
        return scored[:top_k]
