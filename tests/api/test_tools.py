"""/v1/tools: create from source (schema generated, never executed), upsert, list with filters and
cursors, count, search, modify, delete; built-ins are listed but protected."""

from __future__ import annotations

import textwrap
from typing import Any

import httpx
import pytest

from memfold.tools.builtin import BUILTIN_TOOLS
from tests.helpers import assert_error, create_agent

WEATHER = '''
from enum import Enum
from typing import Literal, Optional

from pydantic import BaseModel, Field


class Unit(str, Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


class Place(BaseModel):
    city: str = Field(description="City name.")
    country: Optional[str] = None


def get_weather(place: Place, unit: Unit = Unit.CELSIUS, days: list[int] | None = None,
                detail: Literal["short", "long"] = "short") -> str:
    """Look up the weather forecast for a place.

    Args:
        place: Where to look.
        unit: Temperature unit.
        days: Which days ahead (0 is today).
        detail: How much to say.
    """
    raise RuntimeError("never executed by the server")
'''

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "place": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name."},
                "country": {"type": "string"},
            },
            "required": ["city"],
            "description": "Where to look.",
        },
        "unit": {"type": "string", "enum": ["C", "F"], "description": "Temperature unit.", "default": "C"},
        "days": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "Which days ahead (0 is today).",
        },
        "detail": {
            "type": "string",
            "enum": ["short", "long"],
            "description": "How much to say.",
            "default": "short",
        },
    },
    "required": ["place"],
}


def simple_tool(name: str, summary: str = "Do a thing.", body: str = "return 'done'") -> str:
    return textwrap.dedent(
        f'''
        def {name}(text: str) -> str:
            """{summary}

            Args:
                text: The input.
            """
            {body}
        '''
    )


