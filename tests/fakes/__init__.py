"""Fake LLM providers on 127.0.0.1 that the real SDKs talk to, and their pytest fixtures."""

from tests.fakes._http import HTTPReply, LoopbackServer, RecordedRequest, free_port
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import (
    ErrorReply,
    FakeOpenAIServer,
    FakeToolCall,
    Reply,
    Responder,
    TextReply,
    ToolCallsReply,
    echo_responder,
)

__all__ = [
    "ErrorReply",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "FakeToolCall",
    "HTTPReply",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
    "Responder",
    "TextReply",
    "ToolCallsReply",
    "echo_responder",
    "free_port",
]
