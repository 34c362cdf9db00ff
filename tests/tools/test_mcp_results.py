"""What the model reads from MCP results, tool names made callable, and error messages without secrets."""

from __future__ import annotations

import base64

import httpx2
import mcp_types as types
import pytest

from memfold.store.mcp_servers import McpServerRecord
from memfold.tools.mcp import function_name
from memfold.tools.mcp.results import result_text
from memfold.tools.mcp.transport import describe, explain, headers_for


def test_text_blocks_are_joined_and_other_blocks_described() -> None:
    png = base64.b64encode(b"\x89PNG" + b"\x00" * 96).decode()
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="first"),
            types.ImageContent(type="image", data=png, mime_type="image/png"),
            types.ResourceLink(type="resource_link", uri="file:///tmp/report.csv", name="report"),
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(uri="memo://1", text="embedded text"),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(uri="blob://1", blob=png, mime_type="image/png"),
            ),
        ]
    )
    outcome = result_text(result)
    assert outcome.ok
    assert outcome.text.split("\n\n") == [
        "first",
        "[image image/png, 100 bytes]",
        "[resource link: file:///tmp/report.csv]",
        "embedded text",
        "[resource blob://1 (image/png)]",
    ]


def test_structured_content_alone_is_shown_as_json() -> None:
    result = types.CallToolResult(content=[], structured_content={"temperature": 21.5, "unit": "°C"})
    assert result_text(result).text == '{"temperature": 21.5, "unit": "°C"}'


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("disk full", "Error: disk full"),
        ("Error: already said", "Error: already said"),
        ("", "Error: the tool failed without a message"),
    ],
)
def test_error_results(text: str, shown: str) -> None:
    content = [types.TextContent(type="text", text=text)] if text else []
    outcome = result_text(types.CallToolResult(content=content, is_error=True))
    assert (outcome.ok, outcome.text) == (False, shown)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("add", "add"),
        ("files.read", "files_read"),
        ("git/commit message", "git_commit_message"),
        ("--", "--"),
        ("...", "tool"),
        ("x" * 80, "x" * 64),
    ],
)
def test_function_name(raw: str, name: str) -> None:
    assert function_name(raw) == name


def http_record(**values: object) -> McpServerRecord:
    return McpServerRecord(
        id="mcp_server-1",
        organization_id="org",
        server_name="remote",
        server_type="streamable_http",
        server_url="https://user:pw@mcp.example.test:8443/v1/mcp?api_key=k#frag",
        **values,  # type: ignore[arg-type]
    )


def test_headers_auth_token_and_custom_headers() -> None:
    assert headers_for(http_record()) == {}
    assert headers_for(http_record(auth_token="abc")) == {"Authorization": "Bearer abc"}
    assert headers_for(http_record(auth_token="Token abc")) == {"Authorization": "Token abc"}
    assert headers_for(
        http_record(auth_header="X-Api-Key", auth_token="abc", custom_headers={"X-A": "1"})
    ) == {
        "X-A": "1",
        "X-Api-Key": "abc",
    }


def test_messages_never_show_url_secrets() -> None:
    assert describe(http_record()) == "MCP server 'remote' (https://mcp.example.test:8443/v1/mcp)"
    request = httpx2.Request("GET", "https://mcp.example.test/mcp?token=secret")
    error = httpx2.HTTPStatusError("x", request=request, response=httpx2.Response(403, request=request))
    group = ExceptionGroup(
        "outer", [ExceptionGroup("inner", [error, error]), FileNotFoundError(2, "x", "/bin/nope")]
    )
    assert explain(group) == "HTTP 403 from https://mcp.example.test/mcp; no such program or file: /bin/nope"
