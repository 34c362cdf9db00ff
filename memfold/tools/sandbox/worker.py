"""The sandbox's child process: runs ONE tool call (or one pip install) and exits.

It is never imported by the server. Its source is handed to the interpreter with `python -I -c`, so it
needs no file the sandbox user can read, and it uses the standard library only (it also runs on
interpreters that have nothing else). The server starts it with one argument, a JSON object:

    {"mode": "tool" | "pip", "limits": {...}, "result_fd": int, "source_fd": int | null,
     "ready_fd": int | null, "site": str | null, "pip_path": str, "pip_args": [...]}

Before it touches anything the user wrote, it lowers its resource limits (soft = hard, so they cannot be
raised again) and asks to be killed when its parent dies. In "tool" mode it then blocks on stdin, which
is how a warm worker waits, for one JSON request:

    {"source": str, "name": str, "arguments": {...}, "env": {...}, "agent_id": str | null,
     "max_chars": int}

and writes one line of JSON to the pipe `result_fd`: `{"ok": true, "content": str}` or
`{"ok": false, "error": {"type": str, "message": str, "traceback": str}}`. The tool's own stdout and
stderr are the process's fds 1 and 2 (files the server reads afterwards). It exits with `os._exit`,
so threads the tool left behind cannot keep it alive.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import enum
import inspect
import json
import linecache
import os
import resource
import sys
import traceback
import types
import typing
from typing import Any

PR_SET_PDEATHSIG = 1
SIGKILL = 9
TOOL_FILE = "<tool>"
MAX_TRACEBACK = 2000


class AgentStateView:
    """What a tool's `agent_state` parameter receives: the calling agent's id, read-only.

    A Letta tool that edits `agent_state.memory` cannot work here: the sandbox holds no server state."""

    __slots__ = ("_id",)

    def __init__(self, agent_id: str | None) -> None:
        object.__setattr__(self, "_id", agent_id)

    @property
    def id(self) -> str | None:
        return typing.cast("str | None", object.__getattribute__(self, "_id"))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("agent_state is read-only in the sandbox")

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"agent_state has only 'id' in the sandbox (no {name!r})")

    def model_dump(self) -> dict[str, Any]:
        return {"id": self.id}

    def __repr__(self) -> str:
        return f"AgentStateView(id={self.id!r})"


def apply_limits(limits: dict[str, int]) -> None:
    """Lower this process's limits; soft = hard, so the tool cannot raise them again."""
    mb = 1024 * 1024
    wanted = {
        resource.RLIMIT_CPU: limits.get("cpu_seconds"),
        resource.RLIMIT_AS: (limits["memory_mb"] * mb) if limits.get("memory_mb") else None,
        resource.RLIMIT_NPROC: limits.get("max_processes"),
        resource.RLIMIT_FSIZE: (limits["max_file_mb"] * mb) if limits.get("max_file_mb") else None,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in wanted.items():
        if value is None:
            continue
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the kill at the time limit still applies
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)


def pick_function(source: str, tree: ast.Module, namespace: dict[str, Any], name: str) -> Any:
    """The function named like the tool if the source defines one at top level, else the last one."""
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not names:
        raise LookupError("the tool's source defines no top-level function")
    chosen = name if name in names else names[-1]
    function = namespace.get(chosen)
    if not callable(function):
        raise LookupError(f"{chosen!r} is not a function after the source ran")
    return function


def check_arguments(parameters: Any, arguments: dict[str, Any]) -> str:
    """What is wrong with calling a function of these parameters with these keyword arguments ('' if fine)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    required = [n for n, p in parameters.items() if p.default is p.empty and p.kind in named]
    missing = [name for name in required if name not in arguments]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unexpected = [] if open_ended else [a for a in arguments if a not in parameters]
    problems = []
    for label, names in (("missing required argument", missing), ("unexpected argument", unexpected)):
        if names:
            plural = "s" if len(names) > 1 else ""
            problems.append(f"{label}{plural} " + ", ".join(repr(n) for n in names))
    return "; ".join(problems)


def convert_arguments(function: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON values into the Enum and pydantic-model parameters the source declares (best effort)."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # annotations that do not evaluate: pass the JSON values as they are
        return arguments
    converted = dict(arguments)
    for key, value in arguments.items():
        hint = hints.get(key)
        members = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_args(hint) else []
        target = members[0] if len(members) == 1 else hint
        if not isinstance(target, type) or value is None:
            continue
        if issubclass(target, enum.Enum) and not isinstance(value, target):
            converted[key] = target(value)
        elif isinstance(value, dict) and callable(validate := getattr(target, "model_validate", None)):
            converted[key] = validate(value)
    return converted


def render(value: Any, max_chars: int) -> str:
    """The tool's return value as text: strings as they are, else JSON, else `str()`."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            try:
                text = str(value)
            except Exception as e:  # a __str__ that raises
                text = f"<unprintable {type(value).__name__}: {type(e).__name__}>"
    if len(text) > max_chars:
        text = text[:max_chars] + f"... [clipped in the sandbox: {len(text)} characters in all]"
    return text


