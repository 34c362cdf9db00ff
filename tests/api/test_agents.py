"""Agents over the API: create, retrieve, list with filters, modify, delete."""

from __future__ import annotations

import httpx

from tests.helpers import assert_error, create_agent

EXTERNAL_MEMORY_TOOLS = {"conversation_search", "archival_memory_insert", "archival_memory_search"}


async def test_create_agent_with_blocks_tools_and_tags(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, name="ada", tags=["team-a", "vip"], context_window_limit=4000)
    assert agent["id"].startswith("agent-")
    assert agent["name"] == "ada"
    assert agent["agent_type"] == "memgpt_v2_agent"
    assert {b["label"] for b in agent["blocks"]} == {"human", "persona"}
    assert all(b["id"].startswith("block-") for b in agent["blocks"])
    assert agent["memory"]["blocks"] == agent["blocks"]
    assert {t["name"] for t in agent["tools"]} == {
        "send_message",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
        *EXTERNAL_MEMORY_TOOLS,
    }
    assert sorted(agent["tags"]) == ["team-a", "vip"]
    assert agent["llm_config"]["context_window"] == 4000
    assert agent["llm_config"]["handle"] == "scripted/test"
    assert agent["message_ids"] == []


async def test_memgpt_agent_gets_memgpt_base_tools_and_named_tools(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, agent_type="memgpt_agent", tools=["memory_rethink"])
    names = {t["name"] for t in agent["tools"]}
    assert names == {
        "send_message",
        "core_memory_append",
        "core_memory_replace",
        "memory_rethink",
        *EXTERNAL_MEMORY_TOOLS,
    }

    bare = await create_agent(client, include_base_tools=False, tools=["send_message", "core_memory_append"])
    assert {t["name"] for t in bare["tools"]} == {"send_message", "core_memory_append"}


async def test_unknown_tool_name_is_404_and_creates_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/agents/", json={"name": "x", "tools": ["no_such_tool"]})
    assert "no_such_tool" in assert_error(response, 404)["detail"]
    assert (await client.get("/v1/agents/", params={"name": "x"})).json() == []


async def test_unsupported_agent_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/agents/", json={"agent_type": "voice_convo_agent"})
    assert "not supported" in assert_error(response, 422)["detail"]


async def test_retrieve_and_list_with_filters(client: httpx.AsyncClient) -> None:
    a = await create_agent(client, name="alpha", tags=["red", "blue"])
    b = await create_agent(client, name="beta", tags=["red"])
    await create_agent(client, name="gamma", tags=["green"])

    fetched = (await client.get(f"/v1/agents/{a['id']}")).json()
    assert fetched["id"] == a["id"] and fetched["name"] == "alpha"

    by_name = (await client.get("/v1/agents/", params={"name": "beta"})).json()
    assert [x["id"] for x in by_name] == [b["id"]]

    any_red = (await client.get("/v1/agents/", params={"tags": ["red", "blue"]})).json()
    assert {x["id"] for x in any_red} == {a["id"], b["id"]}

    all_tags = (
        await client.get("/v1/agents/", params={"tags": ["red", "blue"], "match_all_tags": True})
    ).json()
    assert [x["id"] for x in all_tags] == [a["id"]]


async def test_list_paginates_with_cursors(client: httpx.AsyncClient) -> None:
    ids = [(await create_agent(client, name=f"p{i}"))["id"] for i in range(5)]
    first = (await client.get("/v1/agents/", params={"limit": 2, "order": "asc"})).json()
    assert [x["id"] for x in first] == ids[:2]
    rest = (await client.get("/v1/agents/", params={"after": ids[1], "order": "asc"})).json()
    assert [x["id"] for x in rest] == ids[2:]
    newest = (await client.get("/v1/agents/", params={"limit": 1})).json()
    assert [x["id"] for x in newest] == [ids[-1]]


async def test_modify_agent(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, name="before", tags=["x"])
    response = await client.patch(
        f"/v1/agents/{agent['id']}",
        json={"name": "after", "tags": ["y", "z"], "system": "Be brief.", "context_window_limit": 8000},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["name"] == "after"
    assert sorted(changed["tags"]) == ["y", "z"]
    assert changed["system"] == "Be brief."
    assert changed["llm_config"]["context_window"] == 8000
    assert changed["model"] == agent["model"]


async def test_switch_model_keeps_state(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    changed = (await client.patch(f"/v1/agents/{agent['id']}", json={"model": "openai/gpt-4o-mini"})).json()
    assert changed["model"] == "openai/gpt-4o-mini"
    assert changed["llm_config"]["model_endpoint_type"] == "openai"
    assert [b["id"] for b in changed["blocks"]] == [b["id"] for b in agent["blocks"]]


async def test_delete_agent(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    assert (await client.delete(f"/v1/agents/{agent['id']}")).status_code == 200
    assert_error(await client.get(f"/v1/agents/{agent['id']}"), 404)
    assert_error(await client.delete(f"/v1/agents/{agent['id']}"), 404)


async def test_agent_tools_attach_detach(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, include_base_tools=False, tools=["send_message"])
    tools = (await client.get("/v1/tools/", params={"name": "core_memory_append"})).json()
    tool_id = tools[0]["id"]
    attached = (await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{tool_id}")).json()
    assert {t["name"] for t in attached["tools"]} == {"send_message", "core_memory_append"}
    listed = (await client.get(f"/v1/agents/{agent['id']}/tools")).json()
    assert {t["name"] for t in listed} == {"send_message", "core_memory_append"}
    detached = (await client.patch(f"/v1/agents/{agent['id']}/tools/detach/{tool_id}")).json()
    assert {t["name"] for t in detached["tools"]} == {"send_message"}


async def test_secrets_are_not_returned(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tool_exec_environment_variables={"WEATHER_KEY": "s3cret"})
    assert agent["tool_exec_environment_variables"] == [
        {"key": "WEATHER_KEY", "value": "", "description": None}
    ]
    assert "s3cret" not in (await client.get(f"/v1/agents/{agent['id']}")).text
