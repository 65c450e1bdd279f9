r"""Formulas made displayable: \( \) and \[ \] in dollars, never inside code, tolerant of partial text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app_driver import rendered
from formulas import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"Area: \( \pi r^2 \).", r"Area: $\pi r^2$."),
        (r"其中\(x\)是未知数", r"其中$x$是未知数"),
        (r"\(a\) and \(b\)", r"$a$ and $b$"),
        ("The formula:\n\\[\n  E = mc^2\n\\]\nwhere m is mass", "The formula:\n$$\nE = mc^2\n$$\nwhere m is mass"),
        (r"so \[ x = 1 \]", "so \n$$\nx = 1\n$$"),
        (r"1. first \[x\]", "1. first \n   $$\n   x\n   $$"),
        (r"- \[x\]", "- $$\n  x\n  $$"),
        (r"> quoted \[x\]", "> quoted \n> $$\n> x\n> $$"),
        # text after it on its line, a table row, a heading, a list-like first line: inline, the blocks stay as they are
        (r"so \[x\] is it", "so $$x$$ is it"),
        (r"| a | \[b\] |", "| a | $$b$$ |"),
        (r"# Title \[x\]", "# Title $$x$$"),
        (r"\[- x\]", "$$- x$$"),
        (r"\(x\)5", "$$x$$5"),  # $x$5 is no math by Pandoc's rule (a digit after the closing dollar)
        ("\\(\n x\n\\)", "$$\n x\n$$"),  # a line break at an edge would make $ x $ plain text
    ],
)
def test_brackets_become_dollars(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        r"`\(x\)`",
        r"``a `\(x\)` b``",
        "```latex\n\\(x\\) and \\[y\\] cost $5\n```",
        "~~~\n\\(x\\)\n~~~",
        "text\n\n    \\(x\\) $5 indented code\n",
        "- item\n\n  ```\n  \\(x\\)\n  ```",
        "> ```\n> \\(x\\)\n> ```",
    ],
)
def test_code_spans_and_blocks_are_left_alone(text):
    assert normalize(text) == text


def test_an_unclosed_fence_is_code_to_the_end_while_streaming():
    text = "Look: \\(a\\)\n```python\nprint('\\(b\\) $5')\n"
    assert normalize(text) == "Look: $a$\n```python\nprint('\\(b\\) $5')\n"
    assert normalize(text + "```\nthen \\(c\\)") == "Look: $a$\n```python\nprint('\\(b\\) $5')\n```\nthen $c$"


def test_backticks_not_closed_yet_keep_the_rest_of_their_paragraph():
    assert normalize("run `f(\\(x\\)") == "run `f(\\(x\\)"
    assert normalize("run `f(\\(x\\)`") == "run `f(\\(x\\)`"
    assert normalize("run `f\n\n\\(x\\)") == "run `f\n\n$x$"


@pytest.mark.parametrize(
    "text",
    [
        r"\(x",  # streaming: not closed yet
        r"\[ x = \frac{1}{2",
        "\\(x\n\n\\)",  # a formula does not run across paragraphs
        r"\\(x\)",  # an escaped backslash, then a plain parenthesis
        r"a\[i\] and f\(x\)",  # escaped brackets after a word: an index, not a formula
        r"\(\)",
        r"\( a `b` \)",  # a code span inside: left as written
        r"\( a $b$ \)",  # math of its own inside
    ],
)
def test_what_is_not_a_closed_formula_stays_as_is(text):
    assert normalize(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "$x^2$ and $$\\frac{a}{b}$$",
        "$$\n\\text{\\(x\\)}\n$$",
        "$\\(x\\)$",
        "$$\nx = \\(y\\)",  # display math still streaming: the rest is math
        "\\$5 already escaped",
    ],
)
def test_math_already_in_dollars_is_left_alone(text):
    assert normalize(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("costs $5 and $10", "costs \\$5 and \\$10"),
        ("$5,$10", "\\$5,\\$10"),
        ("$x$ costs $5", "$x$ costs \\$5"),
        ("a $ b $ c", "a \\$ b \\$ c"),
        ("$2^{10}$ bytes", "$2^{10}$ bytes"),
        ("\\\\$x$", "\\\\$x$"),  # an escaped backslash, then math
    ],
)
def test_single_dollars_that_are_not_math_are_escaped(text, expected):
    assert normalize(text) == expected


def test_escaped_dollars_read_as_dollars():
    assert rendered(normalize("It costs $5 and $10 (about ¥70).")) == "It costs $5 and $10 (about ¥70)."


@pytest.mark.parametrize("text", ["see https://x.example/$5/a and <https://x.example/$6>", "www.x.example/$5"])
def test_dollars_in_links_are_left_alone(text):
    assert normalize(text) == text


def test_formulas_next_to_dollars_do_not_run_into_them():
    assert normalize(r"\(x\)$y$") == r"\(x\)$y$"
    assert normalize(r"\(x\)$5") == r"$x$\$5"


def test_every_partial_text_of_a_stream_is_normalized_without_touching_its_code():
    reply = "Solve \\(x^2 = 4\\):\n\\[\nx = \\pm 2\n\\]\n```python\nprint('\\(x\\)')\n```\nCosts $5."
    fence = reply.find("```")
    fence_end = reply.find("```", fence + 3) + 3
    partials = [normalize(reply[:end]) for end in range(len(reply) + 1)]
    assert all(partials[end].endswith(reply[fence:end]) for end in range(fence, fence_end + 1))
    assert partials[reply.find("\\]")] == "Solve $x^2 = 4$:\n\\[\nx = \\pm 2\n"  # not closed yet: as it is
    assert normalize(reply) == "Solve $x^2 = 4$:\n$$\nx = \\pm 2\n$$\n```python\nprint('\\(x\\)')\n```\nCosts \\$5."


MARKDOWN = st.sampled_from(
    [*"\\()[]$`~ \n\t>-1x|#*_=.\r\u3000", "```", "~~~", "\\(", "\\)", "\\[", "\\]", "$$", "    ", "\n\n", "1. ", "- "]
    + ["# ", "https://a", "<https://b>", "``"]
)


@settings(max_examples=1500)
@given(st.lists(MARKDOWN, max_size=40).map("".join))
def test_normalizing_twice_changes_nothing(text):
    once = normalize(text)
    assert normalize(once) == once


PROSE = st.lists(st.sampled_from([*"\\()[]$ x1>-|", "\\(", "\\)", "\\[", "\\]", "$$", "\n", "- "]), max_size=12).map(
    "".join
)
CODE_TEXT = st.lists(st.sampled_from([*"\\()[]$~ x1>-|", "\\(", "\\)", "\\[", "\\]", "$$"]), min_size=1, max_size=12)


@st.composite
def document(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Prose with code spans and fenced blocks between; the code pieces in order."""
    parts, code = [], []
    for _ in range(draw(st.integers(1, 4))):
        parts.append(draw(PROSE))
        inner = "".join(draw(CODE_TEXT))
        if draw(st.booleans()):
            piece = f"`{inner.replace(chr(10), ' ')}`"
            parts.append(f" {piece} ")
        else:
            piece = f"```\n{inner}\n```\n"
            parts.append(f"\n\n{piece}\n")
        code.append(piece)
    return "".join(parts), code


@settings(max_examples=1500)
@given(document())
def test_code_comes_out_byte_for_byte(doc):
    text, code = doc
    result, at = normalize(text), 0
    for piece in code:
        found = result.find(piece, at)
        assert found >= 0, (piece, result)
        at = found + len(piece)
