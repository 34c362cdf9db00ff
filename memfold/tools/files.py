"""The file tools (Letta's `letta_files_core`): an agent with folders attached opens windows of its
files into its context, greps them, and searches them by meaning.

They act through `ToolContext.files` (memfold.folders.agent_files.AgentFiles); attaching a folder
attaches them (and detaching the last folder detaches them). `open_files` takes a list of
objects, which the schema generator cannot describe from the signature, so `FILE_TOOL_SCHEMAS`
(`FILE_TOOL_PROPERTIES`) gives their exact shape.
"""

from __future__ import annotations

from typing import Any

from memfold.errors import ToolError
from memfold.folders.agent_files import AgentFiles
from memfold.folders.grep import MAX_CONTEXT_LINES
from memfold.tools.context import ToolContext

__all__ = ["FILE_TOOL_PROPERTIES", "grep_files", "open_files", "semantic_search_files"]

FILE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_name": {"type": "string", "description": "The file, as folder/file (or the bare name)."},
        "offset": {
            "type": "integer",
            "description": "First line to show (1 is the first line of the file; default 1).",
        },
        "length": {
            "type": "integer",
            "description": "How many lines to show (default: as many as the view limit allows).",
        },
    },
    "required": ["file_name"],
}
"""One item of `open_files.file_requests`."""

FILE_TOOL_PROPERTIES: dict[str, dict[str, Any]] = {
    "file_requests": {"items": FILE_REQUEST_SCHEMA, "minItems": 1}
}
"""What `open_files`'s generated schema cannot say (the shape of a file request)."""


def _files(ctx: ToolContext) -> AgentFiles:
    if ctx.files is None:
        raise ToolError("files are not available here")
    return ctx.files


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"{name} must be a whole number")
    return value


async def open_files(
    agent_state: ToolContext,
    file_requests: list[dict],  # type: ignore[type-arg]
    close_all_others: bool = False,
) -> str:
    """Open files of your folders so that a window of their lines shows in your context, or move the
    window of a file already open. Opening more files than your limit closes the ones you used
    least recently.

    Args:
        file_requests: The files to open, each with file_name and optionally offset and length.
        close_all_others: Close every other open file first.
    """
    requests: list[tuple[str, int | None, int | None]] = []
    for item in file_requests:
        name = item.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise ToolError("each file request needs a file_name")
        unknown = sorted(set(item) - {"file_name", "offset", "length"})
        if unknown:
            raise ToolError(f"unknown field(s) in a file request: {', '.join(unknown)}")
        requests.append((name, _int(item.get("offset"), "offset"), _int(item.get("length"), "length")))
    return await _files(agent_state).open(requests, close_all_others)


async def grep_files(
    agent_state: ToolContext,
    pattern: str,
    include: str | None = None,
    context_lines: int = 1,
    offset: int = 0,
) -> str:
    """Search the lines of your files with a regular expression (Python syntax). Results come a
    page at a time; when there are more, the answer says which offset to ask for next.

    Args:
        pattern: The regular expression to look for in each line.
        include: Only files whose name matches this glob, e.g. '*.md' or 'docs/*'.
        context_lines: Lines to show before and after each match (0-10).
        offset: Skip this many matches (to read the next page).
    """
    if not 0 <= context_lines <= MAX_CONTEXT_LINES:
        raise ToolError(f"context_lines must be between 0 and {MAX_CONTEXT_LINES}")
    return await _files(agent_state).grep(pattern, include, context_lines, offset)


async def semantic_search_files(agent_state: ToolContext, query: str, limit: int = 5) -> str:
    """Search your files by meaning (and words); returns the best passages with their file and lines.

    Args:
        query: What to look for, in your own words.
        limit: How many passages to return (at most 20).
    """
    return await _files(agent_state).search(query, limit)
