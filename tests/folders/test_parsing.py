"""Each supported type parses to the right text and structure; bad files raise a clear reason."""

from __future__ import annotations

import json

import pytest

from memfold.folders.document import FileParseError
from memfold.folders.parsing import file_type, parse_file
from tests.folders.samples import make_docx, make_pdf


def kinds(name: str, data: bytes) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in parse_file(name, data).blocks]


def test_plain_text_is_split_into_paragraphs() -> None:
    document = parse_file("notes.txt", b"First line\nstill first.\r\n\r\nSecond paragraph.\n")
    assert [(b.kind, b.text) for b in document.blocks] == [
        ("paragraph", "First line\nstill first."),
        ("paragraph", "Second paragraph."),
    ]
    assert "Second paragraph." in document.text


def test_markdown_headings_paragraphs_and_fenced_code() -> None:
    source = (
        b"# Title\n\nIntro text.\n\n## Setup\n\n"
        b"```sh\npip install x\n\n# not a heading\n```\n\nSub\n---\nBody.\n"
    )
    assert kinds("readme.md", source) == [
        ("heading", "# Title"),
        ("paragraph", "Intro text."),
        ("heading", "## Setup"),
        ("code", "```sh\npip install x\n\n# not a heading\n```"),
        ("heading", "## Sub"),
        ("paragraph", "Body."),
    ]


def test_html_keeps_structure_and_drops_scripts() -> None:
    page = (
        b"<html><head><title>Doc</title><style>p{color:red}</style><script>var x=1;</script></head>"
        b"<body><h2>Part &amp; parcel</h2><p>Some <b>bold</b>\n text.</p><pre>a = 1\n  b = 2</pre>"
        b"<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>"
        b"<ul><li>one</li><li>two</li></ul></body></html>"
    )
    assert kinds("page.html", page) == [
        ("heading", "# Doc"),
        ("heading", "## Part & parcel"),
        ("paragraph", "Some bold text."),
        ("code", "a = 1\n  b = 2"),
        ("paragraph", "k | v"),
        ("paragraph", "x | 1"),
        ("paragraph", "one"),
        ("paragraph", "two"),
    ]
    assert "var x" not in parse_file("page.html", page).text


def test_json_is_pretty_printed_one_block_per_top_level_item() -> None:
    document = parse_file("data.json", json.dumps({"name": "memfold", "tags": ["a", "b"]}).encode())
    assert json.loads(document.text) == {"name": "memfold", "tags": ["a", "b"]}
    assert [b.text for b in document.blocks] == ['"name": "memfold"', '"tags": [\n  "a",\n  "b"\n]']


def test_csv_rows_with_the_header_apart() -> None:
    document = parse_file("people.csv", b'name,city\nAnn,"Paris, FR"\n\nBob,Oslo\n')
    assert document.header == "name,city"
    assert [(b.kind, b.text) for b in document.blocks] == [("row", 'Ann,"Paris, FR"'), ("row", "Bob,Oslo")]


def test_pdf_text_of_every_page() -> None:
    pdf = make_pdf([["Quarterly report", "Revenue grew by ten percent."], ["Second page."]])
    document = parse_file("report.pdf", pdf)
    assert [b.text for b in document.blocks] == [
        "Quarterly report\nRevenue grew by ten percent.",
        "Second page.",
    ]


def test_docx_headings_and_paragraphs() -> None:
    docx = make_docx([("Title", "Handbook"), ("Heading2", "Leave"), ("", "Ask your manager.")])
    assert kinds("handbook.docx", docx) == [
        ("heading", "# Handbook"),
        ("heading", "## Leave"),
        ("paragraph", "Ask your manager."),
    ]


def test_type_comes_from_the_extension_then_the_declared_type() -> None:
    assert file_type("a.MD") == "text/markdown"
    assert file_type("noext", "text/plain; charset=utf-8") == "text/plain"
    assert file_type("image.png", "image/png") is None


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("photo.png", b"\x89PNG\r\n", "unsupported file type 'photo.png'"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf at all", "cannot read the PDF"),
        ("empty.pdf", make_pdf([[]]), "no extractable text"),
        ("broken.json", b'{"a": 1,', "invalid JSON at line 1"),
        ("binary.txt", b"abc\x00\x01def", "binary"),
        ("latin.txt", "café".encode("latin-1"), "not valid UTF-8"),
        ("broken.docx", b"PK\x03\x04 not a zip", "cannot read the DOCX"),
    ],
)
def test_bad_files_raise_a_clear_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(FileParseError, match=reason):
        parse_file(name, data)