async def make_tool(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/tools/", json=body)
    assert response.status_code == 200, response.text
    tool: dict[str, Any] = response.json()
    return tool


def names(tools: list[dict[str, Any]]) -> list[str]:
    return [t["name"] for t in tools]


# --- create and retrieve -----------------------------------------------------------------------------


async def test_create_from_source_generates_the_schema(client: httpx.AsyncClient) -> None:
    tool = await make_tool(
        client,
        source_code=WEATHER,
        tags=["weather", "demo"],
        return_char_limit=500,
        pip_requirements=[{"name": "requests", "version": "2.32.0"}],
        default_requires_approval=True,
        metadata={"owner": "ada"},
    )
    assert tool["id"].startswith("tool-")
    assert tool["name"] == "get_weather"
    assert tool["description"] == "Look up the weather forecast for a place."
    assert tool["tool_type"] == "custom"
    assert tool["source_type"] == "python"
    assert tool["source_code"] == WEATHER
    assert tool["json_schema"] == {
        "name": "get_weather",
        "description": "Look up the weather forecast for a place.",
        "parameters": WEATHER_PARAMETERS,
    }
    assert tool["tags"] == ["weather", "demo"]
    assert tool["return_char_limit"] == 500
    assert tool["pip_requirements"] == [{"name": "requests", "version": "2.32.0"}]
    assert tool["default_requires_approval"] is True
    assert tool["metadata_"] == {"owner": "ada"}
    assert (await client.get(f"/v1/tools/{tool['id']}")).json() == tool


async def test_defaults_of_a_minimal_create(client: httpx.AsyncClient) -> None:
    tool = await make_tool(client, source_code=simple_tool("shout"))
    assert tool["tags"] == []
    assert tool["return_char_limit"] == 6000
    assert tool["pip_requirements"] is None
    assert tool["default_requires_approval"] is None
    assert tool["metadata_"] is None


async def test_explicit_description_and_json_schema(client: httpx.AsyncClient) -> None:
    described = await make_tool(client, source_code=simple_tool("first_tool"), description="Custom words.")
    assert described["description"] == described["json_schema"]["description"] == "Custom words."

    given = {
        "name": "second_tool",
        "description": "Given.",
        "parameters": {"type": "object", "properties": {}},
    }
    source = "def second_tool(anything):\n    return anything\n"  # no docstring or annotation needed
    tool = await make_tool(client, source_code=source, json_schema=given)
    assert tool["name"] == "second_tool"
    assert tool["json_schema"] == {
        **given,
        "parameters": {"type": "object", "properties": {}, "required": []},
    }


async def test_name_picks_the_function(client: httpx.AsyncClient) -> None:
    source = simple_tool("alpha_tool") + simple_tool("beta_tool")
    assert (await make_tool(client, source_code=source))["name"] == "beta_tool"
    assert (await make_tool(client, source_code=source, name="alpha_tool"))["name"] == "alpha_tool"


async def test_same_name_is_a_conflict_and_upsert_replaces(client: httpx.AsyncClient) -> None:
    tool = await make_tool(client, source_code=simple_tool("echo_tool", "Echo it."), tags=["v1"])
    body = assert_error(await client.post("/v1/tools/", json={"source_code": simple_tool("echo_tool")}), 409)
    assert "echo_tool" in body["detail"] and tool["id"] in body["detail"]

    replaced = await client.put(
        "/v1/tools/", json={"source_code": simple_tool("echo_tool", "Echo it twice."), "tags": ["v2"]}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == tool["id"]
    assert replaced.json()["description"] == "Echo it twice."
    assert replaced.json()["tags"] == ["v2"]
    assert (await client.get(f"/v1/tools/{tool['id']}")).json()["description"] == "Echo it twice."

    created = await client.put("/v1/tools/", json={"source_code": simple_tool("fresh_tool")})
    assert created.status_code == 200
    assert created.json()["id"] != tool["id"]
    assert names((await client.get("/v1/tools/", params={"name": "echo_tool"})).json()) == ["echo_tool"]


# --- errors ------------------------------------------------------------------------------------------


def _documented(params: str, args: str) -> str:
    return f'def f({params}) -> None:\n    """Do f.\n\n    Args:\n        {args}\n    """\n'


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        pytest.param("import os\n\ndef f(:\n    pass\n", ["does not parse", "line 3"], id="syntax"),
        pytest.param("x = 1\n", ["no top-level function"], id="no-function"),
        pytest.param("def f(x: int):\n    return x\n", ["'f'", "no docstring"], id="no-docstring"),
        pytest.param(_documented("x", "x: X."), ["'x'", "no type annotation"], id="no-annotation"),
        pytest.param(_documented("x: int, y: int", "x: X."), ["'y'", "no description"], id="undocumented"),
        pytest.param(
            _documented("x: set[int]", "x: X."), ["'x'", "unsupported", "'set[int]'"], id="unsupported"
        ),
        pytest.param(_documented("x: Foo", "x: X."), ["'x'", "'Foo'"], id="unknown-class"),
    ],
)
async def test_bad_source_is_422_naming_the_problem(
    client: httpx.AsyncClient, source: str, fragments: list[str]
) -> None:
    before = (await client.get("/v1/tools/count", params={"include_base_tools": True})).json()
    for method in ("POST", "PUT"):
        body = assert_error(await client.request(method, "/v1/tools/", json={"source_code": source}), 422)
        assert body["code"] == "invalid_value"
        for fragment in fragments:
            assert fragment in body["detail"]
    assert (await client.get("/v1/tools/count", params={"include_base_tools": True})).json() == before


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 422, "source_code"),
        ({"source_code": ""}, 422, "source_code"),
        ({"source_code": simple_tool("t"), "return_char_limit": 0}, 422, "return_char_limit"),
        ({"source_code": simple_tool("t"), "tags": "one"}, 422, "tags"),
        ({"source_code": simple_tool("t"), "pip_requirements": [{"version": "1"}]}, 422, "name"),
        ({"source_code": simple_tool("t"), "source_type": "typescript"}, 422, "Python tools only"),
        (
            {"source_code": simple_tool("t"), "json_schema": {"parameters": {"type": "array"}}},
            422,
            "'object'",
        ),
        ({"source_code": simple_tool("t"), "json_schema": {"name": "other"}}, 422, "'other'"),
        ({"source_code": simple_tool("t"), "name": "missing"}, 422, "'missing'"),
        ({"source_code": simple_tool("t"), "name": "bad name"}, 422, "not allowed"),
    ],
)
async def test_bad_create_requests(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, fragment: str
) -> None:
    assert fragment in assert_error(await client.post("/v1/tools/", json=body), status)["detail"]


