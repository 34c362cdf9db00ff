"""Tool rules over the API: validation, round trips in the SDK's shape, and the approval route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from letta_client import Letta
from letta_client.types import (
    ChildToolRule,
    ConditionalToolRule,
    InitToolRule,
    MaxCountPerStepToolRule,
    RequiresApprovalToolRule,
    TerminalToolRule,
)
from letta_client.types.agent_state import ToolRule as SdkToolRule
from pydantic import TypeAdapter

from memfold.ids import new_id
from memfold.store import agents as agent_rows
from memfold.store import tools as tool_rows
from memfold.store.orgs import DEFAULT_ORG_ID
from tests.e2e.server_process import ServerProcess
from tests.helpers import assert_error, create_agent

ALL_RULES: list[dict[str, Any]] = [
    {"type": "run_first", "tool_name": "conversation_search", "args": {"query": "hello"}},
    {"type": "exit_loop", "tool_name": "send_message"},
    {"type": "continue_loop", "tool_name": "archival_memory_search"},
    {
        "type": "constrain_child_tools",
        "tool_name": "conversation_search",
        "children": ["archival_memory_search", "send_message"],
        "child_arg_nodes": [{"name": "send_message", "args": {"message": "hi"}}],
    },
    {"type": "parent_last_tool", "tool_name": "conversation_search", "children": ["memory_insert"]},
    {
        "type": "conditional",
        "tool_name": "archival_memory_search",
        "child_output_mapping": {"true": "send_message", "1": "memory_insert"},
        "default_child": "send_message",
        "require_output_mapping": True,
        "prompt_template": "{{ tool_name }} decides",
    },
    {"type": "max_count_per_step", "tool_name": "archival_memory_search", "max_count_limit": 2},
    {"type": "required_before_exit", "tool_name": "memory_insert"},
    {"type": "requires_approval", "tool_name": "memory_rethink"},
]

# What each rule type has beyond what a request must send, with its default.
DEFAULTS: dict[str, dict[str, Any]] = {
    "run_first": {"args": None},
    "constrain_child_tools": {"child_arg_nodes": None},
    "conditional": {"default_child": None, "require_output_mapping": False},
}


def full(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as the API returns it: every field, defaults filled in."""
    return {"prompt_template": None, **DEFAULTS.get(rule["type"], {}), **rule}


async def test_every_rule_type_round_trips_through_create_retrieve_and_modify(
    client: httpx.AsyncClient,
) -> None:
    agent = await create_agent(client, tool_rules=ALL_RULES)
    expected = [full(r) for r in ALL_RULES]
    assert agent["tool_rules"] == expected
    url = f"/v1/agents/{agent['id']}"
    assert (await client.get(url)).json()["tool_rules"] == expected

    # Modifying something else leaves the rules alone; sending rules replaces them.
    renamed = (await client.patch(url, json={"name": "renamed"})).json()
    assert renamed["tool_rules"] == expected
    sent_back = (await client.patch(url, json={"tool_rules": renamed["tool_rules"]})).json()
    assert sent_back["tool_rules"] == expected
    fewer = (await client.patch(url, json={"tool_rules": ALL_RULES[:2]})).json()
    assert fewer["tool_rules"] == expected[:2]
    cleared = (await client.patch(url, json={"tool_rules": []})).json()
    assert cleared["tool_rules"] == []


async def test_the_response_parses_as_the_sdks_agent_state(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tool_rules=ALL_RULES)
    # (the SDK's AgentState itself would reject the test's `scripted` provider, so only the rules)
    rules = TypeAdapter(list[SdkToolRule]).validate_python(agent["tool_rules"])
    assert [r.type for r in rules] == [r["type"] for r in ALL_RULES]
    init, _, _, child, _, cond, limit, _, approval = rules
    assert isinstance(init, InitToolRule) and init.args == {"query": "hello"}
    assert isinstance(child, ChildToolRule) and child.child_arg_nodes is not None
    assert child.child_arg_nodes[0].name == "send_message"
    assert isinstance(cond, ConditionalToolRule) and cond.require_output_mapping is True
    assert isinstance(limit, MaxCountPerStepToolRule) and limit.max_count_limit == 2
    assert isinstance(approval, RequiresApprovalToolRule)


