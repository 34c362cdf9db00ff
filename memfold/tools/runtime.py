"""Where tools that are not built-ins run: the sandbox (Python source tools) and MCP servers.

One `ToolRuntime` lives as long as the server (it owns warm worker processes and client
sessions); the agent loop hands it to every step through the `ToolContext`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memfold.config import Settings
from memfold.tools.mcp import McpClients
from memfold.tools.sandbox import ToolSandbox

if TYPE_CHECKING:
    from memfold.tools.multi_agent import AgentMessenger


class ToolRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mcp = McpClients(settings)
        self.sandbox = ToolSandbox(settings)
        """Runs custom (Python source) tools; `sandbox.describe()` says what isolation is active."""
        self.messaging: AgentMessenger | None = None
        """Delivers agent-to-agent messages (the multi-agent tools); wired by the server app."""

    async def close(self) -> None:
        """Stop worker processes and close client sessions."""
        await self.mcp.aclose()
        await self.sandbox.aclose()
