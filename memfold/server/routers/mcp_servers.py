"""/v1/mcp-servers: register MCP servers, list and refresh their tools, run one.

A server's tools are rows of the tool table (`tool_type` `external_mcp`), so they attach to
agents through `/v1/agents/{id}/tools/attach/{tool_id}` like any tool. Registering (or changing
how memfold connects to) a server lists its tools once; a server that cannot be reached then is
still registered, and its tools appear on the first listing or refresh that reaches it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response

from memfold.errors import InvalidValueError, NotFoundError
from memfold.schemas.mcp import (
    CreateMcpServer,
    CreateStdioMcpServer,
    McpRefreshSummary,
    McpServer,
    McpToolRunRequest,
    SseMcpServer,
    StdioMcpServer,
    StreamableHttpMcpServer,
    UpdateMcpServer,
)
from memfold.schemas.tool_runs import ToolExecutionResult
from memfold.schemas.tools import Tool
from memfold.server.deps import Context, OrgId, ServerContext
from memfold.store import agents as agent_rows
from memfold.store import mcp_servers as rows
from memfold.store import tools as tool_rows
from memfold.store.mcp_servers import McpServerRecord
from memfold.tools.mcp import McpClients, McpServerError, rename_tools, sync_tools

log = logging.getLogger("memfold.server")

router = APIRouter(prefix="/v1/mcp-servers", tags=["mcp-servers"])

_HTTP_FIELDS = ("server_url", "auth_header", "auth_token", "custom_headers")
_STDIO_FIELDS = ("command", "args", "env")


def server_view(server: McpServerRecord) -> StdioMcpServer | StreamableHttpMcpServer | SseMcpServer:
    """The server as the API shows it: secrets blank, names of variables and headers kept."""
    if server.server_type == "stdio":
        return StdioMcpServer(
            id=server.id,
            server_name=server.server_name,
            command=server.command or "",
            args=server.args,
            env={key: "" for key in server.env} or None,
        )
    cls = SseMcpServer if server.server_type == "sse" else StreamableHttpMcpServer
    return cls(
        id=server.id,
        server_name=server.server_name,
        server_url=server.server_url or "",
        auth_header=server.auth_header,
        auth_token="" if server.auth_token else None,
        custom_headers={key: "" for key in server.custom_headers} or None,
    )


def _clients(ctx: ServerContext) -> McpClients:
    return ctx.loop.runtime.mcp


def _keep_blank_secrets(sent: dict[str, str] | None, stored: dict[str, str]) -> dict[str, str] | None:
    """A blank value sent back (as the API shows it) keeps the stored value of that key."""
    if sent is None:
        return None
    return {key: stored[key] if value == "" and key in stored else value for key, value in sent.items()}


def _changes(current: McpServerRecord, body: UpdateMcpServer) -> dict[str, Any]:
    """The columns an update changes. Raises InvalidValueError when the result cannot connect."""
    values: dict[str, Any] = {}
    if body.server_name is not None:
        values["server_name"] = body.server_name
    config = body.config
    if config is None:
        return values
    sent = {key for key in config.model_fields_set if key != "mcp_server_type"}
    kind = config.mcp_server_type or current.server_type
    switching = kind != current.server_type
    if switching:
        values["server_type"] = kind
    if kind == "stdio":
        if switching:
            values.update(server_url=None, auth_header=None, auth_token=None, custom_headers=None)
        command = config.command or (None if switching else current.command)
        if not command:
            raise InvalidValueError("a stdio MCP server needs a command")
        values["command"] = command
        if config.args is not None or switching:
            values["args"] = config.args or []
        if "env" in sent or switching:
            values["env"] = _keep_blank_secrets(config.env, current.env)
        return values
    if switching and current.server_type == "stdio":
        values.update(command=None, args=None, env=None)
    url = config.server_url or (None if switching and current.server_type == "stdio" else current.server_url)
    if not url:
        raise InvalidValueError(f"a {kind} MCP server needs a server_url")
    values["server_url"] = url
    if "auth_header" in sent:
        values["auth_header"] = config.auth_header
    if "auth_token" in sent:
        values["auth_token"] = current.auth_token if config.auth_token == "" else config.auth_token
    if "custom_headers" in sent:
        values["custom_headers"] = _keep_blank_secrets(config.custom_headers, current.custom_headers)
    return values


def _create_values(body: CreateMcpServer) -> dict[str, Any]:
    config = body.config
    values: dict[str, Any] = {"server_name": body.server_name, "server_type": config.mcp_server_type}
    if isinstance(config, CreateStdioMcpServer):
        values.update(command=config.command, args=config.args, env=config.env)
    else:
        values.update(config.model_dump(include=set(_HTTP_FIELDS)))
    return values


def _sync(ctx: ServerContext, org: str, server: McpServerRecord) -> McpRefreshSummary:
    """List the server's tools and bring its tool rows in line. Raises McpServerError (502)."""
    listed = _clients(ctx).list_tools_blocking(server)
    with ctx.db.write() as conn:
        return sync_tools(conn, org, rows.get_server(conn, org, server.id), listed)