async def test_null_tool_rules_on_create_means_none(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tool_rules=None)
    assert agent["tool_rules"] == []


@pytest.mark.parametrize(
    ("rules", "hint"),
    [
        ([{"tool_name": "send_message"}], "tool_rules.0"),
        ([{"type": "teleport", "tool_name": "send_message"}], "teleport"),
        ([{"type": "exit_loop"}], "tool_name"),
        ([{"type": "constrain_child_tools", "tool_name": "a", "children": []}], "children"),
        ([{"type": "conditional", "tool_name": "a", "child_output_mapping": {}}], "child_output_mapping"),
        ([{"type": "max_count_per_step", "tool_name": "a", "max_count_limit": 0}], "max_count_limit"),
        (
            [{"type": "exit_loop", "tool_name": "a"}, {"type": "continue_loop", "tool_name": "a"}],
            "cannot both end the turn",
        ),
        ("not a list", "tool_rules"),
    ],
)
async def test_bad_rules_are_422_in_the_error_shape(client: httpx.AsyncClient, rules: Any, hint: str) -> None:
    body = assert_error(await client.post("/v1/agents/", json={"name": "bad", "tool_rules": rules}), 422)
    assert body["code"] == "validation_error"
    assert hint in body["detail"]
    assert (await client.get("/v1/agents/", params={"name": "bad"})).json() == []

    agent = await create_agent(client, tool_rules=ALL_RULES[:1])
    url = f"/v1/agents/{agent['id']}"
    assert_error(await client.patch(url, json={"tool_rules": rules}), 422)
    assert (await client.get(url)).json()["tool_rules"] == [full(ALL_RULES[0])]


async def test_a_stored_rule_that_no_longer_validates_is_skipped_not_a_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    agent = await create_agent(client)
    with app.state.memfold.db.write() as conn:
        agent_rows.update_agent(
            conn, agent["id"], {"tool_rules": [{"type": "old"}, {"type": "exit_loop", "tool_name": "x"}]}
        )
    response = await client.get(f"/v1/agents/{agent['id']}")
    assert response.status_code == 200
    assert response.json()["tool_rules"] == [full({"type": "exit_loop", "tool_name": "x"})]


# -- PATCH /v1/agents/{id}/tools/approval/{tool_name} ----------------------------------------


async def test_approval_route_adds_and_removes_the_rule(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tool_rules=[{"type": "exit_loop", "tool_name": "send_message"}])
    url = f"/v1/agents/{agent['id']}/tools/approval/memory_insert"
    approval = full({"type": "requires_approval", "tool_name": "memory_insert"})
    terminal = full({"type": "exit_loop", "tool_name": "send_message"})

    on = await client.patch(url, json={"requires_approval": True})
    assert on.status_code == 200, on.text
    assert on.json()["tool_rules"] == [terminal, approval]
    again = (await client.patch(url, json={"requires_approval": True})).json()
    assert again["tool_rules"] == [terminal, approval]  # not added twice
    off = (await client.patch(url, json={"requires_approval": False})).json()
    assert off["tool_rules"] == [terminal]
    via_query = (await client.patch(url, params={"requires_approval": "true"})).json()
    assert via_query["tool_rules"] == [terminal, approval]
    stored = (await client.get(f"/v1/agents/{agent['id']}")).json()
    assert stored["tool_rules"] == [terminal, approval]


