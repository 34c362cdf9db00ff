"""A server's tools as rows of the tool table: what a listing adds, updates and removes.

Row names are what the model calls, so they must be valid function names (letters, digits,
`_` and `-`, at most 64) and unique in the organization. A tool keeps the server's name when it
is free; when another tool (a built-in, a custom tool, another server's) has it, it is named
`<server>__<tool>`; when that is taken too, it is skipped and the refresh summary says so. A
tool keeps its row -- id, name, agent attachments -- across refreshes for as long as the server
lists it; one the server no longer lists is deleted (and so detached from every agent).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from memfold.ids import new_id
from memfold.schemas.mcp import McpRefreshSummary
from memfold.schemas.tools import DEFAULT_RETURN_CHAR_LIMIT, Tool
from memfold.store import mcp_servers as rows
from memfold.store.mcp_servers import MCP_METADATA_KEY, MCP_TOOL_TYPE, McpServerRecord
from memfold.tools.mcp.results import McpToolInfo

MAX_TOOL_NAME = 64
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def function_name(text: str) -> str:
    """`text` as a function name a model provider accepts."""
    name = _NOT_NAME.sub("_", text).strip("_")[:MAX_TOOL_NAME]
    return name or "tool"


def _metadata(server: McpServerRecord, tool_name: str) -> dict[str, Any]:
    return {
        MCP_METADATA_KEY: {"server_id": server.id, "server_name": server.server_name, "tool_name": tool_name}
    }


def _definition(server: McpServerRecord, info: McpToolInfo, name: str) -> dict[str, Any]:
    """The columns a listing decides (a user's changes to the others, e.g. `return_char_limit`, stay)."""
    parameters = dict(info.input_schema) or {"type": "object", "properties": {}}
    parameters.setdefault("type", "object")
    return {
        "name": name,
        "description": info.description,
        "json_schema": {"name": name, "description": info.description, "parameters": parameters},
        "tags": [f"mcp:{server.server_name}"],
        "metadata": _metadata(server, info.name),
    }


def _free_name(server: McpServerRecord, info: McpToolInfo, taken: dict[str, Tool | None]) -> str | None:
    for candidate in (function_name(info.name), function_name(f"{server.server_name}__{info.name}")):
        if candidate not in taken:
            return candidate
    return None


def sync_tools(
    conn: Connection, org_id: str, server: McpServerRecord, listed: list[McpToolInfo]
) -> McpRefreshSummary:
    """Make the server's tool rows match what it lists now."""
    summary = McpRefreshSummary(message="")
    current: dict[str, Tool] = {}
    for tool in rows.server_tools(conn, org_id, server.id):
        ref = rows.mcp_reference(tool)
        if ref is not None:
            current.setdefault(ref["tool_name"], tool)
    wanted: dict[str, McpToolInfo] = {}
    for info in listed:
        wanted.setdefault(info.name, info)

    gone = [tool for tool_name, tool in current.items() if tool_name not in wanted]
    rows.delete_tools(conn, [tool.id for tool in gone])
    summary.deleted = [tool.name for tool in gone]

    taken: dict[str, Tool | None] = dict(rows.tool_names(conn, org_id))
    for tool_name, info in wanted.items():
        existing = current.get(tool_name)
        if existing is not None:
            values = _definition(server, info, existing.name)
            if all(getattr(existing, key) == value for key, value in values.items()):
                summary.unchanged.append(existing.name)
            else:
                rows.update_tool(conn, existing.id, values)
                summary.updated.append(existing.name)
            continue
        name = _free_name(server, info, taken)
        if name is None:
            summary.skipped.append(tool_name)
            continue
        values = _definition(server, info, name)
        values.update(tool_type=MCP_TOOL_TYPE, source_type="mcp", return_char_limit=DEFAULT_RETURN_CHAR_LIMIT)
        rows.insert_tool(conn, org_id, new_id("tool"), values)
        taken[name] = None
        summary.added.append(name)

    summary.message = (
        f"{len(summary.added)} added, {len(summary.updated)} updated, {len(summary.deleted)} deleted, "
        f"{len(summary.unchanged)} unchanged"
        + (f", {len(summary.skipped)} skipped" if summary.skipped else "")
    )
    return summary


def rename_tools(conn: Connection, org_id: str, server: McpServerRecord) -> None:
    """After a server's rename: its tools' tags and metadata name it anew (row names stay)."""
    for tool in rows.server_tools(conn, org_id, server.id):
        ref = rows.mcp_reference(tool)
        if ref is not None:
            rows.update_tool(
                conn,
                tool.id,
                {"tags": [f"mcp:{server.server_name}"], "metadata": _metadata(server, ref["tool_name"])},
            )
