"""Google-style docstrings: the description, and each `Args:` entry's text.

    Summary line.

    More description.

    Args:
        name (type): What it is,
            continued on an indented line.
        other: What that is.

    Returns:
        ...

The description is the text before the first section. Other Google sections, and numpy-style
sections (a title underlined with dashes), end it and are otherwise ignored.
"""

from __future__ import annotations

import re

__all__ = ["parse_docstring"]

_ARGS_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"})
_SECTION_HEADER = re.compile(
    r"^(?P<name>Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|Returns?"
    r"|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|Todo|References)\s*:\s*$",
    re.IGNORECASE,
)
_ARG_ENTRY = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\([^:]*\))?\s*:\s*(?P<desc>.*)$")
_UNDERLINE = re.compile(r"-{3,}")


def parse_docstring(docstring: str) -> tuple[str, dict[str, str]]:
    """The description (text before the first section) and each `Args:` entry's description."""
    intro: list[str] = []
    args: list[str] = []
    target = intro
    lines = docstring.splitlines()
    for index, line in enumerate(lines):
        header = _SECTION_HEADER.match(line)
        if header:
            target = args if header["name"].lower() in _ARGS_SECTIONS else []
        elif index + 1 < len(lines) and line.strip() and _UNDERLINE.fullmatch(lines[index + 1].strip()):
            target = []  # a numpy-style section header: not parsed, but not part of the description
        else:
            target.append(line)
    paragraphs = re.split(r"\n\s*\n", "\n".join(intro).strip())
    description = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return description, _parse_args_section(args)


def _parse_args_section(lines: list[str]) -> dict[str, str]:
    """`name (type): text` or `name: text` entries; lines indented further than an entry continue it."""
    docs: dict[str, str] = {}
    current: str | None = None
    entry_indent: int | None = None
    for line in lines:
        text = line.strip()
        if not text:
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ARG_ENTRY.match(text)
        if entry and (entry_indent is None or indent <= entry_indent):
            current, entry_indent = entry["name"], indent
            docs[current] = entry["desc"].strip()
        elif current is not None:
            docs[current] = f"{docs[current]} {text}".strip()
    return docs