async def test_unknown_tool_ids_are_404(client: httpx.AsyncClient) -> None:
    missing = "tool-00000000-0000-4000-8000-000000000001"
    assert_error(await client.get(f"/v1/tools/{missing}"), 404)
    assert_error(await client.patch(f"/v1/tools/{missing}", json={"tags": []}), 404)
    assert_error(await client.delete(f"/v1/tools/{missing}"), 404)
    assert_error(await client.get("/v1/tools/", params={"after": missing}), 404)


# --- built-ins ---------------------------------------------------------------------------------------


async def test_builtins_are_listed_but_cannot_be_changed(client: httpx.AsyncClient) -> None:
    builtins = (await client.get("/v1/tools/", params={"return_only_letta_tools": True, "limit": 100})).json()
    assert sorted(names(builtins)) == sorted(BUILTIN_TOOLS)
    send = next(t for t in builtins if t["name"] == "send_message")

    for response in (
        await client.patch(f"/v1/tools/{send['id']}", json={"description": "hijacked"}),
        await client.delete(f"/v1/tools/{send['id']}"),
        await client.put("/v1/tools/", json={"source_code": simple_tool("send_message", "Hijacked.")}),
    ):
        body = assert_error(response, 400)
        assert "built-in" in body["detail"] and "send_message" in body["detail"]
    assert_error(await client.post("/v1/tools/", json={"source_code": simple_tool("send_message")}), 409)
    assert (await client.get(f"/v1/tools/{send['id']}")).json() == send


# --- modify and delete -------------------------------------------------------------------------------