async def test_approval_route_errors(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    base = f"/v1/agents/{agent['id']}/tools/approval"
    no_value = assert_error(await client.patch(f"{base}/memory_insert", json={}), 422)
    assert "requires_approval" in no_value["detail"]
    assert_error(await client.patch(f"{base}/memory_insert", json={"requires_approval": "maybe"}), 422)
    missing = assert_error(await client.patch(f"{base}/not_attached", json={"requires_approval": True}), 404)
    assert "not_attached" in missing["detail"]
    unknown = "/v1/agents/agent-00000000-0000-4000-8000-000000000999/tools/approval/memory_insert"
    assert_error(await client.patch(unknown, json={"requires_approval": True}), 404)
    assert (await client.get(f"/v1/agents/{agent['id']}")).json()["tool_rules"] == []


async def test_a_tool_that_requires_approval_by_default_gets_the_rule_when_attached(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with app.state.memfold.db.write() as conn:
        tool_rows.upsert_tool(
            conn,
            DEFAULT_ORG_ID,
            new_id("tool"),
            {
                "name": "wire_money",
                "description": "Send money.",
                "tool_type": "custom",
                "source_type": "python",
                "source_code": "def wire_money(amount: int) -> str:\n    return 'sent'\n",
                "json_schema": {"name": "wire_money", "parameters": {"type": "object", "properties": {}}},
                "tags": [],
                "return_char_limit": 6000,
                "default_requires_approval": True,
            },
        )
    agent = await create_agent(client, tools=["wire_money"])
    approval = full({"type": "requires_approval", "tool_name": "wire_money"})
    assert agent["tool_rules"] == [approval]
    # Switched off for this agent, it stays off.
    url = f"/v1/agents/{agent['id']}"
    off = (await client.patch(f"{url}/tools/approval/wire_money", json={"requires_approval": False})).json()
    assert off["tool_rules"] == []
    assert (await client.patch(url, json={"name": "still-off"})).json()["tool_rules"] == []


# -- through the real SDK against `memfold serve` ---------------------------------------------


@pytest.mark.timeout(60)
def test_letta_client_creates_reads_and_changes_rules(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home") as server:
        client = Letta(base_url=server.base_url, max_retries=0, timeout=20.0)
        agent = client.agents.create(
            name="rules-e2e",
            model="openai/gpt-4o-mini",
            memory_blocks=[{"label": "human", "value": "Name: Ada"}],
            tool_rules=[
                {"type": "run_first", "tool_name": "conversation_search"},
                {"type": "exit_loop", "tool_name": "send_message"},
                {
                    "type": "constrain_child_tools",
                    "tool_name": "conversation_search",
                    "children": ["send_message"],
                },
                {
                    "type": "conditional",
                    "tool_name": "archival_memory_search",
                    "child_output_mapping": {"true": "send_message"},
                    "default_child": "memory_insert",
                },
                {"type": "max_count_per_step", "tool_name": "archival_memory_search", "max_count_limit": 3},
            ],
        )
        read = client.agents.retrieve(agent.id)
        rules = read.tool_rules or []
        assert [type(r) for r in rules] == [
            InitToolRule,
            TerminalToolRule,
            ChildToolRule,
            ConditionalToolRule,
            MaxCountPerStepToolRule,
        ]
        assert rules == (agent.tool_rules or [])
        child, cond, limit = rules[2], rules[3], rules[4]
        assert isinstance(child, ChildToolRule) and child.children == ["send_message"]
        assert isinstance(cond, ConditionalToolRule)
        assert cond.child_output_mapping == {"true": "send_message"} and cond.default_child == "memory_insert"
        assert isinstance(limit, MaxCountPerStepToolRule) and limit.max_count_limit == 3

        changed = client.agents.tools.update_approval(
            "memory_insert", agent_id=agent.id, body_requires_approval=True
        )
        assert changed is not None
        assert [r.type for r in changed.tool_rules or []][-1] == "requires_approval"

        updated = client.agents.update(
            agent.id, tool_rules=[{"type": "exit_loop", "tool_name": "send_message"}]
        )
        assert [(r.type, r.tool_name) for r in updated.tool_rules or []] == [("exit_loop", "send_message")]
        again = client.agents.retrieve(agent.id)
        assert again.tool_rules == updated.tool_rules
