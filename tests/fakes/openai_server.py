"""A fake OpenAI-compatible server on 127.0.0.1 that the real `openai` SDK talks to.

    with FakeOpenAIServer() as fake:
        fake.queue_tool_call("send_message", message="hi")
        client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-fake")
        ...
        assert fake.last_chat_request["tool_choice"] == "required"

Serves `POST /v1/chat/completions` (JSON, or server-sent events when `stream` is true),
`POST /v1/embeddings` (vectors from the pluggable `embed(text) -> list[float]`, by default a
deterministic 8-dimensional hash) and `GET /v1/models`. Replies come from a queue (`queue_text`,
`queue_tool_call`, `queue_error`, ...) and, once it is empty, from `responder` — by default `echo_responder`,
which answers through `send_message` when offered, so a `memfold serve` subprocess
pointed at the fake (`fake.env()`) holds a conversation without any scripting.

Run standalone: `python -m tests.fakes.openai_server [--port 8399]`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._http import HTTPReply, LoopbackServer, RecordedRequest, sse

__all__ = [
    "ErrorReply",
    "FakeOpenAIServer",
    "FakeToolCall",
    "Reply",
    "Responder",
    "TextReply",
    "ToolCallsReply",
    "count_prompt_tokens",
    "count_text_tokens",
    "echo_responder",
]


@dataclass(slots=True)
class FakeToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(slots=True)
class TextReply:
    """The model answers in plain text (optionally with native reasoning)."""

    text: str
    reasoning: str | None = None
    usage: tuple[int, int] | None = None
    """(prompt tokens, completion tokens); estimated from the request when None."""
    delay: float = 0.0
    """Seconds to wait before answering (to provoke client timeouts)."""
    stream_error: str | None = None
    """When streamed: after the text, an error chunk with this message instead of the end."""


@dataclass(slots=True)
class ToolCallsReply:
    """The model calls one or more tools."""

    calls: list[FakeToolCall]
    text: str | None = None
    reasoning: str | None = None
    usage: tuple[int, int] | None = None
    delay: float = 0.0


@dataclass(slots=True)
class ErrorReply:
    """An error answered the way the provider shapes it (OpenAI: `{"error": {...}}`)."""

    status: int
    message: str = "fake error"
    type: str | None = None
    code: str | None = None
    retry_after_ms: float | None = 1.0
    """Sent as `retry-after-ms`, which the SDKs obey: keeps their retry backoff short in tests."""


Reply = TextReply | ToolCallsReply | ErrorReply | dict[str, Any]
"""A queued or computed answer; a plain dict is sent verbatim as the response body."""
Responder = Callable[[dict[str, Any]], Reply]
"""Decides the answer from the request's JSON body."""
EmbedFunction = Callable[[str], list[float]]
"""The vector `POST /v1/embeddings` returns for one input text."""


