"""Runs one tool call of the model and turns every failure into a result the model can read.

The agent's step never sees an exception from here: invalid JSON, an unknown tool, missing
or mistyped arguments, a tool's own `ToolError` and any other `MemfoldError` it raises (a
provider that failed to embed, a bad date) all become `ToolResult(ok=False, ...)`.

Custom tools (Python source, `tool_type="custom"`) run in `ctx.runtime.sandbox`, a separate
process; their captured stdout/stderr come back in `ToolResult.stdout`/`stderr`.

A built-in may be `async def` (the external-memory tools await embeddings and run their
database work in worker threads); `execute` awaits it.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, ValidationError, validate_call

from memfold.errors import MemfoldError, ToolError
from memfold.llm.base import ToolCall
from memfold.schemas.tools import Tool
from memfold.tools.builtin import BUILTIN_TOOLS, ToolContext
from memfold.tools.mcp import call_mcp_tool

HEARTBEAT_PARAM = "request_heartbeat"
THINKING_PARAM = "thinking"

_VALIDATED = {
    name: validate_call(config=ConfigDict(arbitrary_types_allowed=True))(tool.function)
    for name, tool in BUILTIN_TOOLS.items()
}


@dataclass
class ToolResult:
    ok: bool
    content: str
    arguments: dict[str, Any] = field(default_factory=dict)
    heartbeat: bool = False
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "success" if self.ok else "error"


def parse_arguments(raw: str) -> dict[str, Any]:
    """The model's JSON arguments as a dict; `ToolError` if they are not a JSON object."""
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        raise ToolError(
            f"the arguments are not valid JSON ({e.msg} at position {e.pos}); send a JSON object"
        ) from e
    if not isinstance(parsed, dict):
        raise ToolError("the arguments must be a JSON object")
    return parsed


async def execute(call: ToolCall, tools: dict[str, Tool], ctx: ToolContext) -> ToolResult:
    try:
        arguments = parse_arguments(call.arguments)
    except ToolError as e:
        return ToolResult(ok=False, content=f"Error: {e.message}")
    heartbeat = bool(arguments.pop(HEARTBEAT_PARAM, False))
    arguments.pop(THINKING_PARAM, None)  # the step's reasoning (agent/act.py), not the tool's business
    result = await _run(call.name, arguments, tools, ctx)
    result.arguments, result.heartbeat = arguments, heartbeat
    return result


async def _run(name: str, arguments: dict[str, Any], tools: dict[str, Tool], ctx: ToolContext) -> ToolResult:
    tool = tools.get(name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return ToolResult(
            ok=False, content=f"Error: there is no tool named {name!r}; the tools are: {available}"
        )
    if tool.tool_type == "external_mcp":
        ok, content = await call_mcp_tool(tool, arguments, ctx)
        return ToolResult(ok=ok, content=content)
    function = _VALIDATED.get(name)
    if function is None:
        return await _run_custom(tool, arguments, ctx)
    try:
        value = function(ctx, **arguments)
        if inspect.isawaitable(value):
            value = await value
        return ToolResult(ok=True, content=str(value))
    except ValidationError as e:
        return ToolResult(ok=False, content=f"Error: bad arguments for {name!r}: {_describe(e)}")
    except MemfoldError as e:
        return ToolResult(ok=False, content=f"Error: {e.message}")


async def _run_custom(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """A user's Python tool, in the sandbox: a separate process that sees only the agent's tool env."""
    if tool.tool_type != "custom" or not tool.source_code:
        return ToolResult(
            ok=False, content=f"Error: tool {tool.name!r} ({tool.tool_type}) cannot run on this server"
        )
    if ctx.runtime is None:
        return ToolResult(ok=False, content=f"Error: tool {tool.name!r} needs the sandbox; none is set up")
    done = await ctx.runtime.sandbox.run(tool, arguments, env=ctx.env, agent_id=ctx.agent_id)
    return ToolResult(ok=done.ok, content=done.content, stdout=done.stdout, stderr=done.stderr)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)
