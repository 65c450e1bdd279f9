"""How often a streaming reply is redrawn, and how much of it.

How often: every ``FLUSH_INTERVAL`` while few replies stream in this process, less often as more do, so that the
process as a whole sends at most ``PROCESS_FLUSHES_PER_SECOND`` visible updates.

One app process serves every browser session in one interpreter (one GIL): twenty sessions each sending twenty
updates a second would spend the CPU on updates nobody can read that fast, and fall behind the streams. Text is
never lost by a wider interval: each update carries all the text so far. The budget was measured (bench/NOTES.md,
session 6): with ten replies at 80 tokens/s, 200 updates a second left their last words 1.6x later than the
canonical chatbot's, 50 a second 0.4x-0.7x (each reply then updates five times a second).

How much: a long reply's finished Markdown blocks are drawn once each (``settled``), so one update sends the block
still growing, and its cost does not grow with the reply.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from markdown_it import MarkdownIt

FLUSH_INTERVAL = 0.05  # seconds; one visible update per 50 ms keeps long streams from flooding the browser
PROCESS_FLUSHES_PER_SECOND = 50.0  # all replies streaming in this process together; each gets an equal share


REFRESH_AFTER_REPLY = 0.3  # seconds; a reply that leaves something to ask has the page drawn again this soon after


def timed_run(drawn: float, now: float, every: float) -> bool:
    """Whether a run of a fragment that reruns every ``every`` seconds (Streamlit's ``run_every``), drawn at
    ``drawn``, is one of its timed runs: its first run happens inline, with the page, and must not act."""
    return now - drawn >= every / 2


def flush_interval(streaming: int, base: float = FLUSH_INTERVAL, budget: float = PROCESS_FLUSHES_PER_SECOND) -> float:
    """The seconds between two updates of one reply while ``streaming`` replies stream at once: ``base``, or the
    equal share of the process's ``budget`` of updates per second when that is wider."""
    return max(base, streaming / budget)


class Streams:
    """How many replies stream in this process right now; each script thread counts its own in and out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    @contextmanager
    def streaming(self, replies: int = 1) -> Iterator[None]:
        """Counts ``replies`` (a comparison streams several) while the block runs; out again however it ends."""
        with self._lock:
            self._count += replies
        try:
            yield
        finally:
            with self._lock:
                self._count -= replies


STREAMS = Streams()  # every browser session of this app process


class Pacer:
    """Whether one reply is due for its next update: at most once per ``flush_interval`` of the replies streaming
    now (read at each check, so a reply slows down and speeds up again as others start and end)."""

    def __init__(
        self,
        streams: Streams = STREAMS,
        base: float = FLUSH_INTERVAL,
        budget: float = PROCESS_FLUSHES_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.streams = streams
        self.base = base
        self.budget = budget
        self.clock = clock
        self.last: float | None = None

    def due(self) -> bool:
        """True (and counted as done now) when the interval since the last update has passed, or on the first."""
        now = self.clock()
        if self.last is not None and now - self.last < flush_interval(self.streams.count, self.base, self.budget):
            return False
        self.last = now
        return True


# --- how much of a growing Markdown text is settled --------------------------------------------------------------

_BLOCKS = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("inline")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.MULTILINE)  # a link reference or a footnote: read document-wide


def settled(text: str) -> int:
    """How many leading characters of a growing Markdown ``text`` are whole top-level blocks that nothing appended
    can change: everything before the last block that starts after a blank line, once its first line is complete
    (so its kind is known) and the part before holds no display formula left open. 0 where that cannot be said:
    link reference or footnote definitions (they change text anywhere), carriage returns (lines counted otherwise).

    Drawn on its own, a settled part reads as it does inside the whole text; so does the rest."""
    if "\r" in text or _DEFINITION.search(text):
        return 0
    starts = [0, *(match.end() for match in re.finditer("\n", text))]  # where each line starts
    lines = [token.map[0] for token in _BLOCKS.parse(text) if token.level == 0 and token.map is not None]
    for line in reversed(lines[1:]):
        complete = line + 1 < len(starts)
        after_blank = not text[starts[line - 1] : starts[line]].strip()
        if complete and after_blank and text.count("$$", 0, starts[line]) % 2 == 0:
            return starts[line]
    return 0
