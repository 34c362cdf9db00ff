"""How memfold reaches one MCP server: a registered server record turned into an `mcp` client.

stdio servers are started as child processes with only the `mcp` SDK's safe default
environment (HOME, PATH, USER, ...) plus the server's own `env`: memfold's variables and
credentials never reach them. Their stderr goes to `<home>/logs/mcp/<server id>.log`.
HTTP servers get the configured auth and custom headers on every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

import httpx2

from memfold import __version__
from memfold.store.mcp_servers import McpServerRecord

if TYPE_CHECKING:
    from mcp import Client

SSE_READ_TIMEOUT = 300.0
"""Seconds an SSE or streamable-HTTP stream may stay silent (tool calls have their own limit)."""
STDERR_LOG_LIMIT = 1_000_000
"""Bytes a stdio server's stderr log may reach before it is rotated to `<id>.log.1`."""


def headers_for(server: McpServerRecord) -> dict[str, str]:
    """The HTTP headers sent to the server: custom headers, then the auth header.

    A token without a header name goes into `Authorization`; there, a bare token (no scheme)
    is sent as `Bearer <token>`."""
    headers = dict(server.custom_headers)
    if server.auth_token:
        name = server.auth_header or "Authorization"
        token = server.auth_token
        if name.lower() == "authorization" and " " not in token.strip():
            token = f"Bearer {token.strip()}"
        headers[name] = token
    return headers


def public_url(url: str) -> str:
    """The URL without user info, query or fragment (where secrets hide), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def describe(server: McpServerRecord) -> str:
    """How the server is reached, for error messages (no secrets)."""
    if server.server_type == "stdio":
        return f"MCP server {server.server_name!r} (command {server.command!r})"
    return f"MCP server {server.server_name!r} ({public_url(server.server_url or '')})"


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _explain_one(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such program or file: {error.filename}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    if isinstance(error, httpx2.HTTPStatusError):
        return f"HTTP {error.response.status_code} from {public_url(str(error.request.url))}"
    if isinstance(error, httpx2.ConnectError):
        return f"connection failed ({error})" if str(error) else "connection failed"
    if isinstance(error, httpx2.TimeoutException):
        return "the HTTP request timed out"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return str(error).strip() or type(error).__name__


def explain(error: BaseException) -> str:
    """A one-line reason for a failure, exception groups flattened, without tracebacks."""
    reasons: list[str] = []
    for leaf in _leaves(error):
        reason = _explain_one(leaf)
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons[:3])


def _record_http_errors(notes: list[str]) -> Any:
    async def hook(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            notes.append(
                f"HTTP {response.status_code} {response.reason_phrase} from "
                f"{response.request.method} {public_url(str(response.request.url))}"
            )

    return hook


def open_stderr_log(directory: Path, server: McpServerRecord) -> TextIO:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{server.id}.log"
    if path.exists() and path.stat().st_size > STDERR_LOG_LIMIT:
        path.replace(path.with_name(path.name + ".1"))
    return path.open("a", encoding="utf-8", errors="replace")


async def enter_client(
    stack: AsyncExitStack,
    server: McpServerRecord,
    *,
    connect_timeout: float,
    log_dir: Path,
    notes: list[str] | None = None,
) -> Client:
    """Connect to the server (process start or HTTP connection, then the MCP handshake) inside
    `stack`, which closes everything again. Raises whatever the transport raises; HTTP error
    statuses seen on the way are appended to `notes` (the SDK reports them only vaguely).

    The `mcp` SDK is imported here, at the first connection: it takes ~0.5 s to import."""
    from mcp import Client, StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp_types import Implementation

    transport: Any
    hooks = {"response": [_record_http_errors(notes if notes is not None else [])]}
    timeout = httpx2.Timeout(connect_timeout, read=SSE_READ_TIMEOUT)
    if server.server_type == "stdio":
        if not server.command:
            raise ValueError("the server has no command")
        errlog = stack.enter_context(open_stderr_log(log_dir, server))
        params = StdioServerParameters(command=server.command, args=list(server.args), env=dict(server.env))
        transport = stdio_client(params, errlog=errlog)
    elif not server.server_url:
        raise ValueError("the server has no URL")
    elif server.server_type == "sse":

        def factory(
            headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: Any = None
        ) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, event_hooks=hooks)

        transport = sse_client(
            server.server_url,
            headers=headers_for(server),
            timeout=connect_timeout,
            sse_read_timeout=SSE_READ_TIMEOUT,
            httpx_client_factory=factory,
        )
    else:
        http = httpx2.AsyncClient(headers=headers_for(server), timeout=timeout, event_hooks=hooks)
        await stack.enter_async_context(http)
        transport = streamable_http_client(server.server_url, http_client=http)
    client = Client(transport, client_info=Implementation(name="memfold", version=__version__), cache=None)
    return await stack.enter_async_context(client)
