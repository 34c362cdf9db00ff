"""What the model reads from an MCP tool call, and what memfold keeps of an MCP tool's listing."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the SDK is loaded at the first connection, not at start-up
    import mcp_types as types


@dataclass(frozen=True)
class McpToolInfo:
    """One tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]

    @classmethod
    def from_mcp(cls, tool: types.Tool) -> McpToolInfo:
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        return cls(
            name=tool.name,
            description=tool.description or tool.title or "",
            input_schema=json.loads(json.dumps(schema)),
        )


@dataclass(frozen=True)
class McpCallResult:
    """A finished call: `ok` is False when the server flagged the result as an error."""

    ok: bool
    text: str


def _decoded_size(data: str) -> int | None:
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return None


def _block_text(block: Any) -> str:
    import mcp_types as types

    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        size = _decoded_size(block.data)
        return f"[{kind} {block.mime_type}" + (f", {size} bytes]" if size is not None else "]")
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}" + (f" ({block.description})]" if block.description else "]")
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return f"[resource {resource.uri} ({resource.mime_type or 'binary'})]"
    return f"[{getattr(block, 'type', 'unknown')} content]"


def result_text(result: types.CallToolResult) -> McpCallResult:
    """The result as one string: text blocks joined by blank lines, other blocks described in a
    line each; a result with no content shows its structured content as JSON. An error result
    reads "Error: ..." (unless the server's text already starts so)."""
    parts = [_block_text(block) for block in result.content]
    text = "\n\n".join(part for part in parts if part)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    ok = not result.is_error
    if not ok and not text.lower().startswith("error"):
        text = f"Error: {text or 'the tool failed without a message'}"
    return McpCallResult(ok=ok, text=text)
