"""Tools served by other processes over the Model Context Protocol (the official `mcp` SDK).

`McpClients` (one per server process, `ToolRuntime.mcp`) keeps the client sessions;
`sync_tools` turns a server's listing into rows of the tool table; `call_mcp_tool` runs one
for the executor. See docs/architecture.md, "MCP servers".
"""

from memfold.tools.mcp.catalog import function_name, rename_tools, sync_tools
from memfold.tools.mcp.execute import call_mcp_tool
from memfold.tools.mcp.results import McpCallResult, McpToolInfo
from memfold.tools.mcp.sessions import McpClients, McpServerError

__all__ = [
    "McpCallResult",
    "McpClients",
    "McpServerError",
    "McpToolInfo",
    "call_mcp_tool",
    "function_name",
    "rename_tools",
    "sync_tools",
]
