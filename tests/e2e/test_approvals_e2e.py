"""Approve, deny and client-side tool round trips through `letta-client` against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from letta_client import ConflictError, Letta

from tests.e2e.server_process import ServerProcess
from tests.e2e.test_letta_client import create_agent, letta, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[Letta]:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        yield letta(server)
        print_server_output(server)


def kinds(messages: list[object]) -> list[str]:
    return [str(getattr(m, "message_type", "")) for m in messages]


def test_approve_and_deny(client: Letta, fake_openai: FakeOpenAIServer) -> None:
    agent = create_agent(
        client, tool_rules=[{"type": "requires_approval", "tool_name": "core_memory_append"}]
    )
    remember = {"label": "human", "content": "Has a dog.", "request_heartbeat": True}

    fake_openai.queue_tool_call("core_memory_append", thinking="Save it.", **remember)
    waiting = client.agents.messages.create(agent.id, input="I have a dog")
    assert waiting.stop_reason.stop_reason == "requires_approval"
    [request] = [m for m in waiting.messages if m.message_type == "approval_request_message"]
    with pytest.raises(ConflictError):
        client.agents.messages.create(agent.id, input="hello?")

    fake_openai.queue_tool_call("send_message", thinking="Confirm.", message="Saved.")
    approved = client.agents.messages.create(
        agent.id, messages=[{"type": "approval", "approval_request_id": request.id, "approve": True}]
    )
    assert kinds(approved.messages) == [
        "approval_response_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert "Has a dog." in client.agents.blocks.retrieve("human", agent_id=agent.id).value

    fake_openai.queue_tool_call(
        "core_memory_append", thinking="Save it.", **{**remember, "content": "Has a cat."}
    )
    waiting = client.agents.messages.create(agent.id, input="I have a cat")
    [request] = [m for m in waiting.messages if m.message_type == "approval_request_message"]
    fake_openai.queue_tool_call("send_message", thinking="Accept.", message="OK, not saved.")
    denied = client.agents.messages.create(
        agent.id,
        messages=[
            {"type": "approval", "approval_request_id": request.id, "approve": False, "reason": "private"}
        ],
    )
    [result] = [m for m in denied.messages if m.message_type == "tool_return_message"]
    assert result.status == "error" and "private" in result.tool_return  # type: ignore[operator]
    assert "Has a cat." not in client.agents.blocks.retrieve("human", agent_id=agent.id).value


def test_client_side_tool(client: Letta, fake_openai: FakeOpenAIServer) -> None:
    agent = create_agent(client)
    tool = {
        "name": "local_time",
        "description": "The user's local time.",
        "parameters": {"type": "object", "properties": {}},
    }
    fake_openai.queue_tool_call("local_time", thinking="Ask the client.")
    waiting = client.agents.messages.create(agent.id, input="what time is it?", client_tools=[tool])
    assert waiting.stop_reason.stop_reason == "requires_approval"
    assert "local_time" in {t["function"]["name"] for t in fake_openai.chat_requests[-1]["tools"]}
    [request] = [m for m in waiting.messages if m.message_type == "approval_request_message"]

    fake_openai.queue_tool_call("send_message", thinking="Tell them.", message="It is 09:30.")
    done = client.agents.messages.create(
        agent.id,
        messages=[
            {
                "type": "tool_return",
                "tool_returns": [
                    {
                        "tool_call_id": request.tool_call.tool_call_id,
                        "tool_return": "09:30",
                        "status": "success",
                    }  # type: ignore[union-attr]
                ],
            }
        ],
        client_tools=[tool],
    )
    assert [m.content for m in done.messages if m.message_type == "assistant_message"] == ["It is 09:30."]  # type: ignore[union-attr]
    last = fake_openai.chat_requests[-1]["messages"][-1]
    assert last["role"] == "tool" and last["content"] == "09:30"
