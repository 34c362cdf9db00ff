"""Token streaming through `letta-client` (`stream_tokens=True`) against `memfold serve`, the fake OpenAI
server streaming its answers: the pieces of each message, put together, are the plain call's messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.e2e.server_process import ServerProcess
from tests.e2e.test_letta_client import create_agent, letta, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, TextReply, ToolCallsReply

pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")]

WORDS = 'Noted: you ride a bike \U0001f6b2, "fast" \u00e9\\o/.'


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[Letta]:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        yield letta(server)
        print_server_output(server)


def queue_memgpt_turn(fake: FakeOpenAIServer) -> None:
    memory = {
        "thinking": "Remember \u2014 it.",
        "label": "human",
        "content": "Rides a bike.",
        "request_heartbeat": True,
    }
    fake.queue(
        ToolCallsReply([FakeToolCall("core_memory_append", memory)], usage=(300, 40)),
        ToolCallsReply(
            [FakeToolCall("send_message", {"thinking": "Answer.", "message": WORDS})], usage=(320, 30)
        ),
    )


def text(message: Any) -> str:
    kind = str(message.message_type)
    if kind == "tool_call_message":
        return str(message.tool_call.arguments)
    if kind == "tool_return_message":
        return str(message.status)
    return str(getattr(message, "content", None) or getattr(message, "reasoning", None) or "")


def reassemble(chunks: list[Any]) -> list[tuple[str, str, str]]:
    """(id, message_type, text) of each view, its chunks put together, in the order views first came."""
    views: dict[tuple[str, str], str] = {}
    for chunk in chunks:
        key = (chunk.id, str(chunk.message_type))
        views[key] = views.get(key, "") + text(chunk)
    return [(message_id, kind, joined) for (message_id, kind), joined in views.items()]


def check_stream(client: Letta, agent_id: str, chunks: list[Any], plain: Any) -> None:
    kinds = [str(c.message_type) for c in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"]
    assert chunks[-2].stop_reason == plain.stop_reason.stop_reason
    assert chunks[-1].step_count == plain.usage.step_count
    assert chunks[-1].completion_tokens == plain.usage.completion_tokens
    pieces = [c for c in chunks[:-2] if c.message_type != "ping"]
    assert len(pieces) > 2 * len(plain.messages)  # really in pieces
    views = reassemble(pieces)
    assert [(kind, joined) for _, kind, joined in views] == [
        (str(m.message_type), text(m)) for m in plain.messages
    ]
    stored = client.agents.messages.list(agent_id, order="asc").items
    assert [(m.id, str(m.message_type), text(m)) for m in stored] == views


def test_memgpt_pieces_put_together_are_the_plain_messages(
    client: Letta, fake_openai: FakeOpenAIServer
) -> None:
    plain_agent = create_agent(client)
    queue_memgpt_turn(fake_openai)
    plain = client.agents.messages.create(plain_agent.id, input="I ride a bike")

    agent = create_agent(client)
    queue_memgpt_turn(fake_openai)
    chunks = list(client.agents.messages.stream(agent.id, input="I ride a bike", stream_tokens=True))

    assert fake_openai.last_chat_request["stream"] is True
    check_stream(client, agent.id, chunks, plain)
    words = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(words) > 3 and len({c.id for c in words}) == 1
    assert "".join(str(c.content) for c in words) == WORDS


def test_native_mode_text_and_reasoning_stream(client: Letta, fake_openai: FakeOpenAIServer) -> None:
    def reply() -> TextReply:
        return TextReply(
            "You ride a bike; I will keep that in mind.", reasoning="They said so.", usage=(200, 20)
        )

    plain_agent = create_agent(client, agent_type="letta_v1_agent")
    fake_openai.queue(reply())
    plain = client.agents.messages.create(plain_agent.id, input="I ride a bike")

    agent = create_agent(client, agent_type="letta_v1_agent")
    fake_openai.queue(reply())
    chunks = list(client.agents.messages.stream(agent.id, input="I ride a bike", stream_tokens=True))
    check_stream(client, agent.id, chunks, plain)
    assert [str(m.message_type) for m in plain.messages] == [
        "user_message",
        "reasoning_message",
        "assistant_message",
    ]
