"""A sleep-time agent through `letta-client` against a real `memfold serve` and the fake OpenAI server:
create with enable_sleeptime, see the group, watch the companion's run in /v1/runs, read the block
it rewrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server_process import ServerProcess
from tests.e2e.test_durable_runs import wait_until
from tests.e2e.test_letta_client import HUMAN, create_agent, letta, print_server_output, text_of
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, ToolCallsReply

pytestmark = pytest.mark.timeout(120)


def responder(body: dict[str, Any]) -> Reply:
    """The main agent says "ok"; the sleep-time agent edits `human` once per run, then finishes."""
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    if "memory_finish_edits" not in tools:
        return ToolCallsReply([FakeToolCall("send_message", {"message": "ok"})])
    last = body["messages"][-1]
    if last["role"] == "user" and "Lovelace" in text_of(last):
        edit = {
            "label": "human",
            "old_str": HUMAN,
            "new_str": "Name: Ada Lovelace",
            "request_heartbeat": True,
        }
        return ToolCallsReply([FakeToolCall("memory_replace", edit)])
    return ToolCallsReply([FakeToolCall("memory_finish_edits", {})])


def test_sleeptime_agent_through_letta_client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = responder
    env = {**fake_openai.env(), "MEMFOLD_SLEEPTIME_AGENT_FREQUENCY": "1"}
    with ServerProcess(tmp_path / "home", env=env) as server:
        try:
            client = letta(server)
            main = create_agent(client, enable_sleeptime=True)
            group = main.managed_group
            assert group is not None and group.manager_type == "sleeptime"
            assert group.sleeptime_agent_frequency == 1
            [sleeper_id] = group.agent_ids
            assert client.agents.retrieve(sleeper_id).agent_type == "sleeptime_agent"

            client.agents.messages.create(
                main.id, messages=[{"role": "user", "content": "my surname is Lovelace"}]
            )

            def finished() -> bool:
                runs = client.runs.list(agent_id=sleeper_id).items
                return bool(runs) and runs[0].status == "completed"

            wait_until(finished, 30, "the sleep-time run")
            assert client.agents.blocks.retrieve("human", agent_id=main.id).value == "Name: Ada Lovelace"
            assert client.agents.retrieve(main.id).managed_group.turns_counter == 1  # type: ignore[union-attr]

            # letta-client 1.12.1 has no groups resource: its generic `patch` reaches the route.
            config = {"manager_type": "sleeptime", "sleeptime_agent_frequency": 3}
            client.patch(f"/v1/groups/{group.id}", cast_to=object, body={"manager_config": config})
            assert client.agents.retrieve(main.id).managed_group.sleeptime_agent_frequency == 3  # type: ignore[union-attr]

            client.agents.delete(main.id)
            assert sleeper_id not in {a.id for a in client.agents.list().items}
        finally:
            print_server_output(server)
