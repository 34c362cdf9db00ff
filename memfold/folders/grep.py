"""grep over an agent's files: a Python regular expression matched line by line, each match with
its context lines, one page of matches per call with the offset of the next.

Output is bounded (a page holds at most `PAGE_MATCHES` matches and about `MAX_OUTPUT_CHARS`
characters; long lines are clipped), and counting stops at `MAX_COUNTED` matches, so a pattern
that matches everything costs one pass over the text and answers in a few kilobytes.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from memfold.errors import ToolError

__all__ = ["MAX_CONTEXT_LINES", "PAGE_MATCHES", "GrepFile", "compile_pattern", "grep", "included"]

PAGE_MATCHES = 20
MAX_OUTPUT_CHARS = 4_500
MAX_LINE_CHARS = 300
MAX_COUNTED = 10_000
MAX_CONTEXT_LINES = 10
MAX_PATTERN_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class GrepFile:
    path: str
    """`folder/file`, as the agent names it."""
    text: str


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; `ToolError` (which the model reads) for an empty or invalid one."""
    if not pattern:
        raise ToolError("pattern is empty: give a regular expression to search for")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ToolError(f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ToolError(
            f"pattern {pattern!r} is not a valid (Python) regular expression: {e}; "
            "escape special characters such as ( [ . * + ? with a backslash to match them literally"
        ) from e


def included(path: str, include: str | None) -> bool:
    """Whether a file passes the `include` glob, matched against `folder/file` and the bare name."""
    if not include:
        return True
    name = path.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(path, include) or fnmatch.fnmatchcase(name, include)


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else f"{line[:MAX_LINE_CHARS]} [... clipped]"


def grep(files: list[GrepFile], pattern: str, *, context_lines: int = 1, offset: int = 0) -> str:
    """One page of the matches of `pattern` in `files` (in order), from match number `offset` (0-based)."""
    regex = compile_pattern(pattern)
    if context_lines < 0 or context_lines > MAX_CONTEXT_LINES:
        raise ToolError(f"context_lines must be between 0 and {MAX_CONTEXT_LINES}")
    if offset < 0:
        raise ToolError("offset must be 0 or more")
    matches: list[tuple[int, int]] = []  # (file index, 0-based line)
    split: list[list[str]] = []
    capped = False
    for index, file in enumerate(files):
        lines = file.text.splitlines()
        split.append(lines)
        for number, line in enumerate(lines):
            if regex.search(line):
                matches.append((index, number))
                if len(matches) >= MAX_COUNTED:
                    capped = True
                    break
        if capped:
            break
    total = f"{len(matches)}+" if capped else str(len(matches))
    where = f"{len(files)} file" + ("" if len(files) == 1 else "s")
    if not matches:
        return f"No matches for /{pattern}/ in {where}."
    if offset >= len(matches):
        return f"No matches at offset {offset}: /{pattern}/ has {total} matches in {where}."
    page = matches[offset : offset + PAGE_MATCHES]
    body, shown = _render(page, split, files, context_lines)
    next_offset = offset + shown
    in_files = len({i for i, _ in matches})
    header = (
        f"{total} matches for /{pattern}/ in {in_files} of {where}; "
        f"matches {offset + 1}-{next_offset} below (':' marks a matching line, '-' a context line)."
    )
    parts = [header, *body]
    if next_offset < len(matches) or capped:
        parts.append(f"More results: call grep_files again with offset={next_offset}.")
    return "\n".join(parts)


def _render(
    page: list[tuple[int, int]], split: list[list[str]], files: list[GrepFile], context: int
) -> tuple[list[str], int]:
    """The lines showing `page` (grouped by file, overlapping contexts merged), and how many matches
    fit in the output bound (at least one)."""
    out: list[str] = []
    size = 0
    shown = 0
    current_file = -1
    last_line = -1  # the last line printed of the current file
    matched = {m for m in page}
    for file_index, number in page:
        lines = split[file_index]
        block: list[str] = []
        if file_index != current_file:
            block.append(f"== {files[file_index].path} ==")
            last_line = -1
        elif number - context > last_line + 1:
            block.append("--")
        first = max(0, number - context, last_line + 1)
        last = min(len(lines) - 1, number + context)
        for n in range(first, last + 1):
            mark = ":" if (file_index, n) in matched else "-"
            block.append(f"{n + 1}{mark} {_clip(lines[n])}")
        cost = sum(len(line) + 1 for line in block)
        if shown and size + cost > MAX_OUTPUT_CHARS:
            break
        out.extend(block)
        size += cost
        shown += 1
        current_file = file_index
        last_line = max(last_line, last)
    return out, shown
