"""Running an MCP tool the model called: the executor's `external_mcp` branch lands here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfold.schemas.tools import Tool
from memfold.store.mcp_servers import mcp_reference
from memfold.tools.mcp.sessions import McpServerError

if TYPE_CHECKING:
    from memfold.tools.builtin import ToolContext


async def call_mcp_tool(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> tuple[bool, str]:
    """`(ok, text)`: the server's answer, or why there is none. Never raises.

    The agent's `tool_exec_environment_variables` (`ctx.env`) are not sent: a server's session
    is shared by every agent, and its environment is the one registered with it."""
    ref = mcp_reference(tool)
    if ref is None:
        return False, f"Error: tool {tool.name!r} does not name the MCP server it belongs to"
    if ctx.runtime is None:
        return False, "Error: MCP tools cannot run in this process"
    try:
        result = await ctx.runtime.mcp.call_tool_of(
            ref["server_id"], ref["tool_name"], arguments, org_id=ctx.org_id
        )
    except McpServerError as e:
        return False, f"Error: {e.message}"
    return result.ok, result.text
