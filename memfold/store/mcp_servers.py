"""MCP servers registered by an organization, and the tool rows each one contributed.

A server's tools are ordinary rows of `tools` with `tool_type = 'external_mcp'` and
`metadata = {"mcp": {"server_id", "server_name", "tool_name"}}` (`tool_name` is the name the
server knows the tool by; the row's `name` is what the model calls).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from memfold.errors import ConflictError, NotFoundError
from memfold.schemas.base import utcnow
from memfold.schemas.tools import Tool
from memfold.store import tables as t

MCP_TOOL_TYPE = "external_mcp"
MCP_METADATA_KEY = "mcp"


def new_server_id() -> str:
    """Letta's id form for MCP servers: `mcp_server-<uuid4>`."""
    return f"mcp_server-{uuid.uuid4()}"


@dataclass(frozen=True)
class McpServerRecord:
    """One registered server, secrets included (never returned by the API as they are)."""

    id: str
    organization_id: str
    server_name: str
    server_type: str  # stdio | streamable_http | sse
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def connection_key(self) -> tuple[Any, ...]:
        """Everything that decides how memfold connects: a change means a new session."""
        return (
            self.server_type,
            self.command,
            tuple(self.args),
            tuple(sorted(self.env.items())),
            self.server_url,
            self.auth_header,
            self.auth_token,
            tuple(sorted(self.custom_headers.items())),
        )


def _record(row: RowMapping) -> McpServerRecord:
    values = dict(row)
    values["args"] = list(values.get("args") or [])
    values["env"] = dict(values.get("env") or {})
    values["custom_headers"] = dict(values.get("custom_headers") or {})
    return McpServerRecord(**values)


def _name_taken(conn: Connection, org_id: str, name: str, other_than: str | None = None) -> bool:
    query = select(t.mcp_servers.c.id).where(
        t.mcp_servers.c.organization_id == org_id, t.mcp_servers.c.server_name == name
    )
    if other_than is not None:
        query = query.where(t.mcp_servers.c.id != other_than)
    return conn.execute(query).first() is not None


def insert_server(conn: Connection, org_id: str, values: dict[str, Any]) -> McpServerRecord:
    if _name_taken(conn, org_id, values["server_name"]):
        raise ConflictError(f"an MCP server named {values['server_name']!r} already exists")
    now = utcnow()
    server_id = new_server_id()
    conn.execute(
        insert(t.mcp_servers).values(
            id=server_id, organization_id=org_id, created_at=now, updated_at=now, **values
        )
    )
    return get_server(conn, org_id, server_id)


def get_server(conn: Connection, org_id: str, server_id: str) -> McpServerRecord:
    row = (
        conn.execute(
            select(t.mcp_servers).where(
                t.mcp_servers.c.id == server_id, t.mcp_servers.c.organization_id == org_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"MCP server {server_id!r} not found")
    return _record(row)


def find_server(conn: Connection, server_id: str, org_id: str | None = None) -> McpServerRecord | None:
    """The server with this id (in `org_id`, when given), for running its tools."""
    query = select(t.mcp_servers).where(t.mcp_servers.c.id == server_id)
    if org_id is not None:
        query = query.where(t.mcp_servers.c.organization_id == org_id)
    row = conn.execute(query).mappings().first()
    return None if row is None else _record(row)


def list_servers(conn: Connection, org_id: str) -> list[McpServerRecord]:
    query = (
        select(t.mcp_servers)
        .where(t.mcp_servers.c.organization_id == org_id)
        .order_by(t.mcp_servers.c.created_at, t.mcp_servers.c.id)
    )
    return [_record(row) for row in conn.execute(query).mappings()]


def update_server(conn: Connection, org_id: str, server_id: str, values: dict[str, Any]) -> McpServerRecord:
    current = get_server(conn, org_id, server_id)
    name = values.get("server_name")
    if name is not None and name != current.server_name and _name_taken(conn, org_id, name, server_id):
        raise ConflictError(f"an MCP server named {name!r} already exists")
    if values:
        conn.execute(
            update(t.mcp_servers).where(t.mcp_servers.c.id == server_id).values(updated_at=utcnow(), **values)
        )
    return get_server(conn, org_id, server_id)


def delete_server(conn: Connection, org_id: str, server_id: str) -> None:
    """Delete the server and its tool rows (which detaches them from every agent)."""
    get_server(conn, org_id, server_id)
    delete_tools(conn, [tool.id for tool in server_tools(conn, org_id, server_id)])
    conn.execute(delete(t.mcp_servers).where(t.mcp_servers.c.id == server_id))


# --- the server's tools ----------------------------------------------------------------------

_TOOL_COLUMNS = tuple(c for c in t.tools.c if c.name != "organization_id")


def mcp_reference(tool: Tool) -> dict[str, str] | None:
    """`{"server_id", "server_name", "tool_name"}` of an MCP tool row, or None for any other tool."""
    if tool.tool_type != MCP_TOOL_TYPE or not isinstance(tool.metadata, dict):
        return None
    ref = tool.metadata.get(MCP_METADATA_KEY)
    if not isinstance(ref, dict) or not isinstance(ref.get("server_id"), str):
        return None
    if not isinstance(ref.get("tool_name"), str):
        return None
    return {str(k): str(v) for k, v in ref.items()}


def mcp_tools(conn: Connection, org_id: str) -> list[Tool]:
    """Every MCP tool row of the organization (a server's are picked by their metadata)."""
    query = (
        select(*_TOOL_COLUMNS)
        .where(t.tools.c.organization_id == org_id, t.tools.c.tool_type == MCP_TOOL_TYPE)
        .order_by(t.tools.c.created_at, t.tools.c.id)
    )
    return [Tool.model_validate(dict(row)) for row in conn.execute(query).mappings()]


def server_tools(conn: Connection, org_id: str, server_id: str) -> list[Tool]:
    return [
        tool
        for tool in mcp_tools(conn, org_id)
        if (ref := mcp_reference(tool)) is not None and ref["server_id"] == server_id
    ]


def tool_names(conn: Connection, org_id: str) -> dict[str, Tool]:
    """Every tool of the organization by name (to find free names for a server's tools)."""
    query = select(*_TOOL_COLUMNS).where(t.tools.c.organization_id == org_id)
    return {row["name"]: Tool.model_validate(dict(row)) for row in conn.execute(query).mappings()}


def insert_tool(conn: Connection, org_id: str, tool_id: str, values: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(
        insert(t.tools).values(id=tool_id, organization_id=org_id, created_at=now, updated_at=now, **values)
    )


def update_tool(conn: Connection, tool_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(t.tools).where(t.tools.c.id == tool_id).values(updated_at=utcnow(), **values))


def delete_tools(conn: Connection, tool_ids: list[str]) -> None:
    if tool_ids:
        conn.execute(delete(t.tools).where(t.tools.c.id.in_(tool_ids)))
