"""What comes back from a sandboxed call: the value as text, captured output, errors the model can act on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from memfold.llm.base import ToolCall
from memfold.memory.core import CoreMemory
from memfold.schemas.tools import Tool
from memfold.tools.builtin import ToolContext
from memfold.tools.executor import execute
from memfold.tools.runtime import ToolRuntime
from memfold.tools.sandbox import SandboxResult, ToolSandbox
from tests.tools.sandbox.conftest import SandboxFactory, tool


@pytest.fixture
def box(make_sandbox: SandboxFactory) -> ToolSandbox:
    return make_sandbox("auto")


async def call(box: ToolSandbox, custom: Tool, **arguments: Any) -> SandboxResult:
    return await box.run(custom, arguments, env={}, agent_id="agent-42")


async def test_output_is_captured_and_returned_through_the_executor(settings: Any) -> None:
    source = (
        "import sys\n"
        "def shout(word: str) -> str:\n"
        "    print('to stdout', word)\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    return word.upper()\n"
    )
    custom = tool(source, name="shout")
    runtime = ToolRuntime(settings)
    try:
        ctx = ToolContext(agent_id="agent-1", memory=CoreMemory([]), runtime=runtime)
        arguments = json.dumps({"word": "hey", "request_heartbeat": True})
        result = await execute(ToolCall(id="c", name="shout", arguments=arguments), {"shout": custom}, ctx)
    finally:
        await runtime.close()
    assert result.ok and result.content == "HEY"
    assert result.stdout == ["to stdout hey\n"] and result.stderr == ["to stderr\n"]
    assert result.heartbeat and result.arguments == {"word": "hey"}


async def test_an_exception_becomes_an_error_with_type_message_and_the_tools_frames(box: ToolSandbox) -> None:
    source = "def helper(x):\n    raise ValueError(f'bad value {x}')\ndef f(x: int):\n    return helper(x)\n"
    result = await call(box, tool(source), x=7)
    assert not result.ok
    first, *rest = result.content.splitlines()
    assert first == "Error: ValueError: bad value 7"
    assert any("line 2, in helper" in line for line in rest)
    assert "memfold" not in result.content  # the worker's own frames are not shown


async def test_a_value_json_cannot_carry_comes_back_as_its_str(box: ToolSandbox) -> None:
    source = "class Thing:\n    def __str__(self):\n        return 'a thing'\ndef f():\n    return Thing()\n"
    assert (await call(box, tool(source))).content == "a thing"
    assert (await call(box, tool("def f():\n    return {'a': [1, 2.5, None]}\n"))).content == (
        '{"a": [1, 2.5, null]}'
    )
    assert (await call(box, tool("def f():\n    return 'plain'\n"))).content == "plain"


async def test_bad_arguments_are_named(box: ToolSandbox) -> None:
    result = await call(box, tool("def f(city: str, days: int = 1):\n    return city\n"), town="Paris")
    assert not result.ok
    assert result.content == (
        "Error: bad arguments for tool 'f': missing required argument 'city'; unexpected argument 'town'"
    )


async def test_the_function_is_the_one_named_like_the_tool_else_the_last(box: ToolSandbox) -> None:
    source = "def weather():\n    return 'weather'\n\ndef helper():\n    return 'helper'\n"
    assert (await call(box, tool(source, name="weather"))).content == "weather"
    assert (await call(box, tool(source, name="renamed"))).content == "helper"
    result = await call(box, tool("x = 1\n"))
    assert not result.ok and "defines no top-level function" in result.content


async def test_agent_state_is_a_read_only_view_with_the_agent_id(box: ToolSandbox) -> None:
    source = (
        "def f(agent_state, key: str) -> str:\n"
        "    try:\n"
        "        agent_state.memory = 1\n"
        "    except AttributeError as e:\n"
        "        return f'{agent_state.id} {key} {e}'\n"
    )
    result = await call(box, tool(source), key="k")
    assert result.content == "agent-42 k agent_state is read-only in the sandbox"


async def test_enums_models_and_async_functions(box: ToolSandbox) -> None:
    # `Place` stands for a pydantic model (the interpreter may not have pydantic): what counts is
    # `model_validate`, which turns the JSON object into the declared type.
    source = (
        "import asyncio, enum\n"
        "from typing import Optional\n"
        "class Unit(str, enum.Enum):\n"
        "    C = 'celsius'\n"
        "class Place:\n"
        "    def __init__(self, city):\n"
        "        self.city = city\n"
        "    @classmethod\n"
        "    def model_validate(cls, data):\n"
        "        return cls(**data)\n"
        "async def f(unit: Unit, place: Optional[Place] = None) -> str:\n"
        "    await asyncio.sleep(0)\n"
        "    return f'{unit.name} {place.city}'\n"
    )
    result = await call(box, tool(source), unit="celsius", place={"city": "Oslo"})
    assert result.content == "C Oslo", result.content
    result = await call(box, tool(source), unit="kelvin", place={"city": "Oslo"})
    assert not result.ok and "'kelvin' is not a valid Unit" in result.content


async def test_output_printed_before_a_timeout_is_kept(box: ToolSandbox) -> None:
    source = "import time\ndef f():\n    print('started')\n    time.sleep(60)\n"
    result = await call(box, tool(source))
    assert not result.ok and "did not finish" in result.content
    assert result.stdout == ["started\n"]


async def test_huge_output_and_files_are_bounded(box: ToolSandbox) -> None:
    source = "def f():\n    print('x' * 1_000_000)\n    open('big', 'wb').write(b'y' * 20_000_000)\n"
    result = await call(box, tool(source))
    assert not result.ok and "File too large" in result.content
    assert len(result.stdout[0]) < 70_000 and "more bytes not kept" in result.stdout[0]


async def test_a_syntax_error_is_reported(box: ToolSandbox) -> None:
    result = await call(box, tool("def f(:\n    pass\n"))
    assert not result.ok and result.content.startswith("Error: SyntaxError")


async def test_each_call_gets_a_fresh_process_and_directory(box: ToolSandbox) -> None:
    source = (
        "import os\n"
        "def f() -> str:\n"
        "    before = sorted(os.listdir('.'))\n"
        "    open('left-behind', 'w').write('x')\n"
        "    return f'{os.getpid()} {os.getcwd()} {before}'\n"
    )
    first = (await call(box, tool(source))).content.split(" ", 2)
    second = (await call(box, tool(source))).content.split(" ", 2)
    assert first[2] == second[2] == "[]"
    assert first[1] != second[1]


async def test_tools_that_are_not_python_source_are_refused(settings: Any) -> None:
    runtime = ToolRuntime(settings)
    try:
        ctx = ToolContext(agent_id="agent-1", memory=CoreMemory([]), runtime=runtime)
        other = Tool(id="tool-x", name="other", tool_type="letta_builtin", source_code=None)
        result = await execute(ToolCall(id="c", name="other", arguments="{}"), {"other": other}, ctx)
        assert not result.ok and "cannot run on this server" in result.content
        no_runtime = ToolContext(agent_id="agent-1", memory=CoreMemory([]))
        custom = tool("def f():\n    return 1\n")
        result = await execute(ToolCall(id="c", name="f", arguments="{}"), {"f": custom}, no_runtime)
        assert not result.ok and "needs the sandbox" in result.content
    finally:
        await runtime.close()
