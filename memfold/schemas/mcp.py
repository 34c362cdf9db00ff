"""MCP servers: where an agent's third-party tools come from (`/v1/mcp-servers`).

Three transports, in the shapes `letta-client` sends and parses: `stdio` (memfold runs a
command and speaks MCP over its stdin/stdout), `streamable_http` and `sse` (memfold connects
to a URL). Secrets are write-only: responses show which environment variables, headers and
tokens are set, with blank values.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, Tag, field_validator

from memfold.schemas.base import RequestModel, ResponseModel

McpServerType = Literal["stdio", "streamable_http", "sse"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ENV_NAME = re.compile(r"^[^=\x00]+$")


def check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("server_url must be an http:// or https:// URL with a host")
    return value


def check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    for name, header in (value or {}).items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if "\r" in header or "\n" in header:
            raise ValueError(f"the value of header {name!r} contains a line break")
    return value


def check_env(value: dict[str, str] | None) -> dict[str, str] | None:
    for name, env_value in (value or {}).items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if "\x00" in env_value:
            raise ValueError(f"the value of {name!r} contains a NUL character")
    return value


def check_header_name(value: str | None) -> str | None:
    if value is not None and not _HEADER_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name")
    return value


# --- requests --------------------------------------------------------------------------------


class CreateStdioMcpServer(RequestModel):
    mcp_server_type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1, max_length=4096)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None

    _env = field_validator("env")(check_env)

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("command must name a program")
        return value


class _CreateHttpMcpServer(RequestModel):
    server_url: str = Field(min_length=1, max_length=4096)
    auth_header: str | None = Field(default=None, max_length=200)
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None

    _url = field_validator("server_url")(check_url)
    _headers = field_validator("custom_headers")(check_headers)
    _header_name = field_validator("auth_header")(check_header_name)


class CreateStreamableHttpMcpServer(_CreateHttpMcpServer):
    mcp_server_type: Literal["streamable_http"] = "streamable_http"


class CreateSseMcpServer(_CreateHttpMcpServer):
    mcp_server_type: Literal["sse"] = "sse"


def _config_type(value: Any) -> str:
    """The transport of a config: its `mcp_server_type`, else stdio when it names a command, else
    streamable HTTP (the SDK may leave the type out)."""
    if isinstance(value, dict):
        declared = value.get("mcp_server_type")
        if declared is not None:
            return str(declared)
        return "stdio" if "command" in value else "streamable_http"
    return str(getattr(value, "mcp_server_type", "stdio"))


CreateMcpServerConfig = Annotated[
    Annotated[CreateStdioMcpServer, Tag("stdio")]
    | Annotated[CreateStreamableHttpMcpServer, Tag("streamable_http")]
    | Annotated[CreateSseMcpServer, Tag("sse")],
    Discriminator(_config_type),
]

ServerName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class CreateMcpServer(RequestModel):
    server_name: ServerName
    config: CreateMcpServerConfig


class UpdateMcpServerConfig(RequestModel):
    """Changes to a server's connection. A field left out keeps its value; `null` clears an
    optional one. Secrets come back blank from the API, so a blank secret sent back
    (`auth_token: ""`, or `""` for a key of `env` / `custom_headers`) keeps the stored value.
    A different `mcp_server_type` switches the transport (its required fields must be given)."""

    mcp_server_type: McpServerType | None = None
    command: str | None = Field(default=None, min_length=1, max_length=4096)
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = Field(default=None, min_length=1, max_length=4096)
    auth_header: str | None = Field(default=None, max_length=200)
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None

    _env = field_validator("env")(check_env)
    _headers = field_validator("custom_headers")(check_headers)
    _header_name = field_validator("auth_header")(check_header_name)

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


class UpdateMcpServer(RequestModel):
    server_name: ServerName | None = None
    config: UpdateMcpServerConfig | None = None


# --- responses -------------------------------------------------------------------------------


class StdioMcpServer(ResponseModel):
    id: str
    server_name: str
    mcp_server_type: Literal["stdio"] = "stdio"
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    """Variable names only: every value is blank."""


class _HttpMcpServer(ResponseModel):
    id: str
    server_name: str
    server_url: str
    auth_header: str | None = None
    auth_token: str | None = None
    """Blank when a token is set, null when none is."""
    custom_headers: dict[str, str] | None = None
    """Header names only: every value is blank."""


class StreamableHttpMcpServer(_HttpMcpServer):
    mcp_server_type: Literal["streamable_http"] = "streamable_http"


class SseMcpServer(_HttpMcpServer):
    mcp_server_type: Literal["sse"] = "sse"


McpServer = Annotated[
    StdioMcpServer | StreamableHttpMcpServer | SseMcpServer, Field(discriminator="mcp_server_type")
]


class McpToolRunRequest(RequestModel):
    args: dict[str, Any] = Field(default_factory=dict)


class McpRefreshSummary(ResponseModel):
    """What `PATCH /v1/mcp-servers/{id}/refresh` changed in the tool table (tool names)."""

    message: str
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    """MCP tools left out because their name (and the server-qualified name) belongs to another tool."""
