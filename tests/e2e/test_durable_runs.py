"""The crash test: queued runs survive `kill -9` of the server and run exactly once.

50 async runs over 5 agents; each turn takes two steps (a memory edit with a heartbeat, then the
reply) against a fake OpenAI server that answers slowly. The server is killed part-way and
restarted; every run then ends, no message is lost or stored twice, and every agent still answers.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.e2e.server_process import ServerProcess
from tests.e2e.test_letta_client import create_agent, letta, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, ToolCallsReply

pytestmark = pytest.mark.timeout(120)

AGENTS = 5
RUNS_PER_AGENT = 10
FINISHED = ("completed", "failed", "cancelled")


def two_step_turns(body: dict[str, Any]) -> Reply:
    """User message -> remember it (heartbeat); tool result -> reply quoting the user message."""
    messages = body["messages"]
    last = messages[-1]
    user = next(m for m in reversed(messages) if m["role"] == "user")
    text = user["content"] if isinstance(user["content"], str) else user["content"][0]["text"]
    if last["role"] == "user":
        arguments = {"label": "human", "content": text, "request_heartbeat": True}
        call = FakeToolCall("core_memory_append", arguments)
    else:
        call = FakeToolCall("send_message", {"message": f"re: {text}"})
    return ToolCallsReply([call], delay=0.15)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def statuses(client: Letta, run_ids: list[str]) -> Counter[str]:
    wanted = set(run_ids)
    return Counter(str(run.status) for run in client.runs.list(limit=1000).items if run.id in wanted)


def test_runs_survive_a_kill_and_run_exactly_once(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = two_step_turns
    server = ServerProcess(tmp_path / "home", env=fake_openai.env())
    with server:
        try:
            client = letta(server)
            agents = [create_agent(client) for _ in range(AGENTS)]
            texts = {a.id: [f"{a.name} says {i}" for i in range(RUNS_PER_AGENT)] for a in agents}
            run_ids = []
            for i in range(RUNS_PER_AGENT):
                for agent in agents:
                    run = client.agents.messages.create_async(agent.id, input=texts[agent.id][i])
                    assert run.status in ("created", "running")
                    run_ids.append(run.id)

            wait_until(lambda: statuses(client, run_ids)["completed"] >= 5, 60, "some runs to complete")
            before_kill = statuses(client, run_ids)
            server.kill()
            assert before_kill["completed"] < len(run_ids), "the kill came too late to test anything"

            server.start()
            assert "resuming" in server.output().split("--- start 2")[-1]  # the half-done runs were seen
            client = letta(server)
            finished = lambda: sum(statuses(client, run_ids)[s] for s in FINISHED)  # noqa: E731
            wait_until(lambda: finished() == len(run_ids), 90, "all runs to finish")
            final = statuses(client, run_ids)
            assert final["completed"] == len(run_ids), final

            for agent in agents:
                history = client.agents.messages.list(agent.id, order="asc", limit=1000).items
                users = [m.content for m in history if m.message_type == "user_message"]
                assert users == texts[agent.id]  # each exactly once, in queue order
                replies = [m.content for m in history if m.message_type == "assistant_message"]
                assert replies == [f"re: {t}" for t in texts[agent.id]]
                kinds = [m.message_type for m in history]
                for index, kind in enumerate(kinds):
                    if kind == "tool_call_message":
                        assert kinds[index + 1] == "tool_return_message"

            fake_openai.reset()
            for agent in agents:
                answer = client.agents.messages.create(agent.id, input="still there?")
                assert answer.messages[-1].content == "echo: still there?"  # type: ignore[union-attr]
        finally:
            print_server_output(server)
