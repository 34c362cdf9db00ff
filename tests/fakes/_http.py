"""A tiny HTTP server on 127.0.0.1 in a background thread, the base of the fake providers.

Standard library only (`http.server`), so it starts in about a millisecond, needs no event
loop, and serves the real SDKs (HTTP/1.1 keep-alive, JSON bodies, server-sent events).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """The JSON body, parsed; None when there was none."""


@dataclass(slots=True)
class HTTPReply:
    """What to answer: a JSON body, or (`events`) a stream of server-sent events."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: Iterable[bytes] | None = None


class LoopbackServer:
    """Serves `handle(request) -> HTTPReply` on a free port of 127.0.0.1 until `stop()`.

    Use as a context manager, or `start()`/`stop()`. Every request is recorded in
    `requests` (thread-safe) before it is answered.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = _Server(("127.0.0.1", self._port), _Handler, owner=self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:  # wake handler threads idling on keep-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running: call start() first")
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>`, without any path."""
        return f"http://127.0.0.1:{self.port}"

    # -- recording ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, sock: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)

    def handle(self, request: RecordedRequest) -> HTTPReply:
        """Answer one request; subclasses route by `request.method` and `request.path`."""
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], *, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle holds the body back
        # until the client's delayed ACK (40 ms on Linux) on every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        request = RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
        owner = self.server.owner
        owner._record(request)
        try:
            reply = owner.handle(request)
        except Exception as e:  # a bug in a test's responder: answer 500 and say why
            reply = HTTPReply(
                500, {"error": {"message": f"fake server error: {e!r}", "type": "server_error"}}
            )
        try:
            if reply.events is not None:
                self._send_events(reply)
            else:
                self._send_json(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_json(self, reply: HTTPReply) -> None:
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_events(self, reply: HTTPReply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for event in _iterate(reply.events):
            self.wfile.write(event)
            self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests` instead
        return


def _iterate(events: Iterable[bytes] | None) -> Iterator[bytes]:
    yield from events or ()


def sse(data: Any) -> bytes:
    """One server-sent event carrying `data` as JSON (or verbatim when it is a str)."""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def free_port() -> int:
    """A port nothing listens on right now (to test "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
