"""stream_pacing: how often a streaming reply is redrawn as more replies stream in the process, and which part of a
growing Markdown text can be drawn once and left alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from markdown_it import MarkdownIt

from formulas import normalize
from stream_pacing import (
    FLUSH_INTERVAL,
    PROCESS_FLUSHES_PER_SECOND,
    Pacer,
    Streams,
    flush_interval,
    settled,
    timed_run,
)

# CommonMark with GitHub's tables and strikethrough, without raw HTML: the blocks Streamlit's renderer finds
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_interval_is_the_base_until_the_process_budget_is_shared_out():
    assert flush_interval(0) == flush_interval(1) == FLUSH_INTERVAL
    crowded = int(PROCESS_FLUSHES_PER_SECOND * FLUSH_INTERVAL)  # as many as the budget allows at the base interval
    assert flush_interval(crowded) == FLUSH_INTERVAL
    assert flush_interval(crowded * 4) == pytest.approx(crowded * 4 / PROCESS_FLUSHES_PER_SECOND)  # an equal share
    assert flush_interval(40, base=0.05, budget=200) == pytest.approx(0.2)
    widths = [flush_interval(n) for n in range(100)]
    assert widths == sorted(widths)
    assert all(n / width <= PROCESS_FLUSHES_PER_SECOND + 1e-9 for n, width in enumerate(widths))  # never over budget


def test_streams_count_every_thread_in_and_out_also_when_one_fails():
    streams = Streams()
    inside = threading.Barrier(9)
    leave = threading.Event()

    def stream(replies: int) -> None:
        with streams.streaming(replies):
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=stream, args=(1 + n % 2,)) for n in range(8)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert streams.count == 12  # four single replies, four comparisons of two
    leave.set()
    for thread in threads:
        thread.join()
    assert streams.count == 0
    with pytest.raises(RuntimeError), streams.streaming():
        raise RuntimeError("the user pressed Stop")
    assert streams.count == 0


def test_a_pacer_is_due_once_per_interval_and_slows_down_while_the_process_is_busy():
    streams, clock = Streams(), Clock()  # times in binary fractions: sums stay exact
    pacer = Pacer(streams, base=0.25, budget=200, clock=clock)
    assert pacer.due()  # the first update goes out at once
    assert not pacer.due()
    clock.now += 0.125
    assert not pacer.due()
    clock.now += 0.125
    assert pacer.due()
    with streams.streaming(100):  # 100 replies at once share 200 updates a second: one each per 0.5 s
        clock.now += 0.25
        assert not pacer.due()
        clock.now += 0.25
        assert pacer.due()
    clock.now += 0.25
    assert pacer.due()  # the others ended: back to the base interval


@pytest.mark.parametrize(
    ("text", "frozen"),
    [
        ("One.\n\nTwo", ""),  # the second block's first line may still grow
        ("One.\n\nTwo\n", "One.\n\n"),
        ("One.\n\nTwo.\n\nThr", "One.\n\n"),
        ("- a\n- b\n\nAfter\n", "- a\n- b\n\n"),
        ("1. a\n\n2", ""),  # "2" may become the list's next item
        ("1. a\n\n2. b\n", ""),  # it did: one list
        ("```\ncode\n\nmore code\n", ""),  # never inside a fence
        ("Text\n***\n", ""),  # no blank line before: "***bold" would still join the paragraph
        ("| a | b |\n|---|---|\n| 1 | 2 |\n\nNext\n", "| a | b |\n|---|---|\n| 1 | 2 |\n\n"),
        ("$$\nx\n\ny\n", ""),  # a display formula still open
        ("See [the docs].\n\n[the docs]: https://example.com\n", ""),  # a definition changes text anywhere
        ("One.\r\n\r\nTwo\r\n", ""),
    ],
)
def test_settled_stops_before_the_block_that_may_still_change(text: str, frozen: str):
    assert text[: settled(text)] == frozen


DOCUMENTS = [
    "# Title\n\nA paragraph with *emphasis*\nand a second line.\n\n- one\n- two\n\n  still two\n\n- three\n\n"
    "After the list.\n\n1. first\n\n2. second\n\n10. tenth\n\nText\n***bold*** or a rule?\n\n***\n\nSetext\n---\n\n"
    "    indented code\n\n    more of it\n\nback to prose\n",
    "Intro:\n\n```python\ndef f():\n\n    return 1\n```\n\n> quoted\n\n> another quote\n>\n> - with a list\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nDone ~~or not~~.\n",
    "Formulas: \\(a^2 + b^2\\) and\n\n\\[\nE = mc^2\n\\]\n\nprice $5 and $10\n\n$$\nx\n\ny\n$$\n\nend\n",
    "Tight:\n- a\n- b\n\nLoose:\n- c\n\n- d\n\n* other marker\n\n#no heading\n\n# heading\n",
]


def parts_while_streaming(document: str, find: Callable[[str], int] = settled) -> Iterator[tuple[str, list[str]]]:
    """As the drawer draws ``document`` arriving a character at a time: each text so far, and its parts on screen
    (every part frozen so far, as it was frozen, then the rest)."""
    cuts = [0]
    for end in range(len(document) + 1):
        text = document[:end]
        cut = cuts[-1] + find(text[cuts[-1] :])
        if cut > cuts[-1]:
            cuts.append(cut)
        yield text, [text[start:stop] for start, stop in zip(cuts, [*cuts[1:], len(text)], strict=True)]


def reads_as_whole(text: str, parts: list[str]) -> bool:
    """The parts, drawn one after the other, read as the whole text: the same HTML, formulas normalised too."""
    html = "".join(MARKDOWN.render(part) for part in parts) == MARKDOWN.render(text)
    return html and "".join(normalize(part) for part in parts) == normalize(text)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_at_every_point_of_a_stream_the_frozen_parts_and_the_rest_read_as_the_whole(document: str):
    """What the drawer shows (each part frozen once and left alone, the rest as it grows) reads exactly as the whole
    text at every character a stream could stop at."""
    shown = list(parts_while_streaming(document))
    assert all(reads_as_whole(text, parts) for text, parts in shown), next(
        (text, parts) for text, parts in shown if not reads_as_whole(text, parts)
    )
    assert len(shown[-1][1]) > 2  # long documents are drawn in several parts


def test_freezing_every_finished_block_would_change_what_earlier_parts_read_as():
    """The check above can fail: freezing at each new top-level block, as soon as one starts, splits blocks that
    later text joins again (a paragraph and a line that turns out to continue it)."""

    def eager(text: str) -> int:
        lines = [token.map[0] for token in MARKDOWN.parse(text) if token.level == 0 and token.map is not None]
        return sum(len(line) for line in text.splitlines(keepends=True)[: lines[-1]]) if len(lines) > 1 else 0

    assert not all(reads_as_whole(text, parts) for text, parts in parts_while_streaming(DOCUMENTS[0], eager))


def test_a_fragments_own_first_run_does_not_act_its_timed_runs_do():
    """The page's refresh after a reply (ui_stream.refresh_after_reply) and the follow of a reply written elsewhere
    rerun the page from a fragment's timed run only: its first run, inline with the page, would rerun at once."""
    assert not timed_run(drawn=100.0, now=100.0, every=0.3)
    assert not timed_run(drawn=100.0, now=100.1, every=0.3)
    assert timed_run(drawn=100.0, now=100.3, every=0.3)
    assert timed_run(drawn=100.0, now=160.0, every=2.0)
