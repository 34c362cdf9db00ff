"""A `Document` in chunks of about `size` characters that follow its structure.

Rules:
- A heading starts a new chunk; a chunk that continues a section (because the section is
  longer than one chunk) starts with the section's heading path (`Guide > Install`).
- Paragraphs, code blocks and rows are never cut while they fit in a chunk; one that does not
  is split: code at line breaks, prose at sentence ends, then words, then characters.
- Consecutive chunks of one section overlap: the next one repeats the end of the previous one
  (whole blocks when they fit in `overlap` characters, else its last sentences or lines).
  Rows (CSV) do not overlap; each of their chunks repeats the file's header row instead.
"""

from __future__ import annotations

import re

from memfold.folders.document import Block, Document

__all__ = ["DEFAULT_CHUNK_CHARS", "DEFAULT_CHUNK_TOKENS", "chunk_document", "chunk_limits"]

DEFAULT_CHUNK_TOKENS = 300
"""A folder's `embedding_chunk_size` when its creator gives none (Letta's default)."""
DEFAULT_CHUNK_CHARS = 1200
CHARS_PER_TOKEN = 4
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def chunk_limits(chunk_tokens: int) -> tuple[int, int]:
    """(size, overlap) in characters of a folder whose `embedding_chunk_size` is `chunk_tokens`."""
    size = max(200, chunk_tokens * CHARS_PER_TOKEN)
    return size, size // 8


def _split_long(block: Block, size: int) -> list[str]:
    """`block.text` in pieces of at most `size` characters, cut at the largest natural break."""
    text = block.text
    if len(text) <= size:
        return [text]
    if block.kind == "code":
        units = [line + "\n" for line in text.split("\n")]
    else:
        units = [s + " " for s in _SENTENCE_END.split(text)]
    pieces: list[str] = []
    current = ""
    for unit in units:
        while len(unit) > size:  # one line or sentence longer than a chunk: words, then characters
            cut = unit.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(unit[:cut])
            unit = unit[cut:].lstrip(" ")
        if len(current) + len(unit) > size:
            pieces.append(current)
            current = ""
        current += unit
    if current.strip():
        pieces.append(current)
    return [p.rstrip() for p in pieces if p.strip()]


def _tail(text: str, overlap: int) -> str:
    """The end of `text` in at most `overlap` characters, starting at a sentence, line or word."""
    if len(text) <= overlap:
        return text
    window = text[-overlap:]
    for pattern in (_SENTENCE_END, re.compile(r"\n"), re.compile(r"\s+")):
        found = pattern.search(window)
        if found and found.end() < len(window):
            return window[found.end() :]
    return window


class _Chunker:
    def __init__(self, size: int, overlap: int, header: str | None) -> None:
        self.size = size
        self.overlap = overlap
        self.header = header
        self.chunks: list[str] = []
        self.path: list[tuple[int, str]] = []
        self.heads: list[str] = []  # headings at the top of the current chunk
        self.body: list[tuple[str, str]] = []  # (kind, text) of the current chunk's blocks

    def _length(self) -> int:
        parts = ([self.header] if self.header else []) + self.heads + [t for _, t in self.body]
        return sum(len(p) for p in parts) + 2 * max(0, len(parts) - 1)

    def _emit(self) -> None:
        if self.body or self.heads:
            parts = ([self.header] if self.header else []) + self.heads
            text = "\n\n".join(parts)
            previous = ""
            for kind, piece in self.body:  # rows stay one per line, like the file they came from
                joint = "\n" if kind == previous == "row" or (kind == "row" and not self.heads) else "\n\n"
                text = f"{text}{joint}{piece}" if text else piece
                previous = kind
            self.chunks.append(text)
        self.heads, self.body = [], []

    def heading(self, block: Block) -> None:
        if self.body:
            self._emit()
        self.path = [(level, title) for level, title in self.path if level < block.level]
        self.path.append((block.level, block.text.lstrip("#").strip()))
        self.heads.append(block.text)

    def _continue_section(self) -> None:
        """Close a full chunk; the next starts with the heading path and the overlap."""
        carried: list[tuple[str, str]] = []
        budget = self.overlap
        for kind, text in reversed(self.body):
            if kind == "row" or budget <= 0:
                break
            if len(text) <= budget:
                carried.insert(0, (kind, text))
                budget -= len(text) + 2
            else:
                carried.insert(0, (kind, _tail(text, budget)))
                break
        self._emit()
        if self.path:
            self.heads = [" > ".join(title for _, title in self.path)]
        self.body = [c for c in carried if c[1].strip()]

    def add(self, block: Block) -> None:
        # Pieces of a long block leave room for the heading path and the overlap of the next chunk.
        room = self.size - self.overlap - sum(len(t) for _, t in self.path) - 3 * len(self.path)
        for piece in _split_long(block, max(self.size // 2, room)):
            if self.body and self._length() + 2 + len(piece) > self.size:
                self._continue_section()
                while self.body and self._length() + 2 + len(piece) > self.size:
                    self.body.pop(0)  # the overlap must never push a chunk past its size
            self.body.append((block.kind, piece))


def chunk_document(document: Document, size: int = DEFAULT_CHUNK_CHARS, overlap: int = 150) -> list[str]:
    """The chunks of `document` (see the module's rules), in order."""
    header = document.header if document.header and len(document.header) < size // 2 else None
    chunker = _Chunker(size, max(0, min(overlap, size // 2)), header)
    for block in document.blocks:
        if block.kind == "heading":
            chunker.heading(block)
        else:
            chunker.add(block)
    chunker._emit()
    return chunker.chunks