def hash_embedding(text: str) -> list[float]:
    """The default `embed`: 8 numbers from the text's SHA-256 (same text, same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [byte / 255.0 - 0.5 for byte in digest[:8]]


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_TYPES |= {429: "rate_limit_error", 500: "server_error", 503: "server_error"}


class FakeOpenAIServer(LoopbackServer):
    """Chat completions and model listing on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        port: int = 0,
        models: dict[str, int | None] | None = None,
        responder: Responder | None = None,
        max_prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(port)
        self.models: dict[str, int | None] = dict(models or {"gpt-4o-mini": None, "gpt-4o": None})
        """Model ids served by `GET /v1/models`, with a stated context window or None."""
        self.responder: Responder = responder or echo_responder
        self.embed: EmbedFunction = hash_embedding
        """Set it to decide the embeddings: `fake.embed = lambda text: [...]`."""
        self.max_prompt_tokens = max_prompt_tokens
        """When set, a request whose prompt (by `count_prompt_tokens`) plus requested completion
        tokens exceed it is rejected as OpenAI does: HTTP 400, code `context_length_exceeded`."""
        self._queue: deque[Reply] = deque()
        self._queue_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What `OPENAI_BASE_URL` / `AsyncOpenAI(base_url=...)` should be."""
        return f"{self.origin}/v1"

    def env(self, api_key: str = "sk-fake") -> dict[str, str]:
        """Environment variables that point memfold's `openai` provider here (e.g. for a subprocess)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    # -- scripting ----------------------------------------------------------------------

    def queue(self, *replies: Reply) -> None:
        with self._queue_lock:
            self._queue.extend(replies)

    def queue_text(self, text: str, *, reasoning: str | None = None) -> None:
        self.queue(TextReply(text, reasoning=reasoning))

    def queue_tool_call(self, name: str, /, **arguments: Any) -> None:
        """Queue a reply calling `name` with `arguments`: `queue_tool_call("send_message", message="hi")`."""
        self.queue(ToolCallsReply([FakeToolCall(name, arguments)]))

    def queue_error(
        self,
        status: int,
        message: str = "fake error",
        *,
        type: str | None = None,
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` chat completions with an OpenAI-shaped error."""
        error = ErrorReply(status, message, type=type or _ERROR_TYPES.get(status, "api_error"), code=code)
        self.queue(*[error] * times)

    def queue_context_overflow(self, *, times: int = 1) -> None:
        """OpenAI's answer to a prompt longer than the model's context window."""
        self.queue_error(
            400,
            "This model's maximum context length is 4096 tokens. However, your messages resulted in "
            "5000 tokens. Please reduce the length of the messages.",
            code="context_length_exceeded",
            times=times,
        )

    @property
    def pending(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued replies and recorded requests; back to the echo responder."""
        with self._queue_lock:
            self._queue.clear()
        self.clear_requests()
        self.responder = echo_responder
        self.embed = hash_embedding

    # -- inspection ---------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat completion request, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def last_chat_request(self) -> dict[str, Any]:
        requests = self.chat_requests
        if not requests:
            raise AssertionError("the fake OpenAI server received no chat completion request")
        return requests[-1]

    # -- serving ------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> HTTPReply:
        if request.method == "GET" and request.path == "/v1/models":
            return HTTPReply(200, self._model_list())
        if request.method == "POST" and request.path == "/v1/chat/completions":
            body = request.body if isinstance(request.body, dict) else {}
            return self._complete(body)
        if request.method == "POST" and request.path == "/v1/embeddings":
            return self._embeddings(request.body if isinstance(request.body, dict) else {})
        return _error(
            ErrorReply(404, f"unknown path {request.method} {request.path}", type="not_found_error")
        )

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._queue_lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def _complete(self, body: dict[str, Any]) -> HTTPReply:
        if self.max_prompt_tokens is not None:
            prompt = count_prompt_tokens(body)
            wanted = prompt + int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
            if wanted > self.max_prompt_tokens:
                message = (
                    f"This model's maximum context length is {self.max_prompt_tokens} tokens. However, your "
                    f"messages resulted in {prompt} tokens. Please reduce the length of the messages."
                )
                return _error(
                    ErrorReply(400, message, type="invalid_request_error", code="context_length_exceeded")
                )
        reply = self._next_reply(body)
        if isinstance(reply, ErrorReply):
            return _error(reply)
        if isinstance(reply, dict):
            return HTTPReply(200, reply)
        if reply.delay:
            time.sleep(reply.delay)
        model = str(body.get("model", "fake-model"))
        usage = _usage(body, reply)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return HTTPReply(200, events=_stream(model, reply, usage if include_usage else None))
        return HTTPReply(200, _completion(model, reply, usage))

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every embeddings request, in order."""
        return [r.body for r in self.requests if r.path.endswith("/embeddings")]

    def _embeddings(self, body: dict[str, Any]) -> HTTPReply:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or not all(isinstance(text, str) and text for text in texts):
            return _error(ErrorReply(400, "'input' must be a non-empty string or array of strings"))
        data = [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in self.embed(text)]}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(text) for text in texts) // 4 + 1
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return HTTPReply(200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    def _model_list(self) -> dict[str, Any]:
        data = []
        for model_id, window in self.models.items():
            entry: dict[str, Any] = {"id": model_id, "object": "model", "created": 0, "owned_by": "fake"}
            if window:
                entry["context_length"] = window
            data.append(entry)
        return {"object": "list", "data": data}


def _error(reply: ErrorReply) -> HTTPReply:
    headers = {}
    if reply.retry_after_ms is not None:
        headers["retry-after-ms"] = str(reply.retry_after_ms)
    body = {"error": {"message": reply.message, "type": reply.type, "param": None, "code": reply.code}}
    return HTTPReply(reply.status, body, headers)


def _message(reply: TextReply | ToolCallsReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if isinstance(reply, ToolCallsReply):
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in reply.calls
        ]
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    return message


def _finish_reason(reply: TextReply | ToolCallsReply) -> str:
    return "tool_calls" if isinstance(reply, ToolCallsReply) else "stop"


def _completion(model: str, reply: TextReply | ToolCallsReply, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": _message(reply), "finish_reason": _finish_reason(reply), "logprobs": None}
        ],
        "usage": usage,
    }


def _stream(model: str, reply: TextReply | ToolCallsReply, usage: dict[str, int] | None) -> Iterator[bytes]:
    """The reply as chat.completion.chunk events: role, reasoning, text pieces, tool calls, usage."""
    chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return sse(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [choice],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    if reply.reasoning:
        yield chunk({"reasoning_content": reply.reasoning})
    for piece in _pieces(reply.text or ""):
        yield chunk({"content": piece})
    if isinstance(reply, TextReply) and reply.stream_error:  # a provider failing mid-stream
        yield sse({"error": {"message": reply.stream_error, "type": "server_error", "code": None}})
        return
    if isinstance(reply, ToolCallsReply):
        for index, call in enumerate(reply.calls):
            opening = {"index": index, "id": call.id, "type": "function"}
            yield chunk({"tool_calls": [{**opening, "function": {"name": call.name, "arguments": ""}}]})
            for piece in _pieces(call.arguments_json):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(reply))
    if usage is not None:
        yield sse({"id": chunk_id, "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [], "usage": usage})  # fmt: skip
    yield sse("[DONE]")


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# The fake's own token count, independent of memfold's estimator: a word-piece approximation
# of BPE (cl100k-style pre-tokenization; long words, punctuation and whitespace runs split,
# non-ASCII one token per two UTF-8 bytes). On English, code and JSON it counts 1.1-1.3x what
# cl100k_base counts, so a request memfold believes fits also fits a real OpenAI model.
_FAKE_PIECES = re.compile(r" ?[A-Za-z]+|[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s")


def count_text_tokens(text: str) -> int:
    count = 0
    for piece in _FAKE_PIECES.findall(text):
        core = piece.strip()
        if not core:
            count += 1 + len(piece) // 8
        elif not core.isascii():
            count += max(1, len(core.encode()) // 2)
        elif core.isalpha():
            count += 1 + (len(core) - 1) // 7
        elif core.isdigit():
            count += 1
        else:
            count += 1 + (len(core) - 1) // 2
    return count


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens of a chat completion request, as this fake counts them (3 per message, its
    text, its tool calls; each tool's JSON schema; 3 to prime the reply)."""
    count = 3
    for message in body.get("messages") or []:
        count += 3 + count_text_tokens(_content_text(message.get("content")))
        if message.get("name"):
            count += 1 + count_text_tokens(str(message["name"]))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            count += (
                3
                + count_text_tokens(function.get("name", ""))
                + count_text_tokens(function.get("arguments", ""))
            )
    for tool in body.get("tools") or []:
        count += 3 + count_text_tokens(json.dumps(tool.get("function") or {}))
    return count


def _usage(body: dict[str, Any], reply: TextReply | ToolCallsReply) -> dict[str, int]:
    """Token counts by `count_prompt_tokens` (completion: characters / 4) unless the reply states them."""
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        prompt = count_prompt_tokens(body)
        completion = (len(reply.text or "") + len(reply.reasoning or "")) // 4 + 1
        if isinstance(reply, ToolCallsReply):
            completion += sum(len(call.name) + len(call.arguments_json) for call in reply.calls) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def echo_responder(body: dict[str, Any]) -> Reply:
    """The default answer: echo the last user message, via `send_message` when that tool is offered.

    Required arguments of the called tool are filled with placeholders of the right JSON
    type (booleans false, so a heartbeat is never requested and the turn ends).
    """
    text = f"echo: {_last_user_text(body.get('messages') or [])}"
    tools = {tool["function"]["name"]: tool["function"] for tool in body.get("tools") or []}
    choice = body.get("tool_choice", "auto")
    if tools and choice != "none":
        if "send_message" in tools:
            return ToolCallsReply([FakeToolCall("send_message", _arguments(tools["send_message"], text))])
        if choice == "required":
            name, schema = next(iter(tools.items()))
            return ToolCallsReply([FakeToolCall(name, _arguments(schema, text))])
    return TextReply(text)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def _arguments(function: dict[str, Any], text: str) -> dict[str, Any]:
    parameters = function.get("parameters") or {}
    properties: dict[str, Any] = parameters.get("properties") or {}
    placeholders = {"boolean": False, "integer": 0, "number": 0, "array": [], "object": {}}
    arguments: dict[str, Any] = {}
    for name in parameters.get("required") or []:
        kind = (properties.get(name) or {}).get("type", "string")
        arguments[name] = placeholders.get(kind, text if name == "message" else "fake")
    if "message" in properties:
        arguments["message"] = text
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with FakeOpenAIServer(port=args.port) as fake:
        print(f"OPENAI_BASE_URL={fake.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
