"""A tool's OpenAI-style function schema, read from its Python source without running it.

Only `ast` is used: the user's code is parsed, never imported, compiled or executed.
The schema comes from one top-level function (the last one, unless `name` picks another):

- `name` is the function's name; `description` is the docstring text before its first section;
- each parameter's description comes from the Google-style `Args:` section, its type from its annotation;
- a parameter is required exactly when it has no default; a literal default other than None (or a
  member of an enum defined in the source, shown as its value) is shown as `"default"`.

Decisions:

- Parameters named in `INJECTED_PARAMETERS` (`self`, `agent_state`) are supplied by the server, never by
  the model: they are left out of the schema and need neither an annotation nor a description.
- `Optional[X]` and `X | None` are rendered as X's schema; `None` is not advertised to the model.
  Whether the parameter is required still depends only on its default, so `x: int | None` with no default
  is required (calling the function without it would fail).
- `Union[A, B]` becomes `{"anyOf": [A, B]}` (any `None` member is dropped, as above).
- Enums (`class Color(str, Enum)`) and pydantic models (`class Point(BaseModel)`) must be defined in the
  same source. Enum member values must be literals; the JSON type follows the values. Any other class,
  and any other annotation (`Any`, `set`, imported classes), is rejected with the annotation named.
- A schema given explicitly (`check_json_schema`) is checked for shape, not generated; its name must be
  a function of the source (`describe_function`), so the stored tool can still be run.
- Tool names follow the providers' rule for function names: letters, digits, `_` and `-`, at most 64.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memfold.errors import InvalidValueError
from memfold.tools._annotations import NO_DEFAULT, TypeSchemas, with_details
from memfold.tools._docstring import parse_docstring

__all__ = [
    "INJECTED_PARAMETERS",
    "FunctionSummary",
    "check_json_schema",
    "check_tool_name",
    "describe_function",
    "generate_tool_schema",
    "schema_from_function",
]

INJECTED_PARAMETERS = frozenset({"self", "agent_state"})

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class FunctionSummary:
    name: str
    description: str
    """The docstring's description; empty when the function has no docstring."""


def generate_tool_schema(source_code: str, *, name: str | None = None) -> dict[str, Any]:
    """Return `{"name", "description", "parameters"}` for the last (or the `name`d) function in the source."""
    module = _parse(source_code)
    function = _select_function(module, name)
    try:
        return _function_schema(function, TypeSchemas(module))
    except RecursionError:
        raise InvalidValueError(
            f"function {function.name!r}: type annotations are nested too deeply"
        ) from None


def schema_from_function(fn: Callable[..., Any]) -> dict[str, Any]:
    """Schema of a built-in tool, read from its source exactly as a user's tool would be."""
    fn = inspect.unwrap(fn)
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        raise InvalidValueError(f"cannot read the source of {fn!r}: {e}") from e
    return generate_tool_schema(source, name=fn.__name__)


def describe_function(source_code: str, *, name: str | None = None) -> FunctionSummary:
    """The last (or the `name`d) top-level function's name and description, with no other demand on
    it (no docstring or annotations needed): for tools whose schema is given, not generated."""
    function = _select_function(_parse(source_code), name)
    docstring = ast.get_docstring(function)
    return FunctionSummary(function.name, parse_docstring(docstring)[0] if docstring else "")


def check_tool_name(name: str) -> str:
    if not _TOOL_NAME.match(name):
        raise InvalidValueError(
            f"tool name {name!r} is not allowed: use 1 to 64 letters, digits, '_' or '-' "
            "(the rule providers apply to function names)"
        )
    return name


def check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An explicitly given function schema, checked and normalised to `{"name"?, "description"?,
    "parameters"}`. The OpenAI wrapper `{"type": "function", "function": {...}}` is unwrapped."""
    if schema.get("type") == "function" and isinstance(schema.get("function"), dict):
        schema = schema["function"]
    result = dict(schema)
    if "name" in result and not isinstance(result["name"], str):
        raise InvalidValueError("json_schema.name must be a string")
    if "name" in result:
        check_tool_name(result["name"])
    if result.get("description") is not None and not isinstance(result["description"], str):
        raise InvalidValueError("json_schema.description must be a string")
    parameters = result.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}, "required": []}
    if not isinstance(parameters, dict):
        raise InvalidValueError("json_schema.parameters must be a JSON schema object")
    result["parameters"] = check_parameters(parameters, "json_schema.parameters")
    return result


def check_parameters(parameters: dict[str, Any], where: str) -> dict[str, Any]:
    """A parameters schema: an object schema whose `properties` are schemas and whose `required`
    names some of them."""
    if parameters.get("type", "object") != "object":
        raise InvalidValueError(f"{where}.type must be 'object'")
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict) or not all(isinstance(p, dict) for p in properties.values()):
        raise InvalidValueError(f"{where}.properties must map each parameter name to a JSON schema")
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise InvalidValueError(f"{where}.required must be a list of parameter names")
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise InvalidValueError(f"{where}.required names parameters that are not in properties: {unknown}")
    return {**parameters, "type": "object", "properties": properties, "required": required}


def _parse(source_code: str) -> ast.Module:
    try:
        return ast.parse(source_code)
    except SyntaxError as e:
        raise InvalidValueError(f"tool source does not parse: {e.msg} (line {e.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise InvalidValueError(f"tool source does not parse: {e}") from None


def _select_function(module: ast.Module, name: str | None) -> _FunctionNode:
    functions = [node for node in module.body if isinstance(node, _FunctionNode)]
    if not functions:
        raise InvalidValueError("tool source defines no top-level function")
    if name is None:
        return functions[-1]
    for function in reversed(functions):
        if function.name == name:
            return function
    found = ", ".join(repr(f.name) for f in functions)
    raise InvalidValueError(f"tool source has no top-level function named {name!r} (found: {found})")


def _function_schema(function: _FunctionNode, types: TypeSchemas) -> dict[str, Any]:
    where = f"function {function.name!r}"
    docstring = ast.get_docstring(function)
    if not docstring:
        raise InvalidValueError(
            f"{where} (line {function.lineno}) has no docstring; it is the tool's description"
        )
    description, arg_docs = parse_docstring(docstring)
    if not description:
        raise InvalidValueError(f"{where}: the docstring has no description before its sections")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg, default in _parameters(function, where):
        if arg.arg in INJECTED_PARAMETERS:
            continue
        arg_where = f"{where}, parameter {arg.arg!r} (line {arg.lineno})"
        if arg.annotation is None:
            raise InvalidValueError(f"{arg_where} has no type annotation")
        if not arg_docs.get(arg.arg):
            raise InvalidValueError(f"{arg_where} has no description in the docstring's Args: section")
        schema = types.schema(arg.annotation, arg_where)
        value = types.default(default) if default is not None else NO_DEFAULT
        properties[arg.arg] = with_details(schema, arg_docs[arg.arg], value)
        if default is None:
            required.append(arg.arg)
    return {
        "name": function.name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def _parameters(function: _FunctionNode, where: str) -> list[tuple[ast.arg, ast.expr | None]]:
    """Each parameter with its default node (None when it has no default)."""
    args = function.args
    if args.vararg is not None:
        raise InvalidValueError(f"{where}: *{args.vararg.arg} is not supported; declare each parameter")
    if args.kwarg is not None:
        raise InvalidValueError(f"{where}: **{args.kwarg.arg} is not supported; declare each parameter")
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults.extend(args.defaults)
    return [*zip(positional, defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
