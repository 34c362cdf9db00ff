"""What an agent sees of its files: windows of numbered lines, and the `<files>` part of its system
prompt (attached folders, each file's status, the open files' windows).

Pure functions: the database work is in memfold.folders.agent_files and memfold.store.agent_files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from memfold.errors import ToolError
from memfold.store.agent_files import AgentFile
from memfold.store.agents import AgentRecord
from memfold.store.folders import FolderRecord

__all__ = [
    "DEFAULT_MAX_FILES_OPEN",
    "FileWindow",
    "file_limits",
    "files_budget",
    "locate",
    "numbered",
    "render_file",
    "render_files",
    "view_window",
]

DEFAULT_MAX_FILES_OPEN = 5
MIN_VIEW_CHARS, MAX_VIEW_CHARS = 1_000, 20_000
"""Bounds of the derived per-file view limit."""
MAX_LISTED_FILES = 50
"""Closed files named in the system prompt; the rest are counted (the tools still find them)."""
_FILES_SHARE = 4
"""Open files may fill about 1/_FILES_SHARE of the context window (derived limits)."""
_CHARS_PER_TOKEN = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def file_limits(agent: AgentRecord) -> tuple[int, int]:
    """(most files open at once, characters of one file's window) for the agent. Unset values are
    derived: 5 files, and a view limit such that all open windows together fill about a quarter of
    the context window (1,000-20,000 characters; 6,400 for a 32k window)."""
    max_open = agent.max_files_open or DEFAULT_MAX_FILES_OPEN
    chars = agent.per_file_view_window_char_limit
    if not chars:
        derived = agent.context_window_limit * _CHARS_PER_TOKEN // _FILES_SHARE // max_open
        chars = max(MIN_VIEW_CHARS, min(MAX_VIEW_CHARS, derived))
    return max_open, chars


@dataclass(frozen=True, slots=True)
class FileWindow:
    """Lines `start_line`..`end_line` (1-based, inclusive) of a file of `total_lines` lines."""

    start_line: int
    end_line: int
    total_lines: int
    text: str
    """The lines shown, without numbers (the last may be cut to fit the view limit)."""
    cut: bool
    """True when the view limit stopped the window before the lines asked for."""


def _line_prefix(number: int) -> str:
    return f"{number}: "


def numbered(text: str, start_line: int) -> str:
    """`text` with each line prefixed by its line number (`12: ...`)."""
    return "\n".join(_line_prefix(start_line + i) + line for i, line in enumerate(text.split("\n")))


def view_window(content: str, offset: int | None, length: int | None, char_limit: int) -> FileWindow:
    """The window of `content` from line `offset` (1-based, default 1) for `length` lines (default: to
    the end), cut to what fits in `char_limit` characters once numbered. `ToolError` for a bad range."""
    lines = content.splitlines()
    total = len(lines)
    start = 1 if offset is None else offset
    if start < 1:
        raise ToolError(f"offset {start} is not a line number: lines are numbered from 1")
    if length is not None and length < 1:
        raise ToolError(f"length {length} must be at least 1 line")
    if total == 0:
        return FileWindow(1, 0, 0, "", False)
    if start > total:
        raise ToolError(f"offset {start} is past the end of the file, which has {total} lines")
    wanted_end = total if length is None else min(total, start + length - 1)
    shown: list[str] = []
    used = 0
    for number in range(start, wanted_end + 1):
        line = lines[number - 1]
        cost = len(_line_prefix(number)) + len(line) + 1
        if used + cost > char_limit:
            if not shown:  # a single line longer than the whole view: show its beginning
                room = max(0, char_limit - len(_line_prefix(number)) - 40)
                shown.append(f"{line[:room]} [... {len(line) - room} more characters]")
            break
        shown.append(line)
        used += cost
    end = start + len(shown) - 1
    return FileWindow(start, end, total, "\n".join(shown), cut=end < wanted_end)


def locate(content: str, chunk: str) -> tuple[int, int] | None:
    """The lines (1-based, inclusive) where a chunk's text sits in the file, when it can be found (a
    chunk that continues a section starts with its heading path, which the file does not hold)."""
    text = chunk.strip()
    candidates = [text]
    if "\n" in text:
        candidates.append(text.split("\n", 1)[1].strip())
    for candidate in candidates:
        if not candidate:
            continue
        index = content.find(candidate)
        if index >= 0:
            start = content.count("\n", 0, index) + 1
            return start, start + candidate.count("\n")
    return None


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")


def _status(file: AgentFile) -> str:
    if file.processing_status == "error":
        return f'status="error" error="{_attr(file.error_message or "unknown")}"'
    if file.processing_status != "completed":
        return f'status="processing ({file.processing_status})"'
    return 'status="open"' if file.is_open else 'status="closed"'


def files_budget(agent: AgentRecord) -> int:
    """Characters all open windows may fill together: about 40 % of the context window, whatever
    the limits say, so that opening files can never make the agent's requests too large."""
    return agent.context_window_limit * _CHARS_PER_TOKEN * 2 // 5


