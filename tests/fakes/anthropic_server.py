"""A fake Anthropic Messages API on 127.0.0.1 that the real `anthropic` SDK talks to.

    with FakeAnthropicServer() as fake:
        fake.queue_tool_call("send_message", message="hi")
        client = AsyncAnthropic(base_url=fake.base_url, api_key="sk-ant-fake")

Serves `POST /v1/messages` (non-streaming) and `GET /v1/models`. Replies use the same
`TextReply` / `ToolCallsReply` / `ErrorReply` values as the fake OpenAI server, shaped
the Anthropic way (content blocks, `stop_reason`, `{"type": "error", "error": {...}}`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from typing import Any

from tests.fakes._http import HTTPReply, LoopbackServer, RecordedRequest
from tests.fakes.openai_server import ErrorReply, FakeToolCall, Reply, TextReply, ToolCallsReply

__all__ = ["FakeAnthropicServer"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_TYPES |= {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


class FakeAnthropicServer(LoopbackServer):
    """Messages and model listing on loopback; unscripted calls get a text echo."""

    def __init__(self, *, port: int = 0, models: dict[str, int | None] | None = None) -> None:
        super().__init__(port)
        self.models: dict[str, int | None] = dict(models or {"claude-sonnet-4-6": 200_000})
        self._queue: deque[Reply] = deque()
        self._queue_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What `ANTHROPIC_BASE_URL` / `AsyncAnthropic(base_url=...)` should be (no `/v1`)."""
        return self.origin

    def env(self, api_key: str = "sk-ant-fake") -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": api_key}

    def queue(self, *replies: Reply) -> None:
        with self._queue_lock:
            self._queue.extend(replies)

    def queue_text(self, text: str, *, reasoning: str | None = None) -> None:
        self.queue(TextReply(text, reasoning=reasoning))

    def queue_tool_call(self, name: str, /, **arguments: Any) -> None:
        self.queue(ToolCallsReply([FakeToolCall(name, arguments, id=f"toolu_{uuid.uuid4().hex[:24]}")]))

    def queue_error(
        self, status: int, message: str = "fake error", *, type: str | None = None, times: int = 1
    ) -> None:
        error = ErrorReply(status, message, type=type or _ERROR_TYPES.get(status, "api_error"))
        self.queue(*[error] * times)

    def queue_context_overflow(self) -> None:
        self.queue_error(400, "prompt is too long: 212345 tokens > 200000 maximum")

    @property
    def message_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every `POST /v1/messages`, in order."""
        return [r.body for r in self.requests if r.path == "/v1/messages"]

    @property
    def last_message_request(self) -> dict[str, Any]:
        requests = self.message_requests
        if not requests:
            raise AssertionError("the fake Anthropic server received no messages request")
        return requests[-1]

    def handle(self, request: RecordedRequest) -> HTTPReply:
        if request.method == "GET" and request.path == "/v1/models":
            return HTTPReply(200, self._model_list())
        if request.method == "POST" and request.path == "/v1/messages":
            body = request.body if isinstance(request.body, dict) else {}
            return self._message(body)
        return _error(ErrorReply(404, f"unknown path {request.path}", type="not_found_error"))

    def _message(self, body: dict[str, Any]) -> HTTPReply:
        with self._queue_lock:
            reply = self._queue.popleft() if self._queue else TextReply("echo")
        if isinstance(reply, ErrorReply):
            return _error(reply)
        if isinstance(reply, dict):
            return HTTPReply(200, reply)
        if reply.delay:
            time.sleep(reply.delay)
        content: list[dict[str, Any]] = []
        if reply.reasoning:
            content.append({"type": "thinking", "thinking": reply.reasoning, "signature": "fake-signature"})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        if isinstance(reply, ToolCallsReply):
            for call in reply.calls:
                arguments = json.loads(call.arguments_json)
                content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        prompt, completion = reply.usage or (len(json.dumps(body)) // 4, len(json.dumps(content)) // 4)
        return HTTPReply(
            200,
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "claude-fake"),
                "content": content,
                "stop_reason": "tool_use" if isinstance(reply, ToolCallsReply) else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            },
        )

    def _model_list(self) -> dict[str, Any]:
        data = [
            {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2025-01-01T00:00:00Z",
                "lifecycle": "active",
                "max_input_tokens": window,
            }
            for model_id, window in self.models.items()
        ]
        ids = list(self.models)
        return {
            "data": data,
            "has_more": False,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }


def _error(reply: ErrorReply) -> HTTPReply:
    headers = {"retry-after-ms": str(reply.retry_after_ms)} if reply.retry_after_ms is not None else {}
    body = {"type": "error", "error": {"type": reply.type, "message": reply.message}}
    return HTTPReply(reply.status, body, headers)
