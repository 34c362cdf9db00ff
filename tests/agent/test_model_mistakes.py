"""What the model gets wrong, the agent survives: each mistake becomes a tool error the model sees,
the block stays unchanged, and the agent gets another step to fix it."""

from __future__ import annotations

import httpx
import pytest

from memfold.llm.base import ModelResponse, ToolCall
from memfold.llm.scripted import ScriptedModel, tool_call_response
from tests.helpers import create_agent

BLOCKS = [
    {"label": "human", "value": "Name: Ada", "limit": 30},
    {"label": "rules", "value": "Never share secrets.", "read_only": True},
]


def raw_call(name: str, arguments: str) -> ModelResponse:
    return ModelResponse(tool_calls=[ToolCall(id="call-bad", name=name, arguments=arguments)])


MISTAKES = {
    "invalid_json": (raw_call("core_memory_append", '{"label": "human", "content": '), "not valid JSON"),
    "not_an_object": (raw_call("core_memory_append", '["human", "x"]'), "must be a JSON object"),
    "unknown_tool": (
        tool_call_response("delete_everything", target="all"),
        "no tool named 'delete_everything'",
    ),
    "missing_argument": (
        tool_call_response("core_memory_append", label="human"),
        "content: Missing required",
    ),
    "wrong_type": (tool_call_response("core_memory_append", label="human", content=["a", "b"]), "content"),
    "over_limit": (
        tool_call_response("core_memory_append", label="human", content="x" * 40),
        "over its limit of 30",
    ),
    "read_only": (
        tool_call_response("core_memory_replace", label="rules", old_content="Never", new_content="Always"),
        "read-only",
    ),
    "unknown_label": (tool_call_response("core_memory_append", label="nope", content="x"), "no memory block"),
    "replace_missing_text": (
        tool_call_response("core_memory_replace", label="human", old_content="Bob", new_content="Eve"),
        "was not found",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
async def test_mistake_becomes_a_tool_error_and_the_agent_recovers(
    client: httpx.AsyncClient, scripted: ScriptedModel, mistake: str
) -> None:
    response, expected = MISTAKES[mistake]
    agent = await create_agent(client, agent_type="memgpt_agent", memory_blocks=BLOCKS)
    scripted.enqueue(response, tool_call_response("send_message", message="Sorry, fixed."))

    sent = await client.post(
        f"/v1/agents/{agent['id']}/messages", json={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    returns = [m for m in body["messages"] if m["message_type"] == "tool_return_message"]
    assert len(returns) == 1 and returns[0]["status"] == "error"
    assert expected in returns[0]["tool_return"]
    assert body["messages"][-1] == {
        **body["messages"][-1],
        "message_type": "assistant_message",
        "content": "Sorry, fixed.",
    }

    # The model saw the error as the result of its call, in the very next request.
    seen = scripted.requests[1].messages[-1]
    assert seen.role == "tool" and expected in (seen.content or "")

    blocks = {
        b["label"]: b["value"] for b in (await client.get(f"/v1/agents/{agent['id']}")).json()["blocks"]
    }
    assert blocks == {"human": "Name: Ada", "rules": "Never share secrets."}

    # The agent stays usable.
    scripted.enqueue(tool_call_response("send_message", message="Still here."))
    again = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "still there?"})
    assert again.json()["messages"][-1]["content"] == "Still here."
