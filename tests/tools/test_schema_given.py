"""Schemas given explicitly (`json_schema`, `args_json_schema`), tool names, and the stored
definition a create or modify request becomes (memfold.tools.definitions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memfold.errors import BadRequestError, InvalidValueError
from memfold.schemas.tools import CreateTool, Tool, UpdateTool
from memfold.tools.definitions import check_changeable, created_tool_values, tool_schema, updated_tool_values
from memfold.tools.schema import check_json_schema, check_tool_name, describe_function

SOURCE = '''
def helper(x):
    return x


def roll(sides: int = 6) -> int:
    """Roll a die.

    Args:
        sides: How many sides the die has.
    """
    import random
    return random.randint(1, sides)
'''

ROLL_PARAMETERS = {
    "type": "object",
    "properties": {"sides": {"type": "integer", "description": "How many sides the die has.", "default": 6}},
    "required": [],
}


def stored(values: dict[str, Any], **overrides: Any) -> Tool:
    now = datetime.now(UTC)
    return Tool.model_validate({"id": "tool-1", "created_at": now, "updated_at": now, **values, **overrides})


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roll", "get-weather_2", "x" * 64])
def test_allowed_tool_names(name: str) -> None:
    assert check_tool_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "dot.name", "café"])
def test_refused_tool_names(name: str) -> None:
    with pytest.raises(InvalidValueError, match="letters, digits"):
        check_tool_name(name)


def test_non_ascii_function_name_is_refused_with_the_rule() -> None:
    source = 'def café() -> None:\n    """Make coffee."""\n'
    with pytest.raises(InvalidValueError, match="'café' is not allowed"):
        created_tool_values(CreateTool(source_code=source))


# --- describe_function: for schemas that are given ----------------------------------------------


def test_describe_function_needs_no_docstring_or_annotations() -> None:
    summary = describe_function("def f(a, b):\n    return a\n")
    assert (summary.name, summary.description) == ("f", "")
    assert describe_function(SOURCE).description == "Roll a die."
    assert describe_function(SOURCE, name="helper").name == "helper"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [("x = 1\ndef f(:\n", "does not parse"), ("x = 1\n", "no top-level function")],
)
def test_describe_function_still_needs_a_function(source: str, fragment: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        describe_function(source)
    assert fragment in info.value.message
    assert "line 2" in info.value.message or "does not parse" not in fragment


# --- check_json_schema -------------------------------------------------------------------------------


def test_json_schema_is_normalised() -> None:
    assert check_json_schema({"name": "roll"}) == {
        "name": "roll",
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
    wrapped = {"type": "function", "function": {"name": "roll", "parameters": {"properties": {}}}}
    assert check_json_schema(wrapped)["parameters"] == {"type": "object", "properties": {}, "required": []}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"name": 3}, "json_schema.name must be a string"),
        ({"name": "two words"}, "not allowed"),
        ({"description": ["x"]}, "description must be a string"),
        ({"parameters": []}, "parameters must be a JSON schema object"),
        ({"parameters": {"type": "array"}}, "type must be 'object'"),
        ({"parameters": {"properties": {"a": 1}}}, "properties must map"),
        ({"parameters": {"properties": {}, "required": "a"}}, "required must be a list"),
        ({"parameters": {"properties": {"a": {}}, "required": ["b"]}}, "not in properties: ['b']"),
    ],
)
def test_bad_json_schemas_are_refused(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        check_json_schema(schema)
    assert fragment in info.value.message


# --- tool_schema: generated, given, or parameters only ---------------------------------------------


def test_generated_from_the_last_function() -> None:
    schema = tool_schema(SOURCE, name=None, description=None, json_schema=None, args_json_schema=None)
    assert schema == {"name": "roll", "description": "Roll a die.", "parameters": ROLL_PARAMETERS}


def test_request_description_is_what_the_model_sees() -> None:
    schema = tool_schema(SOURCE, name=None, description="Dice.", json_schema=None, args_json_schema=None)
    assert schema["description"] == "Dice."


def test_given_json_schema_overrides_generation_and_picks_the_function() -> None:
    # `helper` could not be generated (no docstring, no annotations): a given schema is taken as is.
    given = {
        "name": "helper",
        "description": "Echo.",
        "parameters": {"properties": {"x": {"type": "string"}}},
    }
    schema = tool_schema(SOURCE, name=None, description=None, json_schema=given, args_json_schema=None)
    assert schema == {
        "name": "helper",
        "description": "Echo.",
        "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": []},
    }


def test_given_json_schema_without_name_takes_the_last_function_and_its_docstring() -> None:
    schema = tool_schema(SOURCE, name=None, description=None, json_schema={}, args_json_schema=None)
    assert (schema["name"], schema["description"]) == ("roll", "Roll a die.")


def test_given_json_schema_must_name_a_function_of_the_source() -> None:
    with pytest.raises(InvalidValueError, match="no top-level function named 'other'"):
        tool_schema(SOURCE, name=None, description=None, json_schema={"name": "other"}, args_json_schema=None)
    with pytest.raises(InvalidValueError, match="differs from the tool name"):
        tool_schema(
            SOURCE, name="roll", description=None, json_schema={"name": "helper"}, args_json_schema=None
        )


def test_args_json_schema_replaces_only_the_parameters() -> None:
    args = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    schema = tool_schema(SOURCE, name=None, description=None, json_schema=None, args_json_schema=args)
    assert schema == {"name": "roll", "description": "Roll a die.", "parameters": args}


# --- created_tool_values / updated_tool_values -------------------------------------------------------


def test_created_values_store_every_field() -> None:
    body = CreateTool.model_validate(
        {
            "source_code": SOURCE,
            "tags": ["games"],
            "return_char_limit": 100,
            "pip_requirements": [{"name": "numpy", "version": "2.0"}, {"name": "rich"}],
            "default_requires_approval": True,
            "metadata_": {"team": "fun"},
        }
    )
    values = created_tool_values(body)
    assert values == {
        "name": "roll",
        "description": "Roll a die.",
        "tool_type": "custom",
        "source_type": "python",
        "source_code": SOURCE,
        "json_schema": {"name": "roll", "description": "Roll a die.", "parameters": ROLL_PARAMETERS},
        "tags": ["games"],
        "return_char_limit": 100,
        "pip_requirements": [{"name": "numpy", "version": "2.0"}, {"name": "rich"}],
        "default_requires_approval": True,
        "metadata": {"team": "fun"},
    }


def test_only_python_is_accepted() -> None:
    with pytest.raises(InvalidValueError, match="Python tools only"):
        created_tool_values(CreateTool(source_code=SOURCE, source_type="typescript"))


def test_update_changes_only_what_is_sent() -> None:
    tool = stored(created_tool_values(CreateTool(source_code=SOURCE, tags=["a"])))
    assert updated_tool_values(tool, UpdateTool.model_validate({"return_char_limit": 10})) == {
        "return_char_limit": 10
    }
    assert updated_tool_values(tool, UpdateTool.model_validate({"tags": None, "metadata_": {"k": 1}})) == {
        "tags": [],
        "metadata": {"k": 1},
    }
    described = updated_tool_values(tool, UpdateTool(description="Dice!"))
    assert described["description"] == "Dice!"
    assert described["json_schema"] == {**tool.json_schema, "description": "Dice!"}


def test_update_with_new_source_regenerates_name_and_schema() -> None:
    tool = stored(created_tool_values(CreateTool(source_code=SOURCE)))
    new_source = (
        'def flip(times: int) -> str:\n    """Flip a coin.\n\n    Args:\n        times: How often.\n    """\n'
    )
    values = updated_tool_values(tool, UpdateTool(source_code=new_source))
    assert values["name"] == "flip"
    assert values["source_code"] == new_source
    assert values["description"] == "Flip a coin."
    assert values["json_schema"]["parameters"]["required"] == ["times"]


def test_update_with_only_a_schema_keeps_the_function() -> None:
    # The tool was made from `helper` (not the last function): a new parameters schema keeps it.
    given = {"name": "helper", "parameters": {"properties": {}}}
    tool = stored(created_tool_values(CreateTool(source_code=SOURCE, json_schema=given)))
    assert tool.name == "helper"
    args = {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
    values = updated_tool_values(tool, UpdateTool(args_json_schema=args))
    assert values["name"] == "helper"
    assert values["json_schema"]["parameters"] == args


def test_update_errors_leave_nothing_half_done() -> None:
    tool = stored(created_tool_values(CreateTool(source_code=SOURCE)))
    with pytest.raises(InvalidValueError, match="no docstring"):
        updated_tool_values(tool, UpdateTool(source_code="def f(x: int):\n    return x\n"))


def test_builtins_cannot_be_modified() -> None:
    builtin = stored(
        created_tool_values(CreateTool(source_code=SOURCE)), name="send_message", tool_type="letta_core"
    )
    with pytest.raises(BadRequestError, match="built-in tool"):
        updated_tool_values(builtin, UpdateTool(description="mine now"))


def test_other_non_custom_tools_change_only_open_fields() -> None:
    mcp = stored(
        created_tool_values(CreateTool(source_code=SOURCE)),
        tool_type="external_mcp",
        metadata={"mcp": {"server_id": "mcp_server-1"}},
    )
    values = updated_tool_values(mcp, UpdateTool(default_requires_approval=True, tags=["x"]))
    assert values == {"default_requires_approval": True, "tags": ["x"]}
    for body in (UpdateTool(source_code=SOURCE), UpdateTool.model_validate({"metadata_": {}})):
        with pytest.raises(BadRequestError, match="external_mcp tool"):
            updated_tool_values(mcp, body)
    with pytest.raises(BadRequestError, match="cannot be replaced"):
        check_changeable(mcp, "replaced")
    check_changeable(mcp, "deleted")  # no error