def describe_exception(error: BaseException) -> dict[str, str]:
    """Type, message and the last frames of the traceback that are the tool's own (in its source)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if f.filename == TOOL_FILE]
    text = "".join(traceback.format_list(own[-8:])).rstrip()
    if len(text) > MAX_TRACEBACK:
        text = "..." + text[-MAX_TRACEBACK:]
    name = type(error).__qualname__
    module = type(error).__module__
    return {
        "type": name if module in ("builtins", "tool_module") else f"{module}.{name}",
        "message": str(error),
        "traceback": text,
    }


def call_tool(request: dict[str, Any]) -> dict[str, Any]:
    source = request["source"]
    os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    lines = source.splitlines(keepends=True)
    linecache.cache[TOOL_FILE] = (len(source), None, lines, TOOL_FILE)
    module = types.ModuleType("tool_module")
    module.__file__ = TOOL_FILE
    sys.modules["tool_module"] = module  # dataclasses and pydantic look their module up here
    try:
        tree = ast.parse(source, TOOL_FILE)
        exec(compile(tree, TOOL_FILE, "exec"), module.__dict__)
        function = pick_function(source, tree, module.__dict__, request.get("name") or "")
        arguments = dict(request.get("arguments") or {})
        parameters = inspect.signature(function).parameters
        if "agent_state" in parameters:
            arguments["agent_state"] = AgentStateView(request.get("agent_id"))
        problem = check_arguments(parameters, arguments)
        if problem:
            return {"ok": False, "error": {"type": "BadArguments", "message": problem, "traceback": ""}}
        try:
            arguments = convert_arguments(function, arguments)
        except (TypeError, ValueError) as e:
            return {"ok": False, "error": {"type": "BadArguments", "message": str(e), "traceback": ""}}
        value = function(**arguments)
        if inspect.isawaitable(value):
            import asyncio  # only for async tools: it costs a cold start ~20 ms

            value = asyncio.run(_await(value))
        return {"ok": True, "content": render(value, int(request.get("max_chars") or 100_000))}
    except BaseException as e:  # the tool's failure, whatever it is, goes back to the model
        return {"ok": False, "error": describe_exception(e)}


async def _await(value: Any) -> Any:
    return await value


def write_result(fd: int, answer: dict[str, Any]) -> None:
    """The answer as one line of JSON (JSON never holds a raw newline, so the line end marks the end)."""
    data = json.dumps(answer, ensure_ascii=False, default=str).encode("utf-8", "replace") + b"\n"
    with contextlib.suppress(OSError):  # the server stopped listening: nothing to tell it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


def run_pip(config: dict[str, Any]) -> int:
    sys.path.insert(0, config["pip_path"])
    from pip._internal.cli.main import main as pip_main

    return int(pip_main(list(config["pip_args"])) or 0)


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("source_fd") is not None:  # the sealed copy of this source; the tool does not need it
        os.close(int(config["source_fd"]))
    apply_limits(config.get("limits") or {})
    die_with_parent()
    if config.get("mode") == "pip":
        os._exit(run_pip(config))
    if config.get("site"):
        import site

        site.addsitedir(config["site"])
    for stream in (sys.stdout, sys.stderr):  # a tool killed at its time limit keeps what it printed
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    if config.get("ready_fd") is not None:  # a warm worker: tell the pool it is waiting now
        os.write(int(config["ready_fd"]), b"1")
        os.close(int(config["ready_fd"]))
    raw = sys.stdin.buffer.read()
    if not raw.strip():  # the pool is shutting down
        os._exit(0)
    answer = call_tool(json.loads(raw))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    write_result(int(config["result_fd"]), answer)
    os._exit(0)


if __name__ == "__main__":
    main()
