"""A small MCP server the test suite runs itself, over stdio or streamable HTTP (or SSE).

    python tests/tools/mcp_server_fixture.py                       # stdio
    python tests/tools/mcp_server_fixture.py --transport streamable-http --port 8765
    python tests/tools/mcp_server_fixture.py --transport sse --port 8765

Tools: `add`, `echo`, `env_value` (reads the server's own environment), `pid` (tells which
process answers), `fail` (raises), `sleep` (for timeouts) and `crash` (the process exits
mid-call). `multiply` exists only while
the file named by `--extra-tools-file` contains the word "multiply", so a test can change the
tool set of a running server. `--require-token T` makes the HTTP transports answer 401 unless
the request carries `Authorization: Bearer T`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Tool as MCPTool


class FixtureServer(MCPServer):
    """An MCPServer whose `multiply` tool comes and goes with the contents of a file."""

    def __init__(self, extra_tools_file: Path | None) -> None:
        super().__init__("memfold-test-fixture", warn_on_duplicate_tools=False)
        self.extra_tools_file = extra_tools_file
        self._has_multiply = False

    def sync_extra_tools(self) -> None:
        wanted = (
            self.extra_tools_file is not None
            and self.extra_tools_file.exists()
            and "multiply" in self.extra_tools_file.read_text()
        )
        if wanted and not self._has_multiply:
            self.add_tool(multiply)
        elif not wanted and self._has_multiply:
            self.remove_tool("multiply")
        self._has_multiply = wanted

    async def list_tools(self) -> list[MCPTool]:
        self.sync_extra_tools()
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        self.sync_extra_tools()
        return await super().call_tool(name, arguments, context)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


def env_value(name: str) -> str:
    """The value of one of this server's environment variables ('<unset>' if it has none)."""
    return os.environ.get(name, "<unset>")


def pid() -> int:
    """The id of the server's process."""
    return os.getpid()


def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(f"fixture failure: {reason}")


async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


def crash() -> str:
    """The server process exits at once, without answering."""
    os._exit(3)


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def build(extra_tools_file: Path | None = None) -> FixtureServer:
    server = FixtureServer(extra_tools_file)
    for function in (add, echo, env_value, pid, fail, sleep, crash):
        server.add_tool(function)
    server.sync_extra_tools()
    return server


def _require_token(app: Any, token: str) -> Any:
    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--extra-tools-file", type=Path)
    parser.add_argument("--require-token")
    options = parser.parse_args()
    server = build(options.extra_tools_file)
    if options.transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    app = server.sse_app() if options.transport == "sse" else server.streamable_http_app()
    if options.require_token:
        app = _require_token(app, options.require_token)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning")


# --- for the tests: how to run this file -----------------------------------------------------

FIXTURE = Path(__file__).resolve()
TOOL_NAMES = ["add", "crash", "echo", "env_value", "fail", "pid", "sleep"]


def stdio_config(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A `/v1/mcp-servers` stdio config that starts this file with this interpreter."""
    return {
        "mcp_server_type": "stdio",
        "command": sys.executable,
        "args": [str(FIXTURE), *args],
        "env": env or {},
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpFixture:
    """This server as a subprocess on a free port of 127.0.0.1, over streamable HTTP or SSE.

    `stop()` then `start()` brings it back on the same port (to test a server that went away)."""

    def __init__(
        self,
        log_path: Path,
        transport: str = "streamable-http",
        *,
        token: str | None = None,
        extra_tools_file: Path | None = None,
    ) -> None:
        self.log_path = log_path
        self.transport = transport
        self.token = token
        self.extra_tools_file = extra_tools_file
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 30.0) -> Self:
        command = [sys.executable, str(FIXTURE), "--transport", self.transport, "--port", str(self.port)]
        if self.token:
            command += ["--require-token", self.token]
        if self.extra_tools_file:
            command += ["--extra-tools-file", str(self.extra_tools_file)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the MCP fixture exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the MCP fixture did not start listening") from None
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
