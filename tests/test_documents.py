"""Reading documents for the knowledge base: each file type made in the test, its real type sniffed, refusals
with their reasons, and passages that overlap."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from document_files import docx_bytes, encrypted_pdf, pdf_bytes
from documents import (
    MAX_PDF_PAGES,
    PASSAGE_CHARS,
    PDF_SECONDS,
    Limits,
    Refused,
    clean_name,
    pasted_document,
    pdf_text,
    read_document,
    split_document,
    split_text,
)

LIMITS = Limits.of(1, 100)


def refusal(name: str, data: bytes, limits: Limits = LIMITS) -> Refused:
    with pytest.raises(Refused) as caught:
        read_document(name, data, limits)
    return caught.value


def test_a_text_file_in_utf8_gb18030_or_utf16_reads_the_same():
    text = "流式输出 streaming\n第二行 second line"
    for data in (text.encode("utf-8"), text.encode("utf-8-sig"), text.encode("gb18030"), text.encode("utf-16")):
        document = read_document("notes.txt", data, LIMITS)
        assert (document.kind, document.size) == ("txt", len(data))
        assert [(p.number, p.title, p.text) for p in document.passages] == [(1, "notes.txt", text)]


def test_markdown_is_split_at_its_headings_into_numbered_passages():
    markdown = "# Guide\nintro words\n## Retries\nback off and retry\n## 流式\n中断后继续生成\n"
    document = read_document("guide.md", markdown.encode(), LIMITS)
    assert document.kind == "md"
    assert [(p.number, p.title, p.text) for p in document.passages] == [
        (1, "Guide", "intro words"),
        (2, "Guide › Retries", "back off and retry"),
        (3, "Guide › 流式", "中断后继续生成"),
    ]


def test_a_pdf_gives_the_text_of_every_page():
    data = pdf_bytes(["Rate limits (429) mean: wait.", "Retry-After says how long."], ["The second page."])
    document = read_document("limits.pdf", data, LIMITS)
    [passage] = document.passages
    assert (document.kind, passage.title) == ("pdf", "limits.pdf")
    assert passage.text == "Rate limits (429) mean: wait.\nRetry-After says how long.\n\nThe second page."


def test_a_docx_gives_its_headings_as_sections_and_its_tables_as_lines():
    sections = [("Intro", "Some intro text."), ("细节", "详细内容在这里。")]
    data = docx_bytes("Report", sections, table=[["model", "price"], ["a", "1"]])
    document = read_document("report.docx", data, LIMITS)
    assert document.kind == "docx"
    assert [(p.title, p.text) for p in document.passages] == [
        ("Report › Intro", "Some intro text."),
        ("Report › 细节", "详细内容在这里。\nmodel | price\na | 1"),
    ]


def test_the_bytes_decide_the_type_not_the_name():
    assert read_document("actually-a-pdf.txt", pdf_bytes(["hello"]), LIMITS).kind == "pdf"
    assert refusal("not-really.pdf", b"just some text").kind == "pdf_damaged"
    assert refusal("not-really.docx", b"just some text").kind == "docx_damaged"
    assert read_document("about-pdf.md", b"# PDF\nA PDF file starts with %PDF-1.7.", LIMITS).kind == "md"
    old_word = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100
    assert refusal("renamed.txt", old_word).kind == "type"


def test_a_damaged_pdf_is_refused_and_so_is_one_locked_with_a_password():
    good = pdf_bytes(["some text"])
    assert refusal("cut.pdf", good[: len(good) // 2]).kind == "pdf_damaged"
    assert refusal("noise.pdf", b"%PDF-1.4\n" + b"\x13\x37 garbage " * 40).kind == "pdf_damaged"
    assert refusal("locked.pdf", encrypted_pdf(good, user_password="secret")).kind == "pdf_encrypted"
    # only an owner password: anyone may read it
    assert read_document("open.pdf", encrypted_pdf(good, user_password=""), LIMITS).passages[0].text == "some text"
    assert refusal("scanned.pdf", pdf_bytes([])).kind == "no_text"


def test_other_files_are_refused_with_their_reason():
    assert refusal("tool.exe", b"MZ...").values == {"kinds": ".txt, .md, .pdf, .docx"}
    assert refusal("blob.txt", b"abc\x00\x01\x02").kind == "binary"
    assert refusal("blank.md", b" \n\t ").kind == "empty"
    assert refusal("archive.docx", _zip({"hello.txt": b"hi"})).kind == "docx_damaged"
    big = refusal("big.txt", b"a" * (1024 * 1024 + 1))
    assert (big.kind, big.values) == ("too_large", {"size": "1.0", "limit": "1.0"})


def test_a_docx_that_would_unpack_to_too_much_is_refused_before_it_is_parsed():
    bomb = _zip({"word/document.xml": b" " * 4_000_000})  # a few KB packed
    refused = refusal("bomb.docx", bomb, Limits(max_bytes=100_000, max_passages=100))
    assert refused.kind == "too_large" and refused.values["size"] == "3.8"


def test_a_document_of_more_passages_than_allowed_is_refused():
    text = ("A sentence about tokens. " * 200).encode()  # about 5,000 characters: five or more passages
    assert refusal("long.txt", text, Limits(max_bytes=10**6, max_passages=3)).values == {"limit": 3}
    assert len(read_document("long.txt", text, Limits(max_bytes=10**6, max_passages=10)).passages) >= 5
    pages = [[f"Line {line} of page {page} about rate limits and retries." for line in range(40)] for page in range(3)]
    long_pdf = refusal("long.pdf", pdf_bytes(*pages), Limits(max_bytes=10**6, max_passages=2))
    assert (long_pdf.kind, long_pdf.values) == ("too_many_passages", {"limit": 2})


def test_a_pdf_of_too_many_pages_or_too_slow_to_read_is_refused():
    many = refusal("many.pdf", pdf_bytes(*[[] for _ in range(MAX_PDF_PAGES + 1)]), Limits(10**7, 100))
    assert (many.kind, many.values) == ("pdf_too_big", {"pages": MAX_PDF_PAGES, "seconds": int(PDF_SECONDS)})
    ticks = iter(range(0, 1000, 30))  # each look at the clock half a minute on: the third page is past the time
    with pytest.raises(Refused) as slow:
        pdf_text(pdf_bytes(["one"], ["two"], ["three"]), 100, clock=lambda: float(next(ticks)))
    assert slow.value.kind == "pdf_too_big"
    assert pdf_text(pdf_bytes(["one"], ["two"], ["three"]), 100, clock=lambda: 0.0) == "one\n\ntwo\n\nthree"


def test_pasted_text_is_a_markdown_document_under_its_title():
    document = pasted_document("My notes", "# Notes\n## One\nfirst\n", LIMITS)
    assert (document.name, document.kind, [p.title for p in document.passages]) == ("My notes", "md", ["Notes › One"])
    with pytest.raises(Refused, match="empty"):
        pasted_document("t", "   ", LIMITS)
    with pytest.raises(Refused, match="too_large"):
        pasted_document("t", "字" * 400_000, LIMITS)  # three bytes each in UTF-8


def test_names_lose_folders_and_control_characters_and_stay_short():
    assert clean_name("C:\\Users\\me\\notes.md") == "notes.md"
    assert clean_name("../../etc/pass\x00wd.txt") == "passwd.txt"
    long = clean_name("x" * 300 + ".pdf")
    assert len(long) <= 120 and long.endswith("….pdf")


def test_long_text_is_cut_where_sentences_end_with_overlap():
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(120)]
    pieces = split_text(" ".join(sentences))
    assert len(pieces) > 3
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert len(before) <= PASSAGE_CHARS
        assert before.endswith(".") and after.startswith("Sentence")  # whole sentences
        assert after[:40] in before  # the next one starts inside this one: they overlap
    assert all(any(sentence in piece for piece in pieces) for sentence in sentences)


def test_chinese_without_spaces_is_cut_after_its_punctuation():
    text = "模型按词元计费，输入和输出分别计价。" * 100
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(piece) <= PASSAGE_CHARS for piece in pieces)
    assert all(piece.endswith("。") for piece in pieces)


@given(st.text(alphabet=st.sampled_from("ab 流式。.\n"), max_size=4000))
def test_passages_are_short_pieces_of_the_text_that_cover_all_of_it(text):
    pieces = split_text(text, size=100, overlap=20)
    assert all(0 < len(piece) <= 100 and piece in text for piece in pieces)
    covered = "".join(pieces)
    assert sum(not char.isspace() for char in covered) >= sum(not char.isspace() for char in text)


def test_passages_are_numbered_across_sections():
    long_section = "word " * 300  # 1,500 characters: two passages
    passages = split_document(f"# T\n## A\n{long_section}\n## B\nshort\n", "t.md", markdown=True)
    assert [(p.number, p.title) for p in passages] == [(1, "T › A"), (2, "T › A"), (3, "T › B")]


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()
