"""/v1/mcp-servers through the API: register stdio and HTTP servers, their tools as tool rows,
secrets never shown, modify, refresh, run, delete, and bad input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.tools.mcp import McpClients
from tests.helpers import assert_error, create_agent
from tests.tools.mcp_server_fixture import TOOL_NAMES, HttpFixture, free_port, stdio_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def mcp_clients(app: FastAPI) -> Iterator[McpClients]:
    """The app's MCP sessions, closed at the end whether or not a lifespan ran."""
    clients: McpClients = app.state.memfold.loop.runtime.mcp
    yield clients
    clients.close()


@pytest.fixture
def http_fixture(tmp_path: Path) -> Iterator[HttpFixture]:
    with HttpFixture(tmp_path / "mcp-http.log", token="s3cret") as fixture:
        yield fixture


async def register(client: httpx.AsyncClient, name: str, config: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/mcp-servers/", json={"server_name": name, "config": config})
    assert response.status_code == 200, response.text
    server: dict[str, Any] = response.json()
    return server


async def server_tools(client: httpx.AsyncClient, server_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/mcp-servers/{server_id}/tools")
    assert response.status_code == 200, response.text
    return {tool["name"]: tool for tool in response.json()}


async def test_register_a_stdio_server_and_list_its_tools(client: httpx.AsyncClient) -> None:
    server = await register(client, "fixture", stdio_config(env={"API_KEY": "very-secret"}))
    assert server["id"].startswith("mcp_server-")
    assert server["mcp_server_type"] == "stdio"
    assert server["command"] == sys.executable
    assert server["env"] == {"API_KEY": ""}  # the variable is shown, its value never

    tools = await server_tools(client, server["id"])
    assert sorted(tools) == TOOL_NAMES
    add = tools["add"]
    assert add["id"].startswith("tool-")
    assert add["tool_type"] == "external_mcp"
    assert add["description"] == "Add two integers."
    assert add["tags"] == ["mcp:fixture"]
    assert add["metadata_"]["mcp"] == {
        "server_id": server["id"],
        "server_name": "fixture",
        "tool_name": "add",
    }
    assert add["json_schema"]["name"] == "add"
    assert add["json_schema"]["parameters"]["required"] == ["a", "b"]
    assert add["json_schema"]["parameters"]["properties"]["b"]["type"] == "integer"

    # The rows are ordinary tools: in /v1/tools and retrievable through the server.
    listed = (await client.get("/v1/tools/", params={"name": "add"})).json()
    assert [tool["id"] for tool in listed] == [add["id"]]
    one = await client.get(f"/v1/mcp-servers/{server['id']}/tools/{add['id']}")
    assert one.status_code == 200 and one.json()["id"] == add["id"]

    assert [s["id"] for s in (await client.get("/v1/mcp-servers/")).json()] == [server["id"]]
    again = (await client.get(f"/v1/mcp-servers/{server['id']}")).json()
    assert again == server


async def test_run_a_tool_through_the_server_route(client: httpx.AsyncClient) -> None:
    server = await register(client, "fixture", stdio_config())
    tools = await server_tools(client, server["id"])
    url = f"/v1/mcp-servers/{server['id']}/tools"

    ran = (await client.post(f"{url}/{tools['add']['id']}/run", json={"args": {"a": 19, "b": 23}})).json()
    assert (ran["status"], ran["func_return"]) == ("success", "42")
    failed = (await client.post(f"{url}/{tools['fail']['id']}/run", json={"args": {"reason": "x"}})).json()
    assert failed["status"] == "error" and "fixture failure: x" in failed["func_return"]


async def test_http_server_secrets_are_blank_but_used(
    client: httpx.AsyncClient, http_fixture: HttpFixture
) -> None:
    config = {
        "mcp_server_type": "streamable_http",
        "server_url": http_fixture.url,
        "auth_header": "Authorization",
        "auth_token": "Bearer s3cret",
        "custom_headers": {"X-Team": "blue"},
    }
    server = await register(client, "remote", config)
    assert server["mcp_server_type"] == "streamable_http"
    assert server["server_url"] == http_fixture.url
    assert (server["auth_header"], server["auth_token"]) == ("Authorization", "")
    assert server["custom_headers"] == {"X-Team": ""}
    assert "s3cret" not in (await client.get("/v1/mcp-servers/")).text

    # The token reached the server (it answers 401 without it): the tools were listed.
    tools = await server_tools(client, server["id"])
    assert sorted(tools) == TOOL_NAMES

    # Sending the blank values back (as a client that round-trips the object does) keeps them.
    shown = {k: server[k] for k in ("server_url", "auth_header", "auth_token", "custom_headers")}
    changed = await client.patch(
        f"/v1/mcp-servers/{server['id']}",
        json={"server_name": "remote-2", "config": {"mcp_server_type": "streamable_http", **shown}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["server_name"] == "remote-2"
    refreshed = await client.patch(f"/v1/mcp-servers/{server['id']}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert sorted(refreshed.json()["unchanged"]) == TOOL_NAMES
    renamed = await server_tools(client, server["id"])
    assert renamed["add"]["tags"] == ["mcp:remote-2"]
    assert renamed["add"]["metadata_"]["mcp"]["server_name"] == "remote-2"

    # A wrong token: the refresh cannot reach the server, a 502 in the error shape, tools kept.
    wrong = await client.patch(
        f"/v1/mcp-servers/{server['id']}",
        json={"config": {"server_url": http_fixture.url, "auth_token": "nope"}},
    )
    assert wrong.status_code == 200, wrong.text
    body = assert_error(await client.patch(f"/v1/mcp-servers/{server['id']}/refresh"), 502)
    assert body["code"] == "mcp_server_error" and "401" in body["detail"]
    assert "nope" not in body["detail"]
    assert sorted(await server_tools(client, server["id"])) == TOOL_NAMES


async def test_refresh_follows_the_servers_tool_set(client: httpx.AsyncClient, tmp_path: Path) -> None:
    extra = tmp_path / "extra-tools.txt"
    server = await register(client, "changing", stdio_config("--extra-tools-file", str(extra)))
    assert "multiply" not in await server_tools(client, server["id"])
    agent = await create_agent(client, include_base_tools=False, tools=["send_message"])

    extra.write_text("multiply")
    summary = (await client.patch(f"/v1/mcp-servers/{server['id']}/refresh")).json()
    assert summary["added"] == ["multiply"]
    assert sorted(summary["unchanged"]) == TOOL_NAMES
    assert (summary["updated"], summary["deleted"]) == ([], [])
    multiply = (await server_tools(client, server["id"]))["multiply"]
    attached = await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{multiply['id']}")
    assert "multiply" in [tool["name"] for tool in attached.json()["tools"]]

    extra.write_text("")
    summary = (await client.patch(f"/v1/mcp-servers/{server['id']}/refresh")).json()
    assert summary["deleted"] == ["multiply"] and summary["added"] == []
    assert "multiply" not in await server_tools(client, server["id"])
    agent_tools = (await client.get(f"/v1/agents/{agent['id']}/tools")).json()
    assert [tool["name"] for tool in agent_tools] == ["send_message"]


async def test_same_tool_name_on_two_servers_gets_the_server_name(client: httpx.AsyncClient) -> None:
    first = await register(client, "one", stdio_config())
    second = await register(client, "two", stdio_config())
    assert "echo" in await server_tools(client, first["id"])
    second_tools = await server_tools(client, second["id"])
    assert "two__echo" in second_tools and "echo" not in second_tools
    assert second_tools["two__echo"]["metadata_"]["mcp"]["tool_name"] == "echo"
    ran = await client.post(
        f"/v1/mcp-servers/{second['id']}/tools/{second_tools['two__echo']['id']}/run",
        json={"args": {"text": "from two"}},
    )
    assert ran.json()["func_return"] == "from two"


async def test_delete_removes_the_server_and_its_tools(client: httpx.AsyncClient) -> None:
    server = await register(client, "fixture", stdio_config())
    tools = await server_tools(client, server["id"])
    agent = await create_agent(client, include_base_tools=False, tools=["send_message"])
    await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{tools['add']['id']}")

    deleted = await client.delete(f"/v1/mcp-servers/{server['id']}")
    assert deleted.status_code == 204
    assert_error(await client.get(f"/v1/mcp-servers/{server['id']}"), 404)
    assert_error(await client.get(f"/v1/tools/{tools['add']['id']}"), 404)
    agent_tools = (await client.get(f"/v1/agents/{agent['id']}/tools")).json()
    assert [tool["name"] for tool in agent_tools] == ["send_message"]
    assert_error(await client.delete(f"/v1/mcp-servers/{server['id']}"), 404)


async def test_an_unreachable_server_is_registered_and_listing_its_tools_is_a_502(
    client: httpx.AsyncClient,
) -> None:
    config = {"mcp_server_type": "streamable_http", "server_url": f"http://127.0.0.1:{free_port()}/mcp"}
    server = await register(client, "down", config)
    body = assert_error(await client.get(f"/v1/mcp-servers/{server['id']}/tools"), 502)
    assert "connection failed" in body["detail"] and "'down'" in body["detail"]
    missing = await register(client, "no-binary", {"command": "/nonexistent/mcp-server", "args": []})
    assert missing["mcp_server_type"] == "stdio"  # the type is inferred from the command
    body = assert_error(await client.patch(f"/v1/mcp-servers/{missing['id']}/refresh"), 502)
    assert "/nonexistent/mcp-server" in body["detail"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"mcp_server_type": "stdio", "args": []}, "command"),
        ({"mcp_server_type": "stdio", "command": "   "}, "command"),
        ({"mcp_server_type": "streamable_http", "server_url": "ftp://example.test/mcp"}, "server_url"),
        ({"mcp_server_type": "sse", "server_url": "not a url"}, "server_url"),
        ({"mcp_server_type": "websocket", "server_url": "http://127.0.0.1/mcp"}, "config"),
        ({"server_url": "http://127.0.0.1:1/mcp", "custom_headers": {"Bad Header": "x"}}, "custom_headers"),
        ({"command": "x", "env": {"A=B": "1"}}, "env"),
        ({"command": "x", "args": "not a list"}, "args"),
    ],
)
async def test_bad_registrations_are_422(
    client: httpx.AsyncClient, config: dict[str, Any], field: str
) -> None:
    body = assert_error(
        await client.post("/v1/mcp-servers/", json={"server_name": "bad", "config": config}), 422
    )
    assert field in body["detail"]
    assert (await client.get("/v1/mcp-servers/")).json() == []


async def test_other_bad_requests(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/mcp-servers/", json={"config": {"command": "x"}}), 422)
    assert_error(
        await client.post("/v1/mcp-servers/", json={"server_name": "", "config": {"command": "x"}}), 422
    )
    server = await register(client, "taken", {"command": "/nonexistent/a"})
    assert_error(
        await client.post("/v1/mcp-servers/", json={"server_name": "taken", "config": {"command": "y"}}), 409
    )
    other = await register(client, "other", {"command": "/nonexistent/b"})
    assert_error(await client.patch(f"/v1/mcp-servers/{other['id']}", json={"server_name": "taken"}), 409)
    # Switching transport needs that transport's required field.
    switch = {"config": {"mcp_server_type": "streamable_http", "server_url": None}}
    assert_error(await client.patch(f"/v1/mcp-servers/{server['id']}", json=switch), 422)
    assert (await client.get(f"/v1/mcp-servers/{server['id']}")).json()["mcp_server_type"] == "stdio"

    unknown = "mcp_server-00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"/v1/mcp-servers/{unknown}"), 404)
    assert_error(await client.get(f"/v1/mcp-servers/{unknown}/tools"), 404)
    assert_error(await client.patch(f"/v1/mcp-servers/{unknown}/refresh"), 404)
    assert_error(
        await client.patch(f"/v1/mcp-servers/{server['id']}/refresh", params={"agent_id": "agent-x"}), 404
    )
    # A tool that is not the server's, through the server's routes.
    builtin = (await client.get("/v1/tools/", params={"name": "send_message"})).json()[0]
    assert_error(await client.get(f"/v1/mcp-servers/{server['id']}/tools/{builtin['id']}"), 404)
    assert_error(await client.post(f"/v1/mcp-servers/{server['id']}/tools/{builtin['id']}/run", json={}), 404)


async def test_switching_transport(client: httpx.AsyncClient, http_fixture: HttpFixture) -> None:
    server = await register(client, "moving", {"command": "/nonexistent/c", "env": {"K": "v"}})
    switched = await client.patch(
        f"/v1/mcp-servers/{server['id']}",
        json={
            "config": {
                "mcp_server_type": "streamable_http",
                "server_url": http_fixture.url,
                "auth_token": "s3cret",
            }
        },
    )
    assert switched.status_code == 200, switched.text
    view = switched.json()
    assert view["mcp_server_type"] == "streamable_http" and "command" not in view and view["auth_token"] == ""
    # A bare token goes out as `Authorization: Bearer <token>`; the switch listed the tools.
    assert sorted(await server_tools(client, server["id"])) == TOOL_NAMES