async def test_modify_fields(client: httpx.AsyncClient) -> None:
    tool = await make_tool(client, source_code=simple_tool("note_tool"), tags=["a"], metadata={"k": 1})
    changed = await client.patch(
        f"/v1/tools/{tool['id']}",
        json={
            "description": "Take a note.",
            "tags": ["b", "c"],
            "return_char_limit": 42,
            "default_requires_approval": True,
            "pip_requirements": [{"name": "rich"}],
            "metadata_": {"k": 2},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["description"] == body["json_schema"]["description"] == "Take a note."
    assert (body["tags"], body["return_char_limit"], body["default_requires_approval"]) == (
        ["b", "c"],
        42,
        True,
    )
    assert body["pip_requirements"] == [{"name": "rich"}]
    assert body["metadata_"] == {"k": 2}
    assert body["source_code"] == tool["source_code"]
    assert body["json_schema"]["parameters"] == tool["json_schema"]["parameters"]
    assert (await client.get(f"/v1/tools/{tool['id']}")).json() == body


async def test_modify_source_regenerates_and_renames(client: httpx.AsyncClient) -> None:
    tool = await make_tool(client, source_code=simple_tool("old_name"))
    other = await make_tool(client, source_code=simple_tool("taken_name"))
    new_source = _documented("count: int", "count: How many.").replace("def f", "def new_name")
    changed = (await client.patch(f"/v1/tools/{tool['id']}", json={"source_code": new_source})).json()
    assert changed["name"] == changed["json_schema"]["name"] == "new_name"
    assert changed["json_schema"]["parameters"]["required"] == ["count"]
    assert changed["source_code"] == new_source

    conflict = assert_error(
        await client.patch(f"/v1/tools/{tool['id']}", json={"source_code": simple_tool("taken_name")}), 409
    )
    assert other["id"] in conflict["detail"]
    bad = assert_error(await client.patch(f"/v1/tools/{tool['id']}", json={"source_code": "def x(:"}), 422)
    assert "does not parse" in bad["detail"]
    assert (await client.get(f"/v1/tools/{tool['id']}")).json() == changed


async def test_delete_detaches_from_agents(client: httpx.AsyncClient) -> None:
    tool = await make_tool(client, source_code=simple_tool("gone_tool"))
    agent = await create_agent(client, include_base_tools=False, tools=["send_message", "gone_tool"])
    assert "gone_tool" in names(agent["tools"])
    deleted = await client.delete(f"/v1/tools/{tool['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": tool["id"], "deleted": True}
    assert_error(await client.get(f"/v1/tools/{tool['id']}"), 404)
    assert names((await client.get(f"/v1/agents/{agent['id']}")).json()["tools"]) == ["send_message"]


# --- list, count, search -----------------------------------------------------------------------------


async def test_list_filters(client: httpx.AsyncClient) -> None:
    a = await make_tool(client, source_code=simple_tool("fetch_page"))
    b = await make_tool(client, source_code=simple_tool("fetch_feed"))
    c = await make_tool(client, source_code=simple_tool("parse_page"))
    custom = {"tool_types": "custom"}

    async def listed(**params: Any) -> list[str]:
        response = await client.get("/v1/tools/", params=params)
        assert response.status_code == 200, response.text
        return names(response.json())

    assert await listed(name="fetch_page") == ["fetch_page"]
    assert await listed(names=["fetch_page", "parse_page"], order="asc") == ["fetch_page", "parse_page"]
    assert await listed(names="fetch_page,parse_page", order="asc") == ["fetch_page", "parse_page"]
    assert await listed(tool_ids=[b["id"], c["id"]], order="asc") == ["fetch_feed", "parse_page"]
    assert await listed(search="PAGE", order="asc") == ["fetch_page", "parse_page"]
    assert await listed(search="_p", order="asc") == ["fetch_page", "parse_page"]  # `_` is literal
    assert await listed(search="%") == []
    assert await listed(**custom) == ["parse_page", "fetch_feed", "fetch_page"]  # newest first by default
    assert await listed(**custom, order="asc") == ["fetch_page", "fetch_feed", "parse_page"]
    assert await listed(**custom, order="asc", limit=2) == ["fetch_page", "fetch_feed"]
    assert await listed(**custom, order="asc", after=a["id"]) == ["fetch_feed", "parse_page"]
    assert await listed(**custom, order="asc", before=c["id"]) == ["fetch_page", "fetch_feed"]
    assert await listed(**custom, order="desc", after=c["id"], limit=1) == ["fetch_feed"]
    builtin_types = sorted({t.tool_type for t in BUILTIN_TOOLS.values()})
    assert set(await listed(exclude_tool_types=builtin_types)) == {"fetch_page", "fetch_feed", "parse_page"}
    assert set(await listed(tool_types=",".join(builtin_types), limit=100)) == set(BUILTIN_TOOLS)
    assert set(await listed(return_only_letta_tools=True, limit=100)) == set(BUILTIN_TOOLS)
    assert_error(await client.get("/v1/tools/", params={"order": "sideways"}), 422)
    assert_error(await client.get("/v1/tools/", params={"limit": 0}), 422)
    assert_error(await client.get("/v1/tools/", params={"order_by": "name"}), 422)


async def test_count(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tools/count")).json() == 0
    assert (await client.get("/v1/tools/count", params={"include_base_tools": True})).json() == len(
        BUILTIN_TOOLS
    )
    await make_tool(client, source_code=simple_tool("counted_tool"))
    assert (await client.get("/v1/tools/count")).json() == 1
    assert (await client.get("/v1/tools/count", params={"include_base_tools": True})).json() == len(
        BUILTIN_TOOLS
    ) + 1


async def test_search_ranks_by_name_description_and_tags(client: httpx.AsyncClient) -> None:
    await make_tool(client, source_code=WEATHER, tags=["forecast"])
    await make_tool(client, source_code=simple_tool("convert_currency", "Convert money between currencies."))
    await make_tool(client, source_code=simple_tool("translate_text", "Translate text."), tags=["language"])

    async def search(**body: Any) -> list[dict[str, Any]]:
        response = await client.post("/v1/tools/search", json=body)
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()
        return results

    for mode in ("hybrid", "fts", "vector"):
        results = await search(query="weather forecast", search_mode=mode, tool_types=["custom"])
        assert results[0]["tool"]["name"] == "get_weather", mode
        assert results[0]["combined_score"] > 0
        assert "weather" in results[0]["embedded_text"]
    hybrid = (await search(query="weather forecast"))[0]
    assert hybrid["fts_rank"] == 1 and hybrid["vector_rank"] == 1
    assert names([r["tool"] for r in await search(query="currencies", search_mode="fts")]) == [
        "convert_currency"
    ]
    assert names([r["tool"] for r in await search(query="text", tags=["language"])]) == ["translate_text"]
    everything = await search(tool_types=["custom"], limit=2)
    assert len(everything) == 2 and all(r["combined_score"] == 0 for r in everything)
    assert_error(await client.post("/v1/tools/search", json={"search_mode": "magic"}), 422)
    assert_error(await client.post("/v1/tools/search", json={"limit": 0}), 422)
