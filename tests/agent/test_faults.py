"""A provider fault leaves the agent usable and its state whole: steps commit atomically."""

from __future__ import annotations

import httpx

from memfold.errors import ProviderError
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import assert_error, create_agent


def provider_down() -> ProviderError:
    return ProviderError("upstream unavailable", provider="scripted", status=503, retryable=True)


async def test_fault_on_first_step_stores_nothing_and_is_a_502(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client)
    scripted.enqueue(provider_down())
    response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    assert assert_error(response, 502)["code"] == "provider_error"
    assert (await client.get(f"/v1/agents/{agent['id']}/messages")).json() == []

    scripted.enqueue(tool_call_response("send_message", message="back"))
    ok = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi again"})
    assert ok.json()["messages"][-1]["content"] == "back"
    assert [m.content for m in scripted.last_request.messages if m.role == "user"] == ["hi again"]


async def test_fault_mid_chain_keeps_completed_steps(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent")
    scripted.enqueue(
        tool_call_response("core_memory_append", label="human", content="Has a cat.", request_heartbeat=True),
        provider_down(),
    )
    response = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "I have a cat"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stop_reason"]["stop_reason"] == "llm_api_error"
    assert body["usage"]["step_count"] == 1
    state = (await client.get(f"/v1/agents/{agent['id']}")).json()
    assert state["last_stop_reason"] == "llm_api_error"
    assert "Has a cat." in next(b["value"] for b in state["blocks"] if b["label"] == "human")
    assert len(state["message_ids"]) == 3  # user, assistant call, tool result: the committed step

    scripted.enqueue(tool_call_response("send_message", message="Tell me about the cat."))
    again = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hello?"})
    assert again.json()["messages"][-1]["content"] == "Tell me about the cat."
    roles = [m.role for m in scripted.last_request.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
