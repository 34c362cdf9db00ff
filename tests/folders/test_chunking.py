"""Chunking follows the document's structure: headings, paragraphs, code, overlap, rows."""

from __future__ import annotations

import itertools

from memfold.folders.chunking import chunk_document, chunk_limits
from memfold.folders.document import Block, Document
from memfold.folders.parsing import parse_file


def sentences(n: int, word: str = "alpha") -> str:
    return " ".join(f"Sentence {i} about {word}." for i in range(n))


def test_every_heading_starts_a_chunk() -> None:
    source = "# Guide\n\nIntro.\n\n## Install\n\nRun the installer.\n\n## Use\n\nCall it.\n"
    chunks = chunk_document(parse_file("g.md", source.encode()), size=1000, overlap=100)
    assert chunks == ["# Guide\n\nIntro.", "## Install\n\nRun the installer.", "## Use\n\nCall it."]


def test_short_paragraphs_share_a_chunk_and_chunks_stay_within_size() -> None:
    text = "\n\n".join(sentences(3, f"topic{i}") for i in range(30))
    chunks = chunk_document(parse_file("t.txt", text.encode()), size=400, overlap=60)
    assert len(chunks) > 5
    assert all(len(c) <= 400 for c in chunks)
    assert all(c.count("\n\n") >= 1 for c in chunks)  # several paragraphs per chunk
    for i in range(30):  # nothing is lost
        assert any(f"about topic{i}." in c for c in chunks)


def test_a_long_section_continues_under_its_heading_path_with_overlap() -> None:
    source = f"# Manual\n\n## Safety\n\n{sentences(60)}\n"
    chunks = chunk_document(parse_file("m.md", source.encode()), size=500, overlap=80)
    assert chunks[0].startswith("# Manual\n\n## Safety\n\n")
    assert len(chunks) >= 3
    for previous, chunk in itertools.pairwise(chunks):
        assert chunk.startswith("Manual > Safety\n\n")
        body = chunk.removeprefix("Manual > Safety\n\n")
        first_sentence = body.split(". ")[0] + "."
        assert first_sentence in previous  # the chunk repeats the end of the one before
        assert len(chunk) <= 500
    assert all(f"Sentence {i} about alpha." in "".join(chunks) for i in range(60))


def test_overlap_does_not_cross_a_heading() -> None:
    source = f"## One\n\n{sentences(5, 'first')}\n\n## Two\n\n{sentences(2, 'second')}\n"
    chunks = chunk_document(parse_file("m.md", source.encode()), size=1000, overlap=200)
    assert len(chunks) == 2
    assert "first" not in chunks[1]


def test_a_code_block_is_kept_whole_when_it_fits_and_cut_at_lines_otherwise() -> None:
    code = "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(12)) + "\n```"
    source = f"Intro paragraph.\n\n{code}\n"
    chunks = chunk_document(parse_file("c.md", source.encode()), size=400, overlap=50)
    assert any(code in c for c in chunks)
    big = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(200)) + "\n```"
    pieces = chunk_document(parse_file("c.md", big.encode()), size=300, overlap=0)
    assert len(pieces) > 3
    assert all(p.endswith("\n```") or p.splitlines()[-1].startswith("line_") for p in pieces)
    assert all(len(p) <= 300 for p in pieces)


def test_csv_chunks_repeat_the_header_and_never_overlap() -> None:
    rows = "\n".join(f"user{i},city{i}" for i in range(100))
    document = parse_file("u.csv", f"name,city\n{rows}\n".encode())
    chunks = chunk_document(document, size=300, overlap=100)
    assert len(chunks) > 3
    assert all(c.startswith("name,city\n") for c in chunks)
    seen = [line for c in chunks for line in c.splitlines()[1:]]
    assert seen == [f"user{i},city{i}" for i in range(100)]  # each row once, in order


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    document = Document("x" * 1000, [Block("paragraph", "x" * 1000)])
    chunks = chunk_document(document, size=300, overlap=0)
    assert "".join(chunks) == "x" * 1000
    assert all(len(c) <= 300 for c in chunks)


def test_chunk_limits_follow_the_folder_token_size() -> None:
    assert chunk_limits(300) == (1200, 150)
    assert chunk_limits(10)[0] == 200
