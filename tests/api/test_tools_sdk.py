"""Custom tools through the official `letta-client` SDK against a real `memfold serve` subprocess:
create from source, list (with auto-pagination), modify, upsert, search, attach, run, detach, delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from letta_client import BadRequestError, ConflictError, Letta, NotFoundError, UnprocessableEntityError

from tests.e2e.server_process import ServerProcess
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(90)

MODEL = "openai/gpt-4o-mini"


def source(name: str, summary: str) -> str:
    return f'''
from typing import Literal


def {name}(city: str, unit: Literal["C", "F"] = "C") -> str:
    """{summary}

    Args:
        city: The city.
        unit: Temperature unit.
    """
    return f"Sunny in {{city}}"
'''


@pytest.fixture
def server(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as process:
        yield process
        print("\n".join(process.output().splitlines()[-60:]))  # shown when the test fails


def test_custom_tool_lifecycle_through_the_sdk(server: ServerProcess, fake_openai: FakeOpenAIServer) -> None:
    client = Letta(base_url=server.base_url, max_retries=0, timeout=20.0)
    name = f"weather_{uuid.uuid4().hex[:8]}"

    # Create from source: the schema is generated from the signature and docstring.
    tool = client.tools.create(
        source_code=source(name, "Tell the weather."),
        tags=["weather"],
        return_char_limit=300,
        pip_requirements=[{"name": "requests"}],
    )
    assert tool.id.startswith("tool-") and tool.name == name
    assert tool.tool_type == "custom"
    assert tool.description == "Tell the weather."
    assert tool.json_schema == {
        "name": name,
        "description": "Tell the weather.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city."},
                "unit": {
                    "type": "string",
                    "enum": ["C", "F"],
                    "description": "Temperature unit.",
                    "default": "C",
                },
            },
            "required": ["city"],
        },
    }
    assert (tool.tags, tool.return_char_limit) == (["weather"], 300)
    assert [r.name for r in tool.pip_requirements or []] == ["requests"]
    assert client.tools.retrieve(tool.id).json_schema == tool.json_schema

    with pytest.raises(ConflictError):
        client.tools.create(source_code=source(name, "Again."))
    with pytest.raises(UnprocessableEntityError) as bad:
        client.tools.create(source_code="def broken(:\n")
    assert "does not parse" in str(bad.value.body)

    # List: filters, and the SDK's auto-pagination over `after` cursors.
    assert [t.id for t in client.tools.list(name=name).items] == [tool.id]
    assert [t.id for t in client.tools.list(search=name.upper()).items] == [tool.id]
    builtins = list(client.tools.list(return_only_letta_tools=True, limit=2))
    assert len(builtins) > 2 and all(t.tool_type and t.tool_type.startswith("letta_") for t in builtins)
    assert len({t.id for t in builtins}) == len(builtins)
    assert tool.id not in {t.id for t in builtins}

    # Modify, then upsert by name (same id), then search.
    updated = client.tools.update(tool.id, description="Report the weather.", metadata={"team": "ops"})
    assert updated.description == "Report the weather." and updated.metadata == {"team": "ops"}
    upserted = client.tools.upsert(source_code=source(name, "Forecast the weather."), tags=["forecast"])
    assert upserted.id == tool.id
    assert (upserted.description, upserted.tags) == ("Forecast the weather.", ["forecast"])
    [best, *_] = client.tools.search(query="weather forecast", tool_types=["custom"])
    assert best.tool.id == tool.id and best.combined_score > 0

    # Built-ins are protected.
    send = client.tools.list(name="send_message").items[0]
    with pytest.raises(BadRequestError):
        client.tools.update(send.id, description="mine")
    with pytest.raises(BadRequestError):
        client.tools.delete(send.id)

    # Attach to an agent: listed, offered to the model with its schema.
    agent = client.agents.create(
        model=MODEL,
        memory_blocks=[{"label": "human", "value": "Name: Ada"}],
        tools=["send_message", "core_memory_append"],
        include_base_tools=False,
    )
    state = client.agents.tools.attach(tool.id, agent_id=agent.id)
    assert state is not None and name in {t.name for t in state.tools}
    assert name in {t.name for t in client.agents.tools.list(agent.id)}
    fake_openai.queue_tool_call("send_message", thinking="Reply.", message="Hi!")
    client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "hi"}])
    offered = {t["function"]["name"]: t["function"] for t in fake_openai.last_chat_request["tools"]}
    assert offered[name]["description"] == "Forecast the weather."
    assert offered[name]["parameters"]["properties"]["city"]["type"] == "string"

    # Run a built-in directly: the memory edit is saved.
    result = client.agents.tools.run(
        "core_memory_append", agent_id=agent.id, args={"label": "human", "content": "Tea."}
    )
    assert result.status == "success"
    assert result.agent_state is not None
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada\nTea."
    with pytest.raises(NotFoundError):
        client.agents.tools.run("memory_rethink", agent_id=agent.id, args={})

    # Run the custom tool directly (in the sandbox).
    ran = client.agents.tools.run(name, agent_id=agent.id, args={"city": "Paris"})
    if not (ran.status == "error" and "needs the sandbox" in str(ran.func_return)):
        assert (ran.status, ran.func_return) == ("success", "Sunny in Paris")

    # Detach, delete.
    state = client.agents.tools.detach(tool.id, agent_id=agent.id)
    assert state is not None and name not in {t.name for t in state.tools}
    client.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        client.tools.retrieve(tool.id)
    assert client.tools.list(name=name).items == []
