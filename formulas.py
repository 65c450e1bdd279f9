r"""Formulas as Streamlit draws them: models write ``\( … \)`` and ``\[ … \]``, st.markdown (remark-math and KaTeX)
renders ``$…$`` and ``$$…$$``.

``normalize`` rewrites the first into the second in prose only, never inside a code span or a code block (a fence
still open while a reply streams is code to the end), and leaves a formula that is not closed yet as it is, so it
can run on every partial text of a stream. Text already in dollars is left alone. A single dollar that does not
pair up as math by Pandoc's rule (the opening ``$`` followed by a non-space, the closing one after a non-space and
not before a digit) is escaped: remark-math would otherwise set "5 and " of "$5 and $10" as a formula.

Which lines are code comes from a CommonMark parser (markdown-it-py), so fences and indented code inside lists
and quotes are found as Streamlit's renderer finds them.
"""

from __future__ import annotations

import bisect
import re

from markdown_it import MarkdownIt

_BLOCKS = MarkdownIt("commonmark", {"html": False}).disable("inline")  # the blocks are all it needs
_LINE_BREAK = re.compile(r"(?<=\r)(?!\n)|(?<=\n)")  # after each line ending, as markdown-it counts lines
_SPECIAL = re.compile(r"[\\`$<]|(?<![A-Za-z0-9])(?:https?://|www\.)")
_LINK = re.compile(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>|(?:https?://|www\.)[^\s<>]*")
_BLANK_LINE = re.compile(r"(?=\n[ \t>]*\r?\n)")  # a paragraph ends here (also inside a quote)
_DOLLARS = re.compile(r"\$+")
_BACKTICKS = re.compile(r"`+")
_CONTAINER = re.compile(r"((?:[ \t]*>[ \t]?)*)([ \t]*)((?:[-+*]|\d{1,9}[.)])[ \t]+)?")  # quote marks, list marker
_BLOCK_START = re.compile(r"[-+*>#|=_~`]|\d{1,9}[.)]")  # what could start a block of its own at a line's start
_DIGITS = frozenset("0123456789")
_TRAILING_DOLLAR = re.compile(r"(\\*)\$\Z")
_CLOSERS = {bracket: re.compile(rf"(?<!\\)(?:\\\\)*\\\{bracket}") for bracket in ")]"}  # an odd run of \ before it


def normalize(text: str) -> str:
    r"""``\( x \)`` → ``$x$``, ``\[ x \]`` → ``$$`` on lines of their own (inline ``$$x$$`` where text follows on
    its line), lone dollars escaped; code spans and blocks come out byte for byte."""
    if "\\" not in text and "$" not in text:
        return text
    lines = _LINE_BREAK.split(text)
    code = _code_lines(text)
    out: list[str] = []
    prose: list[str] = []
    for number, line in enumerate(lines):
        if number in code:
            out.append(_prose("".join(prose)))
            prose = []
            out.append(line)
        else:
            prose.append(line)
    out.append(_prose("".join(prose)))
    return "".join(out)


def _code_lines(text: str) -> set[int]:
    """The numbers of the lines inside fenced or indented code blocks."""
    lines: set[int] = set()
    for token in _BLOCKS.parse(text):
        if token.type in ("fence", "code_block") and token.map:
            lines.update(range(*token.map))
    return lines


def _prose(text: str) -> str:
    """One stretch of lines outside code blocks, scanned left to right as an inline parser would."""
    return _Scan(text).run()


class _Scan:
    """The scan of one stretch of prose: what is written so far, and where paragraphs end and formulas close
    (found once, so a long reply full of formulas not closed yet is still scanned in linear time)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.blank_lines = [m.start() for m in _BLANK_LINE.finditer(text)]
        self.closers = {bracket: [m.end() - 2 for m in pattern.finditer(text)] for bracket, pattern in _CLOSERS.items()}

    def run(self) -> str:
        text, at = self.text, 0
        while (found := _SPECIAL.search(text, at)) is not None:
            self.out.append(text[at : found.start()])
            at = self.special(found.start())
        self.out.append(text[at:])
        return "".join(self.out)

    def special(self, at: int) -> int:
        """Handles what starts at ``at`` (a backslash, backticks, dollars or a link); returns where to go on."""
        char = self.text[at]
        if char == "\\":
            return self.backslashes(at)
        if char == "`":
            return _code_span(self.text, at, self.paragraph_end(at), self.out)
        if char == "$":
            return _dollars(self.text, at, self.paragraph_end(at), self.out)
        link = _LINK.match(self.text, at)
        end = link.end() if link else at + 1
        self.out.append(self.text[at:end])
        return end

    def paragraph_end(self, at: int) -> int:
        index = bisect.bisect_left(self.blank_lines, at)
        return self.blank_lines[index] if index < len(self.blank_lines) else len(self.text)

    def backslashes(self, at: int) -> int:
        """An even run of backslashes is literal; an odd one escapes the next character, or opens a formula."""
        text, end = self.text, at
        while end < len(text) and text[end] == "\\":
            end += 1
        if (end - at) % 2 == 0 or end == len(text):
            self.out.append(text[at:end])
            return end
        self.out.append(text[at : end - 1])
        escape = end - 1
        after_word = escape > 0 and text[escape - 1].isascii() and text[escape - 1].isalnum()  # a\[i\] is an index
        if text[end] in "([" and not after_word:
            converted = self.formula(escape)
            if converted is not None:
                return converted
        self.out.append(text[escape : end + 1])
        return end + 1

    def formula(self, at: int) -> int | None:
        r"""``\(`` or ``\[`` at ``at``: written in dollars when closed in the same paragraph with no backtick or
        dollar between (a code span or math of its own); None leaves it as is."""
        text = self.text
        display = text[at + 1] == "["
        close = self.closing(at + 2, "]" if display else ")")
        if close is None:
            return None
        content, after = text[at + 2 : close], close + 2
        if not content.strip() or "$" in content or "`" in content or self.touches_dollar(after):
            return None
        if display:
            self.out.append(_display(text, at, content, after))
        else:
            self.out.append(_inline(content, text[after : after + 1]))
        return after

    def closing(self, start: int, bracket: str) -> int | None:
        """Where ``\\)`` or ``\\]`` closes, before the paragraph ends (``\\\\`` pairs are LaTeX, skipped whole)."""
        closers = self.closers[bracket]
        index = bisect.bisect_left(closers, start)
        if index < len(closers) and closers[index] < self.paragraph_end(start):
            return closers[index]
        return None

    def touches_dollar(self, after: int) -> bool:
        """A formula written next to a dollar that stays one would run into it (``$x$$``): left as it is."""
        unescaped_before = _TRAILING_DOLLAR.search(self.tail())
        if unescaped_before is not None and len(unescaped_before.group(1)) % 2 == 0:
            return True
        if not self.text.startswith("$", after):
            return False
        following: list[str] = []
        _dollars(self.text, after, self.paragraph_end(after), following)
        return not following[0].startswith("\\")

    def tail(self) -> str:
        """The end of what is written so far: enough of it to see its last character and the backslashes before."""
        tail = ""
        for chunk in reversed(self.out):
            tail = chunk + tail
            if tail[:-1].strip("\\"):
                break
        return tail


def _inline(content: str, next_char: str) -> str:
    """``$x$`` where that reads back as math; ``$$…$$`` (inline too) where a line break or a digit is in the way."""
    inner = content.strip()
    edges = content[: len(content) - len(content.lstrip())] + content[len(content.rstrip()) :]
    if "\n" in edges or "\r" in edges or next_char in _DIGITS:
        return f"$${content}$$"
    return f"${inner}$"


def _display(text: str, at: int, content: str, after: int) -> str:
    """``$$`` on lines of their own, kept in the line's list item or quote; inline ``$$…$$`` where text follows
    on the line, or where new lines would change the blocks around (a heading, a table row)."""
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", after)
    rest = text[after : len(text) if line_end == -1 else line_end]
    container = _CONTAINER.match(text, line_start, at)
    assert container is not None  # every part of the pattern is optional
    before = text[container.end() : at]
    prefix = container.group(1) + container.group(2) + " " * len(container.group(3) or "")
    inner = content.strip()
    if rest.strip() or not _flow_safe(before, inner):
        return f"$${content}$$"
    opening = f"\n{prefix}$$" if before.strip() else "$$"
    return f"{opening}\n{prefix}{inner}\n{prefix}$$"


def _flow_safe(before: str, inner: str) -> bool:
    """New lines here keep every block as it was: no heading or table row is split, and the formula's first line
    cannot start a block (a list item, a fence) of its own."""
    if before.lstrip().startswith("#") or "|" in before:
        return False
    fences = any(line.lstrip().startswith("~~~") for line in inner.splitlines())
    return not _BLOCK_START.match(inner) and not fences


def _code_span(text: str, at: int, paragraph_end: int, out: list[str]) -> int:
    """A code span is copied as it is; backticks not closed in their paragraph (yet) keep the rest of it as is."""
    run = _BACKTICKS.match(text, at)
    assert run is not None
    size, limit = len(run.group()), paragraph_end
    end = next((m.end() for m in _BACKTICKS.finditer(text, run.end(), limit) if len(m.group()) == size), limit)
    out.append(text[at:end])
    return end


def _dollars(text: str, at: int, paragraph_end: int, out: list[str]) -> int:
    """Math already in dollars is copied as it is (math never runs into a code span); a ``$$`` not closed (yet)
    keeps the rest as it is (display math while streaming); a single dollar that is not math is escaped."""
    run = _DOLLARS.match(text, at)
    assert run is not None
    size = len(run.group())
    limit = paragraph_end if size == 1 else len(text)
    backtick = text.find("`", run.end(), limit)  # math that would run into a code span is not taken for math
    limit = limit if backtick == -1 else backtick
    close = next((m for m in _DOLLARS.finditer(text, run.end(), limit) if len(m.group()) == size), None)
    if size > 1:
        end = close.end() if close else len(text)
    elif close is not None and _pandoc_math(text, at, close.start()):
        end = close.end()
    else:
        out.append("\\$")
        return run.end()
    out.append(text[at:end])
    return end


def _pandoc_math(text: str, start: int, close: int) -> bool:
    """Pandoc's rule for ``$…$``: a non-space after the opening dollar and before the closing one, no digit after."""
    spaced = text[start + 1].isspace() or text[close - 1].isspace()
    return not spaced and text[close + 1 : close + 2] not in _DIGITS
