"""Content safety: a text (the user's message before it goes, the reply after it came) checked against the word/regex
list of SAFETY_WORDS_FILE and, where the provider offers POST /moderations, its moderation model; one ``Verdict`` says
whether it is flagged and why. What a flagged text leads to (SAFETY=warn or block) is the page's to decide.

The list file: one rule per line; blank lines and lines starting with ``#`` are skipped. A plain line is a word or
phrase found anywhere in the text, ignoring case (Chinese needs no spaces around it). A line ``re:PATTERN`` is a regular
expression (Python syntax, searched ignoring case), e.g. ``re:\\bkill(ed|ing)?\\b``. A pattern longer than
MAX_PATTERN_CHARS or that does not compile is a configuration error naming its line; each search runs with a timeout
(the ``regex`` library's), and a pattern that runs out of time on a text counts as a match, so nothing slips through.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import regex

from config import ConfigError, file_version
from conversation_manager import Conversation, SideCall
from events import CallRecord
from llm_client import LLMClient, Moderation, ModerationFailed
from token_tracker import PriceBook

log = logging.getLogger(__name__)

Mode = Literal["off", "warn", "block"]
ModerationState = Literal["checked", "not_offered", "failed", "skipped"]
MODERATION: Final = "moderation"  # the side call's kind
REGEX_PREFIX = "re:"
MAX_PATTERN_CHARS = 300  # a longer pattern is refused: lists are words and short patterns
SEARCH_SECONDS = 0.2  # one pattern on one text; past it the pattern counts as matched
SHOWN_CHARS = 60  # of the text a rule matched, shown as why


@dataclass(frozen=True)
class Rule:
    """One line of the list: a word (found ignoring case) or a compiled pattern, and its line number."""

    line: int
    written: str  # as the file has it, "re:" included
    word: str = ""  # casefolded
    pattern: Any = None  # a regex.Pattern


@dataclass(frozen=True)
class WordHit:
    """A rule that matched: the line as written, its number, and what it found (cut), or that it ran out of time."""

    rule: str
    line: int
    found: str
    timed_out: bool = False


@dataclass(frozen=True)
class Verdict:
    """What the checks found in one text: the list's hits, the moderation categories flagged with their scores, and
    whether the moderation model was asked (``checked``), is not offered by the provider, failed, or was skipped."""

    words: tuple[WordHit, ...] = ()
    categories: tuple[tuple[str, float], ...] = ()
    moderation: ModerationState = "skipped"

    @property
    def flagged(self) -> bool:
        return bool(self.words or self.categories)

    def to_dict(self) -> dict[str, Any]:
        """As a message keeps it (Message.safety)."""
        return {
            "words": [{"rule": h.rule, "line": h.line, "found": h.found, "timed_out": h.timed_out} for h in self.words],
            "categories": [[name, score] for name, score in self.categories],
            "moderation": self.moderation,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Verdict:
        """A kept verdict read back leniently (an import may hold anything): what does not read is left out."""
        words = tuple(
            WordHit(str(w.get("rule", "")), int(w.get("line", 0)), str(w.get("found", "")), w.get("timed_out") is True)
            for w in saved.get("words") or ()
            if isinstance(w, dict) and isinstance(w.get("line", 0), int)
        )
        categories = tuple(
            (str(c[0]), float(c[1]))
            for c in saved.get("categories") or ()
            if isinstance(c, list | tuple) and len(c) == 2 and isinstance(c[1], int | float)
        )
        state = saved.get("moderation")
        return cls(words, categories, state if state in ("checked", "not_offered", "failed") else "skipped")


@dataclass(frozen=True)
class WordList:
    rules: tuple[Rule, ...] = ()

    def hits(self, text: str) -> tuple[WordHit, ...]:
        """Every rule that matches ``text``, in the list's order."""
        folded = text.casefold()
        found = []
        for rule in self.rules:
            if rule.pattern is None:
                at = folded.find(rule.word)
                if at >= 0:
                    found.append(WordHit(rule.written, rule.line, text[at : at + len(rule.word)][:SHOWN_CHARS]))
                continue
            try:
                match = rule.pattern.search(text, timeout=SEARCH_SECONDS)
            except TimeoutError:
                found.append(WordHit(rule.written, rule.line, "", timed_out=True))
                continue
            if match is not None:
                found.append(WordHit(rule.written, rule.line, match.group(0)[:SHOWN_CHARS]))
        return tuple(found)


def parse_words(text: str, source: str = "SAFETY_WORDS_FILE") -> WordList:
    """The rules of a list file's text; ConfigError names the line of a pattern that is too long or does not compile."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith(REGEX_PREFIX):
            rules.append(Rule(number, line, word=line.casefold()))
            continue
        expression = line[len(REGEX_PREFIX) :]
        if not expression or len(expression) > MAX_PATTERN_CHARS:
            raise ConfigError(f"{source} line {number}: a pattern must have 1 to {MAX_PATTERN_CHARS} characters")
        try:
            pattern = regex.compile(expression, regex.IGNORECASE)
        except regex.error as error:
            raise ConfigError(f"{source} line {number}: {expression!r} is not a valid pattern ({error})") from None
        rules.append(Rule(number, line, pattern=pattern))
    return WordList(tuple(rules))


def load_words(path: Path) -> WordList:
    """The list SAFETY_WORDS_FILE names; no file is an empty list. ConfigError for a file that cannot be read. Read
    and compiled once per version of the file (every message and reply is checked against it)."""
    return _words_of(path, file_version(path))


@functools.lru_cache(maxsize=8)
def _words_of(path: Path, version: tuple[int, int] | None) -> WordList:
    """No version (no file to look at): read anyway, which says why (none: an empty list; errors are not kept)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return WordList()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"SAFETY_WORDS_FILE {path}: cannot be read ({error})") from None
    return parse_words(text, f"SAFETY_WORDS_FILE {path.name}")


def combine(hits: Sequence[WordHit], moderation: Moderation | None, failed: bool = False) -> Verdict:
    """One verdict from the list's hits and the moderation answer (None: not asked, or ``failed``)."""
    if moderation is None:
        return Verdict(tuple(hits), moderation="failed" if failed else "skipped")
    if not moderation.offered:
        return Verdict(tuple(hits), moderation="not_offered")
    categories = tuple((name, moderation.scores.get(name, 1.0)) for name in moderation.flagged)
    return Verdict(tuple(hits), categories, "checked")


def check(
    text: str, words: WordList, client: LLMClient | None, model: str, calls: list[CallRecord] | None = None
) -> Verdict:
    """``text`` checked against the list and, with a ``client``, the moderation model (a failure of that call is
    logged and leaves the list's verdict). ``calls`` gets the moderation call's usage log row (unpriced), whatever
    came of it."""
    hits = words.hits(text)
    if client is None:
        return combine(hits, None)
    try:
        moderation = client.moderate(text, model, log=calls)
    except ModerationFailed as failure:
        log.warning("moderation failed: %s", failure.error.kind)
        return combine(hits, None, failed=True)
    return combine(hits, moderation)


def book(conversation: Conversation, calls: Sequence[CallRecord], prices: PriceBook) -> list[SideCall]:
    """Moderation calls' usage log rows put on the chat (written when it is saved), priced by ``prices`` where the
    call reported usage (OpenAI's reports none: it costs nothing). A call that reported usage is also booked to the
    chat's cost as a side call, under its row's id (so the log has it once); those side calls."""
    return conversation.log_calls(calls, prices, MODERATION)
