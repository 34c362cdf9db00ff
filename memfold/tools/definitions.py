"""A user's tool as it is stored: API requests -> `tools` row values, with the schema generated
from the source (never executed) or checked when given.

Rules (also in docs/architecture.md, "Custom tools"):

- Only Python source is accepted (`source_type` "python"); nothing else could run.
- The schema comes from the source's last top-level function, or the function `name` names;
  an explicit `json_schema` is used instead (its `name`, when given, picks the function), and
  `args_json_schema` replaces only the generated parameters. Either way the tool's name is the
  name of a function the source defines, so the stored tool can be run.
- A `description` in the request is the tool's description and, unless `json_schema` is given,
  the description the model sees; without one, the docstring's description is used.
- Built-in tools (`letta_*` types) belong to the server: they cannot be changed, replaced or
  deleted through the API. Tools of other types (an MCP server's, `external_mcp`) belong to their
  source: they cannot be replaced, and a modify may change only `OPEN_FIELDS` (their source,
  schema and metadata link them to the server).
"""

from __future__ import annotations

from typing import Any

from memfold.errors import BadRequestError, InvalidValueError
from memfold.schemas.tools import CreateTool, PipRequirement, Tool, UpdateTool
from memfold.tools.schema import (
    check_json_schema,
    check_parameters,
    check_tool_name,
    describe_function,
    generate_tool_schema,
)

__all__ = ["check_changeable", "created_tool_values", "updated_tool_values"]

SOURCE_TYPES = frozenset({"python"})


OPEN_FIELDS = frozenset({"description", "tags", "return_char_limit", "default_requires_approval"})
"""What a modify may change on a tool that is neither built-in nor custom (e.g. an MCP server's)."""


def check_changeable(tool: Tool, action: str, fields: set[str] | None = None) -> None:
    """Raise `BadRequestError` when `tool` may not be `action`-ed ("modified", "replaced", "deleted"):
    a built-in never; another non-custom tool only deleted, or modified in `OPEN_FIELDS` alone."""
    if tool.is_builtin:
        raise BadRequestError(
            f"tool {tool.name!r} ({tool.id}) is a built-in tool ({tool.tool_type}); built-in tools "
            f"cannot be {action}. Create a custom tool with another name instead."
        )
    if tool.tool_type == "custom" or action == "deleted":
        return
    what = f"tool {tool.name!r} ({tool.id}) is a {tool.tool_type} tool"
    if action != "modified":
        raise BadRequestError(f"{what}: it cannot be {action} by a custom tool; choose another name")
    closed = sorted((fields or set()) - OPEN_FIELDS)
    if closed:
        raise BadRequestError(
            f"{what}: {', '.join(closed)} cannot be changed here; only "
            f"{', '.join(sorted(OPEN_FIELDS))} may change"
        )


def created_tool_values(body: CreateTool) -> dict[str, Any]:
    """The row values of a custom tool made from a create (or upsert) request."""
    _check_source_type(body.source_type)
    if body.name is not None:
        check_tool_name(body.name)
    schema = tool_schema(
        body.source_code,
        name=body.name,
        description=body.description,
        json_schema=body.json_schema,
        args_json_schema=body.args_json_schema,
    )
    return {
        "name": schema["name"],
        "description": body.description or schema.get("description") or None,
        "tool_type": "custom",
        "source_type": body.source_type,
        "source_code": body.source_code,
        "json_schema": schema,
        "tags": body.tags or [],
        "return_char_limit": body.return_char_limit,
        "pip_requirements": _requirements(body.pip_requirements),
        "default_requires_approval": body.default_requires_approval,
        "metadata": body.metadata,
    }


def updated_tool_values(tool: Tool, body: UpdateTool) -> dict[str, Any]:
    """The changed row values of a custom tool for a modify request (only the fields sent change)."""
    sent = body.model_fields_set
    check_changeable(tool, "modified", set(sent))
    values: dict[str, Any] = {}
    if body.source_type is not None:
        values["source_type"] = _check_source_type(body.source_type)
    new_source = body.source_code is not None
    if new_source or body.json_schema is not None or body.args_json_schema is not None:
        source = body.source_code if body.source_code is not None else tool.source_code or ""
        # New source: the schema comes from it as on create (its last function). Same source: the tool
        # keeps its function unless the new json_schema names another.
        keep_name = not new_source and not (body.json_schema and "name" in body.json_schema)
        schema = tool_schema(
            source,
            name=tool.name if keep_name else None,
            description=body.description,
            json_schema=body.json_schema,
            args_json_schema=body.args_json_schema,
        )
        values.update(
            source_code=source,
            name=schema["name"],
            json_schema=schema,
            description=body.description or schema.get("description") or None,
        )
    elif body.description is not None:
        values["description"] = body.description
        values["json_schema"] = {**tool.json_schema, "description": body.description}
    if "tags" in sent:
        values["tags"] = body.tags or []
    if body.return_char_limit is not None:
        values["return_char_limit"] = body.return_char_limit
    if "pip_requirements" in sent:
        values["pip_requirements"] = _requirements(body.pip_requirements)
    if "default_requires_approval" in sent:
        values["default_requires_approval"] = body.default_requires_approval
    if "metadata" in sent:
        values["metadata"] = body.metadata
    return values


def tool_schema(
    source_code: str,
    *,
    name: str | None,
    description: str | None,
    json_schema: dict[str, Any] | None,
    args_json_schema: dict[str, Any] | None,
) -> dict[str, Any]:
    """The function schema the model will see, named after a function of the source."""
    if json_schema is not None:
        schema = check_json_schema(json_schema)
        given = schema.get("name")
        if name is not None and given is not None and given != name:
            raise InvalidValueError(f"json_schema.name {given!r} differs from the tool name {name!r}")
        function = describe_function(source_code, name=given or name)
        schema["name"] = function.name
        if not schema.get("description"):
            schema["description"] = description or function.description
        if args_json_schema is not None:
            schema["parameters"] = check_parameters(args_json_schema, "args_json_schema")
    elif args_json_schema is not None:
        function = describe_function(source_code, name=name)
        schema = {
            "name": function.name,
            "description": function.description,
            "parameters": check_parameters(args_json_schema, "args_json_schema"),
        }
    else:
        schema = generate_tool_schema(source_code, name=name)
    if description and json_schema is None:
        schema["description"] = description
    check_tool_name(schema["name"])
    return schema


def _check_source_type(source_type: str) -> str:
    if source_type not in SOURCE_TYPES:
        raise InvalidValueError(
            f"source_type {source_type!r} is not supported: memfold runs Python tools only "
            "(source_type 'python')"
        )
    return source_type


def _requirements(requirements: list[PipRequirement] | None) -> list[dict[str, Any]] | None:
    if requirements is None:
        return None
    return [r.model_dump(exclude_none=True) for r in requirements]
