"""What a parsed file is: its full text and its structure (headings, paragraphs, code, rows)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Block", "BlockKind", "Document", "FileParseError", "paragraphs"]

BlockKind = Literal["heading", "paragraph", "code", "row"]


class FileParseError(Exception):
    """A file that cannot be turned into text; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str
    level: int = 0
    """A heading's level (1 is the title)."""


@dataclass(slots=True)
class Document:
    text: str
    """The file's full text, as the API's `content` returns it."""
    blocks: list[Block] = field(default_factory=list)
    header: str | None = None
    """Repeated at the top of every chunk (a CSV file's header row)."""


def paragraphs(text: str) -> list[Block]:
    """Blank-line separated paragraphs of `text`."""
    return [Block("paragraph", p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]
