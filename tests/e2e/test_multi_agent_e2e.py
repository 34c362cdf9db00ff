"""Agents messaging agents through a real `memfold serve` and the fake OpenAI server: the supervisor/
worker example runs unchanged, and a queued agent-to-agent message survives a kill of the server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from examples.supervisor_workers import run_supervisor_workers
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_durable_runs import wait_until
from tests.e2e.test_letta_client import MODEL, letta, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, ToolCallsReply

pytestmark = pytest.mark.timeout(120)


def _system(body: dict[str, Any]) -> str:
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else " ".join(part["text"] for part in content)


def _last(body: dict[str, Any]) -> tuple[str, str]:
    last = body["messages"][-1]
    content = last["content"]
    text = content if isinstance(content, str) else " ".join(part["text"] for part in content or [])
    return last["role"], text or ""


def team_responder(body: dict[str, Any]) -> Reply:
    """The supervisor asks its team (the tag named in its persona) and relays; a worker answers."""
    system = _system(body)
    role, text = _last(body)
    if "I am the supervisor" in system:
        if role == "tool":
            return ToolCallsReply([FakeToolCall("send_message", {"message": f"summary: {text}"})])
        team = re.search(r"My team tag is (team-[0-9a-f]+)", system)
        assert team is not None
        arguments = {
            "message": text,
            "match_all": [team.group(1)],
            "match_some": [],
            "request_heartbeat": True,
        }
        return ToolCallsReply([FakeToolCall("send_message_to_agents_matching_tags", arguments)])
    return ToolCallsReply([FakeToolCall("send_message", {"message": f"done: {text.splitlines()[-1]}"})])


def test_supervisor_workers_example(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = team_responder
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        try:
            outcome = run_supervisor_workers(letta(server), MODEL, "count to three", workers=3)
        finally:
            print_server_output(server)
    assert sorted(outcome.worker_replies) == sorted(outcome.worker_ids)
    assert set(outcome.worker_replies.values()) == {"done: count to three"}
    assert outcome.summary.startswith("summary: ") and outcome.summary.count("done: count to three") == 3
    asked = [b for b in fake_openai.chat_requests if "I am a worker" in _system(b)]
    assert len(asked) == 3
    assert all(f"[message from {outcome.supervisor_id}]" in _last(b)[1] for b in asked)


def test_a_queued_message_survives_a_restart(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    slow = {"receiver": 30.0}

    def responder(body: dict[str, Any]) -> Reply:
        system = _system(body)
        role, text = _last(body)
        if "I am the receiver" in system:
            reply = FakeToolCall("send_message", {"message": f"got: {text.splitlines()[-1]}"})
            return ToolCallsReply([reply], delay=slow["receiver"])
        if role == "tool":
            return ToolCallsReply([FakeToolCall("send_message", {"message": "handed over"})])
        found = re.search(r"RECEIVER=(agent-\S+)", system)
        assert found is not None
        arguments = {
            "message": "file the report",
            "other_agent_id": found.group(1),
            "request_heartbeat": True,
        }
        return ToolCallsReply([FakeToolCall("send_message_to_agent_async", arguments)])

    fake_openai.responder = responder
    server = ServerProcess(tmp_path / "home", env=fake_openai.env())
    with server:
        try:
            client = letta(server)
            receiver = client.agents.create(
                model=MODEL,
                memory_blocks=[{"label": "persona", "value": "I am the receiver."}],
            )
            sender = client.agents.create(
                model=MODEL,
                tools=["send_message_to_agent_async"],
                memory_blocks=[{"label": "persona", "value": f"I am the sender. RECEIVER={receiver.id}"}],
            )
            answer = client.agents.messages.create(sender.id, input="delegate it")
            assert answer.messages[-1].content == "handed over"  # type: ignore[union-attr]
            receiver_asked = lambda: any("I am the receiver" in _system(b) for b in fake_openai.chat_requests)  # noqa: E731
            wait_until(receiver_asked, 30, "the receiver's run to start")
            server.kill()  # while the receiver's model is still answering

            slow["receiver"] = 0.0
            server.start()
            client = letta(server)

            def received() -> list[Any]:
                history = client.agents.messages.list(receiver.id, order="asc", limit=100).items
                return [m for m in history if m.message_type == "assistant_message"]

            wait_until(lambda: bool(received()), 60, "the receiver to answer after the restart")
            history = client.agents.messages.list(receiver.id, order="asc", limit=100).items
            users = [m for m in history if m.message_type == "user_message"]
            assert [(m.content, m.sender_id) for m in users] == [("file the report", sender.id)]
            assert [m.content for m in received()] == ["got: file the report"]
        finally:
            print_server_output(server)
