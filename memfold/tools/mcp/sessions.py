"""Live client sessions with MCP servers, kept on one private event loop for the server's lifetime.

Why sessions are kept: starting a stdio server costs a process start and the MCP handshake
(~1 s for a Python server), connecting to an HTTP one ~80 ms plus ~130 ms to close; a call on a
live session costs ~2-7 ms (bench/mcp_sessions.py). So each registered server gets at most one
session, opened on first use and shared by every agent; it is closed after
`MEMFOLD_MCP_IDLE_TIMEOUT` seconds unused (0 = open and close one per call), when the server's
connection settings change, when it breaks, and at shutdown.

Why a private loop: the `mcp` SDK's sessions live inside anyio task groups that must be entered
and left by the same task. One thread runs one event loop; each session is owned by one task on
it, and callers on any loop or thread hand their requests over to it. A caller never waits
unboundedly: connecting is bounded by `MEMFOLD_MCP_CONNECT_TIMEOUT`, each request by
`MEMFOLD_MCP_CALL_TIMEOUT`, and every failure becomes an `McpServerError` with a readable message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from memfold.config import Settings
from memfold.errors import MemfoldError
from memfold.store.engine import Database
from memfold.store.mcp_servers import McpServerRecord, find_server
from memfold.tools.mcp.results import McpCallResult, McpToolInfo, result_text
from memfold.tools.mcp.transport import describe, enter_client, explain

if TYPE_CHECKING:  # the SDK itself is imported at the first connection (transport.enter_client)
    from mcp import Client

log = logging.getLogger("memfold.mcp")

T = TypeVar("T")

PING_AFTER_IDLE = 30.0
"""A session unused this long (seconds) is probed before its next request; a dead one is replaced."""
PING_TIMEOUT = 5.0
CLOSE_TIMEOUT = 10.0
"""Seconds shutdown waits for sessions to close (stdio servers get stdin closed, then SIGTERM/SIGKILL)."""
MAX_TOOL_PAGES = 100


class McpServerError(MemfoldError):
    """An MCP server could not be reached or failed to answer. A tool call shows the message to the
    model; the API answers 502."""

    status_code = 502
    code = "mcp_server_error"


class _Session:
    """One connection to one server, owned by the task running `run` on the private loop."""

    def __init__(self, server: McpServerRecord) -> None:
        self.server = server
        self.key = server.connection_key()
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[Client] = loop.create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.in_flight = 0
        self.uses = 0
        self.last_used = loop.time()
        self.check_first = False
        self.retired = False

    async def run(self, connect_timeout: float, log_dir: Path) -> None:
        notes: list[str] = []
        try:
            async with AsyncExitStack() as stack:
                client = await enter_client(
                    stack, self.server, connect_timeout=connect_timeout, log_dir=log_dir, notes=notes
                )
                self.ready.set_result(client)
                await self.stop.wait()
        except BaseException as e:  # the owner task ends here whatever happened, cancellation included
            if not self.ready.done():
                reason = explain(e) + (f" ({notes[-1]})" if notes else "")
                self.ready.set_exception(ConnectionError(reason))
            else:
                log.debug("MCP session of %s ended with %s", self.server.server_name, explain(e))

    @property
    def alive(self) -> bool:
        return (
            self.ready.done()
            and not self.ready.cancelled()
            and self.ready.exception() is None
            and not (self.task is not None and self.task.done())
        )

    @property
    def client(self) -> Client:
        return self.ready.result()


class McpClients:
    """The server-lifetime pool of MCP client sessions (`ToolRuntime.mcp`)."""

    def __init__(self, settings: Settings) -> None:
        self.connect_timeout = settings.mcp_connect_timeout
        self.call_timeout = settings.mcp_call_timeout
        self.idle_timeout = settings.mcp_idle_timeout
        self.log_dir = settings.home / "logs" / "mcp"
        self._db: Database | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._sessions: dict[str, _Session] = {}  # by server id; touched only on the private loop
        self._tasks: set[asyncio.Task[None]] = set()  # every session's owner task, closing ones too
        self._reaper: asyncio.Task[None] | None = None

    def bind(self, db: Database) -> None:
        """The database to read a server's connection settings from when one of its tools runs."""
        self._db = db

    # -- the API, callable from any event loop --------------------------------------------------

    async def list_tools(self, server: McpServerRecord) -> list[McpToolInfo]:
        return await self._on_loop(self._list_tools(server))

    async def call_tool(self, server: McpServerRecord, tool: str, arguments: dict[str, Any]) -> McpCallResult:
        return await self._on_loop(self._call_tool(server, tool, arguments))

    async def call_tool_of(
        self, server_id: str, tool: str, arguments: dict[str, Any], *, org_id: str | None = None
    ) -> McpCallResult:
        """Call a tool of the server with this id (of `org_id`, when given: the calling agent's
        organization), reading its current settings from the database."""
        db = self._db
        if db is None:
            raise McpServerError(
                "MCP tools cannot run in this process: no database is bound to its MCP client"
            )

        def load() -> McpServerRecord | None:
            with db.read() as conn:
                return find_server(conn, server_id, org_id)

        server = await asyncio.to_thread(load)
        if server is None:
            raise McpServerError(f"the MCP server of this tool ({server_id}) is no longer registered")
        return await self.call_tool(server, tool, arguments)

    async def forget(self, server_id: str) -> None:
        """Close the session with this server (it was deleted or changed) once it is idle."""
        if self._loop is not None:
            with contextlib.suppress(McpServerError):
                await self._on_loop(self._forget(server_id))

    # -- the same from a worker thread (the API's synchronous routes) ---------------------------

    def list_tools_blocking(self, server: McpServerRecord) -> list[McpToolInfo]:
        return self._wait(self._submit(self._list_tools(server)))

    def call_tool_blocking(
        self, server: McpServerRecord, tool: str, arguments: dict[str, Any]
    ) -> McpCallResult:
        return self._wait(self._submit(self._call_tool(server, tool, arguments)))

    def forget_blocking(self, server_id: str) -> None:
        if self._loop is not None:
            with contextlib.suppress(McpServerError):
                self._wait(self._submit(self._forget(server_id)))

    @property
    def _deadline(self) -> float:
        """A bound no request can legitimately reach (connect, probe, request, one retry)."""
        return 2 * (self.connect_timeout + PING_TIMEOUT + self.call_timeout) + CLOSE_TIMEOUT

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self._submit(coro)), self._deadline)
        except TimeoutError:
            raise McpServerError("the MCP client did not finish the request in time") from None

    def _wait(self, future: concurrent.futures.Future[T]) -> T:
        try:
            return future.result(self._deadline)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise McpServerError("the MCP client did not finish the request in time") from None

    # -- shutdown -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every session (stdio servers are stopped) and the private loop."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Blocking `aclose`; closing twice is harmless."""
        with self._lock:
            loop, thread, self._closed = self._loop, self._thread, True
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(CLOSE_TIMEOUT + 5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT)

    # -- the private loop -----------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._closed:
                coro.close()
                raise McpServerError("MCP clients are shut down")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._run_loop, args=(self._loop,), name="memfold-mcp", daemon=True
                )
                self._thread.start()
                asyncio.run_coroutine_threadsafe(self._start_reaper(), self._loop)
            return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_reaper(self) -> None:
        if self.idle_timeout > 0:
            self._reaper = asyncio.create_task(self._reap())

    async def _reap(self) -> None:
        interval = max(0.5, min(self.idle_timeout / 4, 30.0))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for session in list(self._sessions.values()):
                if session.in_flight == 0 and loop.time() - session.last_used > self.idle_timeout:
                    self._drop(session)

    async def _shutdown(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            self._drop(session)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=CLOSE_TIMEOUT)
            for task in pending:
                task.cancel()

    async def _forget(self, server_id: str) -> None:
        session = self._sessions.get(server_id)
        if session is not None:
            self._retire(session)

    def _drop(self, session: _Session) -> None:
        """Forget the session and close it now (its in-flight requests fail)."""
        if self._sessions.get(session.server.id) is session:
            del self._sessions[session.server.id]
        session.stop.set()
        if not session.ready.done() and session.task is not None:
            session.task.cancel()

    def _retire(self, session: _Session) -> None:
        """Forget the session; close it once its in-flight requests are done."""
        if self._sessions.get(session.server.id) is session:
            del self._sessions[session.server.id]
        session.retired = True
        if session.in_flight == 0:
            self._drop(session)

    async def _session(self, server: McpServerRecord) -> _Session:
        session = self._sessions.get(server.id)
        if session is not None and (
            session.key != server.connection_key() or (session.ready.done() and not session.alive)
        ):
            self._retire(session)
            session = None
        if session is None:
            session = _Session(server)
            session.task = asyncio.create_task(session.run(self.connect_timeout, self.log_dir))
            self._tasks.add(session.task)
            session.task.add_done_callback(self._tasks.discard)
            self._sessions[server.id] = session
        try:
            await asyncio.wait_for(asyncio.shield(session.ready), self.connect_timeout)
        except TimeoutError:
            self._drop(session)
            raise McpServerError(
                f"{describe(server)} did not finish connecting within {self.connect_timeout:g} s"
            ) from None
        except Exception as e:
            self._drop(session)
            raise McpServerError(f"could not connect to {describe(server)}: {explain(e)}") from None
        return session

    async def _alive(self, session: _Session) -> bool:
        """Whether the server still answers: `ping` on a handshake-era session, `server/discover`
        on a modern one (2026-07-28 removed ping)."""
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

        client = session.client
        version = client.session.protocol_version or ""
        probe = (
            client.session.send_ping()
            if version in HANDSHAKE_PROTOCOL_VERSIONS
            else client.session.send_discover(version)
        )
        try:
            await asyncio.wait_for(probe, min(PING_TIMEOUT, self.call_timeout))
        except Exception:
            return False
        return True

    async def _use(
        self, server: McpServerRecord, what: str, op: Callable[[Client], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """Run `op` on the server's session. A session found dead before anything was sent is
        replaced; an idempotent request whose reused session broke under it is sent once more."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            session = await self._session(server)
            fresh = session.uses == 0
            session.in_flight += 1
            try:
                if not fresh and (session.check_first or loop.time() - session.last_used > PING_AFTER_IDLE):
                    if not await self._alive(session):
                        self._drop(session)
                        continue
                    session.check_first = False
                try:
                    result = await asyncio.wait_for(op(session.client), self.call_timeout)
                except TimeoutError:
                    session.check_first = True
                    raise McpServerError(
                        f"{describe(server)} did not answer {what} within {self.call_timeout:g} s"
                    ) from None
                except MCPError as e:
                    if e.code != CONNECTION_CLOSED:
                        raise McpServerError(
                            f"{describe(server)} answered {what} with an error: {e}"
                        ) from None
                    self._drop(session)
                    if idempotent and attempt == 1 and not fresh:
                        continue
                    raise McpServerError(f"{describe(server)} closed the connection during {what}") from None
                except Exception as e:
                    self._drop(session)
                    if idempotent and attempt == 1 and not fresh:
                        continue
                    raise McpServerError(f"{describe(server)} failed during {what}: {explain(e)}") from None
                session.uses += 1
                return result
            finally:
                session.in_flight -= 1
                session.last_used = loop.time()
                if session.in_flight == 0 and (session.retired or self.idle_timeout <= 0):
                    self._drop(session)
        raise McpServerError(f"{describe(server)} could not be reached for {what}")

    async def _list_tools(self, server: McpServerRecord) -> list[McpToolInfo]:
        async def op(client: Client) -> list[McpToolInfo]:
            tools: list[McpToolInfo] = []
            cursor: str | None = None
            for _ in range(MAX_TOOL_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools.extend(McpToolInfo.from_mcp(tool) for tool in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        return await self._use(server, "the tool listing", op, idempotent=True)

    async def _call_tool(
        self, server: McpServerRecord, tool: str, arguments: dict[str, Any]
    ) -> McpCallResult:
        async def op(client: Client) -> McpCallResult:
            return result_text(await client.call_tool(tool, arguments))

        return await self._use(server, f"the call of tool {tool!r}", op, idempotent=False)
