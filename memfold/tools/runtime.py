"""Where tools that are not built-ins run: the sandbox (Python source tools) and MCP servers.

One `ToolRuntime` lives as long as the server (it owns warm worker processes and client
sessions); the agent loop hands it to every step through the `ToolContext`.
"""

from __future__ import annotations

from memfold.config import Settings


class ToolRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def close(self) -> None:
        """Stop worker processes and close client sessions."""