def _sync_if_reachable(ctx: ServerContext, org: str, server: McpServerRecord) -> None:
    try:
        _sync(ctx, org, server)
    except McpServerError as e:
        log.warning("MCP server %r registered, but its tools could not be listed: %s", server.server_name, e)


def _server_and_tool(
    ctx: ServerContext, org: str, server_id: str, tool_id: str
) -> tuple[McpServerRecord, Tool]:
    with ctx.db.read() as conn:
        server = rows.get_server(conn, org, server_id)
        tool = tool_rows.get_tool(conn, org, tool_id)
    ref = rows.mcp_reference(tool)
    if ref is None or ref["server_id"] != server_id:
        raise NotFoundError(f"tool {tool_id!r} is not a tool of MCP server {server_id!r}")
    return server, tool


@router.post("/", response_model=McpServer)
def create_mcp_server(body: CreateMcpServer, ctx: Context, org: OrgId) -> Any:
    with ctx.db.write() as conn:
        server = rows.insert_server(conn, org, _create_values(body))
    _sync_if_reachable(ctx, org, server)
    return server_view(server)


@router.get("/", response_model=list[McpServer])
def list_mcp_servers(ctx: Context, org: OrgId) -> Any:
    with ctx.db.read() as conn:
        return [server_view(server) for server in rows.list_servers(conn, org)]


@router.get("/{mcp_server_id}", response_model=McpServer)
def retrieve_mcp_server(mcp_server_id: str, ctx: Context, org: OrgId) -> Any:
    with ctx.db.read() as conn:
        return server_view(rows.get_server(conn, org, mcp_server_id))


@router.patch("/{mcp_server_id}", response_model=McpServer)
def modify_mcp_server(mcp_server_id: str, body: UpdateMcpServer, ctx: Context, org: OrgId) -> Any:
    with ctx.db.write() as conn:
        current = rows.get_server(conn, org, mcp_server_id)
        server = rows.update_server(conn, org, mcp_server_id, _changes(current, body))
        if server.server_name != current.server_name:
            rename_tools(conn, org, server)
    if server.connection_key() != current.connection_key():
        _clients(ctx).forget_blocking(server.id)
        _sync_if_reachable(ctx, org, server)
    return server_view(server)


@router.delete("/{mcp_server_id}", status_code=204)
def delete_mcp_server(mcp_server_id: str, ctx: Context, org: OrgId) -> Response:
    with ctx.db.write() as conn:
        rows.delete_server(conn, org, mcp_server_id)
    _clients(ctx).forget_blocking(mcp_server_id)
    return Response(status_code=204)


@router.get("/{mcp_server_id}/tools", response_model=list[Tool])
def list_mcp_server_tools(mcp_server_id: str, ctx: Context, org: OrgId) -> list[Tool]:
    """The server's tools as stored; when none are stored yet, the server is asked first."""
    with ctx.db.read() as conn:
        server = rows.get_server(conn, org, mcp_server_id)
        tools = rows.server_tools(conn, org, mcp_server_id)
    if not tools:
        _sync(ctx, org, server)
        with ctx.db.read() as conn:
            tools = rows.server_tools(conn, org, mcp_server_id)
    return sorted(tools, key=lambda tool: tool.name)


@router.get("/{mcp_server_id}/tools/{tool_id}", response_model=Tool)
def retrieve_mcp_server_tool(mcp_server_id: str, tool_id: str, ctx: Context, org: OrgId) -> Tool:
    return _server_and_tool(ctx, org, mcp_server_id, tool_id)[1]


@router.post("/{mcp_server_id}/tools/{tool_id}/run", response_model=ToolExecutionResult)
def run_mcp_server_tool(
    mcp_server_id: str, tool_id: str, body: McpToolRunRequest, ctx: Context, org: OrgId
) -> ToolExecutionResult:
    """Call the tool with `args`. A tool error and an unreachable server are both answered as
    `status: "error"` with the reason in `func_return` (and, for the server, in `stderr`)."""
    server, tool = _server_and_tool(ctx, org, mcp_server_id, tool_id)
    ref = rows.mcp_reference(tool)
    assert ref is not None
    try:
        result = _clients(ctx).call_tool_blocking(server, ref["tool_name"], body.args)
    except McpServerError as e:
        return ToolExecutionResult(status="error", func_return=f"Error: {e.message}", stderr=[e.message])
    return ToolExecutionResult(status="success" if result.ok else "error", func_return=result.text)


@router.patch("/{mcp_server_id}/refresh", response_model=McpRefreshSummary)
def refresh_mcp_server_tools(
    mcp_server_id: str, ctx: Context, org: OrgId, agent_id: str | None = None
) -> McpRefreshSummary:
    """Ask the server for its tools now: new ones are added, changed ones updated, ones it no
    longer lists deleted (and detached). `agent_id` is accepted for Letta compatibility and only
    checked to exist."""
    with ctx.db.read() as conn:
        server = rows.get_server(conn, org, mcp_server_id)
        if agent_id is not None:
            agent_rows.get_agent(conn, org, agent_id)
    return _sync(ctx, org, server)