def _hidden(files: list[AgentFile], budget: int | None) -> set[str]:
    """Open files whose windows do not fit in `budget` together with the more recently used ones."""
    if budget is None:
        return set()
    used, hidden = 0, set()
    recent_first = sorted(
        (f for f in files if f.is_open), key=lambda f: (f.last_accessed_at or _EPOCH, f.file_id), reverse=True
    )
    for file in recent_first:
        lines = max(0, (file.end_line or 0) - (file.start_line or 0) + 1)
        size = len(file.visible_content or "") + 8 * lines  # the numbers and newlines, about
        if used + size > budget:
            hidden.add(file.file_id)
        else:
            used += size
    return hidden


def render_file(file: AgentFile, *, hidden: bool = False) -> str:
    """One file as the agent sees it: a line for a closed file, the numbered window of an open one."""
    if not file.is_open or file.start_line is None or file.end_line is None:
        return f'<file name="{_attr(file.path)}" {_status(file)}/>'
    total = file.total_lines if file.total_lines is not None else "?"
    if hidden:
        return (
            f'<file name="{_attr(file.path)}" status="open" lines="{file.start_line}-{file.end_line} of '
            f'{total}" hidden="the open windows do not all fit in your context: close files or open '
            'smaller windows"/>'
        )
    if file.end_line < file.start_line:
        lines = f"empty, {total} lines"
        body = ""
    else:
        lines = f"{file.start_line}-{file.end_line} of {total}"
        body = numbered(file.visible_content or "", file.start_line) + "\n"
    return f'<file name="{_attr(file.path)}" status="open" lines="{lines}">\n{body}</file>'


def render_files(
    folders: list[FolderRecord], files: list[AgentFile], max_open: int, budget: int | None = None
) -> str:
    """The `<files>` part of the system prompt; "" for an agent without folders. Open windows past
    `budget` characters (the least recently used first) are named but not shown."""
    if not folders:
        return ""
    hidden = _hidden(files, budget)
    open_count = sum(1 for f in files if f.is_open)
    parts = [
        "<files>",
        f"Files of your attached folders. {open_count} of at most {max_open} are open; an open file "
        "shows a window of its numbered lines here. open_files opens a file (or moves its window; "
        "opening past the limit closes the file used least recently), grep_files searches lines by "
        "regular expression, semantic_search_files searches by meaning.",
    ]
    listed_closed = 0
    by_folder: dict[str, list[AgentFile]] = {}
    for file in files:
        by_folder.setdefault(file.folder_id, []).append(file)
    for folder in folders:
        members = by_folder.get(folder.id, [])
        parts.append(f'<folder name="{_attr(folder.name)}" files="{len(members)}">')
        for text in (folder.description, folder.instructions):
            if text:
                parts.append(text.strip())
        unlisted = 0
        for file in members:
            if not file.is_open:
                if listed_closed >= MAX_LISTED_FILES:
                    unlisted += 1
                    continue
                listed_closed += 1
            parts.append(render_file(file, hidden=file.file_id in hidden))
        if unlisted:
            parts.append(
                f"({unlisted} more files not listed; grep_files and semantic_search_files search them)"
            )
        parts.append("</folder>")
    parts.append("</files>")
    return "\n".join(parts)
