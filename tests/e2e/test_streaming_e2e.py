"""Streaming through `letta-client` against a real server: the same messages as the plain call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from letta_client import Letta

from tests.e2e.server_process import ServerProcess
from tests.e2e.test_letta_client import create_agent, letta, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")]


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[Letta]:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        yield letta(server)
        print_server_output(server)


def queue_turn(fake: FakeOpenAIServer) -> None:
    fake.queue_tool_call(
        "core_memory_append",
        thinking="Remember.",
        label="human",
        content="Rides a bike.",
        request_heartbeat=True,
    )
    fake.queue_tool_call("send_message", thinking="Answer.", message="Noted: you ride a bike.")


def shape(message: object) -> tuple[str, str]:
    kind = str(getattr(message, "message_type", ""))
    text = getattr(message, "content", None) or getattr(message, "reasoning", None) or ""
    if kind == "tool_call_message":
        text = message.tool_call.name  # type: ignore[attr-defined]
    if kind == "tool_return_message":
        text = message.status  # type: ignore[attr-defined]
    return kind, str(text)


def test_stream_matches_the_plain_call(client: Letta, fake_openai: FakeOpenAIServer) -> None:
    plain_agent = create_agent(client)
    queue_turn(fake_openai)
    plain = client.agents.messages.create(plain_agent.id, input="I ride a bike")

    streamed_agent = create_agent(client)
    queue_turn(fake_openai)
    chunks = list(client.agents.messages.stream(streamed_agent.id, input="I ride a bike"))
    kinds = [str(c.message_type) for c in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"]
    assert chunks[-2].stop_reason == "end_turn"  # type: ignore[union-attr]
    assert chunks[-1].step_count == 2  # type: ignore[union-attr]
    messages = [c for c in chunks[:-2] if c.message_type != "ping"]
    assert [shape(m) for m in messages] == [shape(m) for m in plain.messages]
    stored = client.agents.messages.list(streamed_agent.id, order="asc").items
    assert [m.id for m in stored] == [getattr(m, "id", None) for m in messages]

    # The same through `messages.create(streaming=True)`.
    queue_turn(fake_openai)
    again = list(
        client.agents.messages.create(create_agent(client).id, input="I ride a bike", streaming=True)
    )
    assert [shape(m) for m in again if m.message_type not in ("ping", "stop_reason", "usage_statistics")] == [
        shape(m) for m in plain.messages
    ]
