import functools
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest

from memfold.errors import InvalidValueError
from memfold.tools.schema import INJECTED_PARAMETERS, generate_tool_schema, schema_from_function

PRELUDE = """
import enum
import typing
import typing as t
from enum import Enum, IntEnum
from typing import Annotated, Dict, List, Literal, Optional, Tuple, Union

import pydantic
from pydantic import BaseModel, Field
"""


def tool_source(annotation: str, classes: str = "") -> str:
    """A one-parameter tool `x: <annotation>`, with the given classes defined before it."""
    return (
        PRELUDE
        + textwrap.dedent(classes)
        + f'''
def tool(x: {annotation}) -> None:
    """Use x.

    Args:
        x: The value.
    """
'''
    )


def property_of(annotation: str, classes: str = "") -> dict[str, Any]:
    """The schema of `x`, without the description every test gives it."""
    prop: dict[str, Any] = generate_tool_schema(tool_source(annotation, classes))["parameters"]["properties"][
        "x"
    ]
    assert prop.pop("description") == "The value."
    return prop


# --- one test per supported type ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("str", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("list", {"type": "array"}),
        ("List[str]", {"type": "array", "items": {"type": "string"}}),
        ("list[int]", {"type": "array", "items": {"type": "integer"}}),
        ("dict", {"type": "object"}),
        ("Dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("dict[str, float]", {"type": "object", "additionalProperties": {"type": "number"}}),
        ("Optional[int]", {"type": "integer"}),
        ("int | None", {"type": "integer"}),
        ("None | str", {"type": "string"}),
        ("Union[int, str]", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        ("int | str", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        ("Union[int, None, str]", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            "Union[int, Union[str, bool]]",
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "boolean"}]},
        ),
        ('Literal["a", "b"]', {"type": "string", "enum": ["a", "b"]}),
        ("Literal[1, 2]", {"type": "integer", "enum": [1, 2]}),
        ("Literal[1.5]", {"type": "number", "enum": [1.5]}),
        ("Literal[True, False]", {"type": "boolean", "enum": [True, False]}),
        ('Literal["a", 1]', {"type": ["string", "integer"], "enum": ["a", 1]}),
        ("tuple", {"type": "array"}),
        ("tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
        (
            "Tuple[int, str]",
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        ('Annotated[int, Field(description="ignored: Args wins")]', {"type": "integer"}),
        ('"list[int]"', {"type": "array", "items": {"type": "integer"}}),
    ],
)
def test_builtin_and_typing_types(annotation: str, expected: dict[str, Any]) -> None:
    assert property_of(annotation) == expected


@pytest.mark.parametrize(
    "annotation", ["typing.List[typing.Optional[str]]", "t.List[t.Optional[str]]", "List[Optional[str]]"]
)
def test_qualified_typing_names(annotation: str) -> None:
    assert property_of(annotation) == {"type": "array", "items": {"type": "string"}}


def test_nested_containers() -> None:
    assert property_of("dict[str, list[Optional[Dict[str, int | float]]]]") == {
        "type": "object",
        "additionalProperties": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
            },
        },
    }


# --- enums -------------------------------------------------------------------------------------

COLOR = """
class Color(str, Enum):
    '''A colour.'''

    RED = "red"
    GREEN = "green"

    def shout(self) -> str:
        return self.value.upper()
"""


def test_str_enum() -> None:
    assert property_of("Color", COLOR) == {"type": "string", "enum": ["red", "green"]}


@pytest.mark.parametrize("base", ["Enum", "enum.Enum", "enum.StrEnum"])
def test_enum_with_string_values(base: str) -> None:
    classes = f"class Size({base}):\n    _ignore_ = []\n    SMALL = 's'\n    LARGE = 'l'\n"
    assert property_of("Size", classes) == {"type": "string", "enum": ["s", "l"]}


def test_int_enum_has_integer_type() -> None:
    classes = "class Level(IntEnum):\n    LOW = 1\n    HIGH = 2\n"
    assert property_of("Level", classes) == {"type": "integer", "enum": [1, 2]}


def test_enum_inside_containers() -> None:
    assert property_of("list[Color] | None", COLOR) == {
        "type": "array",
        "items": {"type": "string", "enum": ["red", "green"]},
    }


# --- pydantic models ---------------------------------------------------------------------------

POINT = """
class Point(BaseModel):
    x: int = Field(..., description="Horizontal position.")
    y: int = Field(0, description="Vertical position.")
    label: Optional[str] = None
"""

POINT_SCHEMA = {
    "type": "object",
    "properties": {
        "x": {"type": "integer", "description": "Horizontal position."},
        "y": {"type": "integer", "description": "Vertical position.", "default": 0},
        "label": {"type": "string"},
    },
    "required": ["x"],
}


def test_model() -> None:
    assert property_of("Point", POINT) == POINT_SCHEMA


def test_model_qualified_base_and_field() -> None:
    classes = "class P(pydantic.BaseModel):\n    x: int = pydantic.Field(description='X.')\n"
    assert property_of("P", classes) == {
        "type": "object",
        "properties": {"x": {"type": "integer", "description": "X."}},
        "required": ["x"],
    }


def test_models_referencing_models_defined_later() -> None:
    classes = """
    class Shape(BaseModel):
        points: list["Point"] = Field(description="Corners.")
        fill: Color | None = None
        styles: dict[str, Point] = Field(default_factory=dict)
    """
    assert property_of("Shape", textwrap.dedent(classes) + POINT + COLOR) == {
        "type": "object",
        "properties": {
            "points": {"type": "array", "items": POINT_SCHEMA, "description": "Corners."},
            "fill": {"type": "string", "enum": ["red", "green"]},
            "styles": {"type": "object", "additionalProperties": POINT_SCHEMA},
        },
        "required": ["points"],
    }


def test_model_fields_are_inherited_and_non_fields_skipped() -> None:
    classes = """
    class Base(BaseModel):
        model_config = {"frozen": True}
        id: str
        kind: str = "base"

    class Item(Base):
        counter: typing.ClassVar[int] = 0
        _secret: str = "hidden"
        kind: str = "item"
        size: Annotated[float, Field(description="In metres.")] = 1.0
    """
    assert property_of("Item", classes) == {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "default": "item"},
            "size": {"type": "number", "description": "In metres.", "default": 1.0},
        },
        "required": ["id"],
    }


# --- whole function: description, docstring, defaults, required ---------------------------------

FULL = '''
import os


def helper(a):
    return a


def send(recipient: str, /, body: str, retries: int = 3, *, urgent: bool = False,
         cc: list[str] | None = None, timeout: float = os.cpu_count(), self=None, agent_state=None) -> str:
    """Send a message to someone.

    The message is queued and
    delivered later.

    Args:
        recipient (str): Who receives
            the message.
        body: What to say.
        retries (int, optional): How many times to retry.
        urgent: Whether to skip the queue.
        cc: Also send to these.
        timeout: Seconds to wait.
        agent_state: Injected by the server.

    Returns:
        str: The id of the message.
    """
'''


def test_full_function_schema() -> None:
    assert generate_tool_schema(FULL) == {
        "name": "send",
        "description": "Send a message to someone.\n\nThe message is queued and delivered later.",
        "parameters": {
            "type": "object",
            "properties": {
                "recipient": {"type": "string", "description": "Who receives the message."},
                "body": {"type": "string", "description": "What to say."},
                "retries": {"type": "integer", "description": "How many times to retry.", "default": 3},
                "urgent": {"type": "boolean", "description": "Whether to skip the queue.", "default": False},
                "cc": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Also send to these.",
                },
                "timeout": {"type": "number", "description": "Seconds to wait."},
            },
            "required": ["recipient", "body"],
        },
    }


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ("3", {"default": 3}),
        ("-1.5", {"default": -1.5}),
        ("'a'", {"default": "a"}),
        ("None", {}),  # None is never advertised to the model
        ("(1, 2)", {"default": [1, 2]}),
        ("{'k': [True]}", {"default": {"k": [True]}}),
        ("{1, 2}", {}),
        ("b'x'", {}),
        ("1e999", {}),
        ("{1: 'a'}", {}),
        ("os.sep", {}),
        ("make()", {}),
    ],
)
def test_defaults_are_shown_only_when_json_literals(default: str, expected: dict[str, Any]) -> None:
    source = tool_source(f"int = {default}")
    schema = generate_tool_schema(source)["parameters"]
    assert schema["properties"]["x"] == {"type": "integer", "description": "The value.", **expected}
    assert schema["required"] == []


def test_injected_parameters_are_documented_constant() -> None:
    assert frozenset({"self", "agent_state"}) == INJECTED_PARAMETERS


def test_optional_without_default_stays_required() -> None:
    schema = generate_tool_schema(tool_source("Optional[int]"))
    assert schema["parameters"]["required"] == ["x"]


def test_last_function_is_used_unless_named() -> None:
    source = '''
def first(a: int) -> None:
    """First tool.

    Args:
        a: A.
    """


async def second() -> None:
    """Second tool."""
'''
    assert generate_tool_schema(source) == {
        "name": "second",
        "description": "Second tool.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
    assert generate_tool_schema(source, name="first")["parameters"]["required"] == ["a"]


def test_numpy_section_without_parameters_is_tolerated() -> None:
    source = 'def now() -> str:\n    """Current time.\n\n    Returns\n    -------\n    str\n    """\n'
    assert generate_tool_schema(source)["description"] == "Current time."


# --- built-ins go through the same path -----------------------------------------------------------


def builtin_tool(query: str, page: int = 0, agent_state: object = None) -> str:
    """Search archival memory.

    Args:
        query: What to look for.
        page: Which page of results.
    """
    return query


def test_schema_from_function_matches_source_path() -> None:
    expected = {
        "name": "builtin_tool",
        "description": "Search archival memory.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "page": {"type": "integer", "description": "Which page of results.", "default": 0},
            },
            "required": ["query"],
        },
    }
    assert schema_from_function(builtin_tool) == expected


def test_schema_from_function_on_nested_decorated_and_method() -> None:
    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    class Memory:
        @logged
        def append(self, label: Literal["human", "persona"], text: str) -> None:
            """Append to a block.

            Args:
                label: Block label.
                text: Text to append.
            """

    schema = schema_from_function(Memory.append)
    assert schema["name"] == "append"
    assert schema["parameters"]["properties"]["label"] == {
        "type": "string",
        "enum": ["human", "persona"],
        "description": "Block label.",
    }
    assert schema["parameters"]["required"] == ["label", "text"]


def test_schema_from_function_without_source() -> None:
    with pytest.raises(InvalidValueError, match="cannot read the source"):
        schema_from_function(len)


# --- the source is never executed -------------------------------------------------------------------


def test_source_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    source = f'''
open({str(marker)!r}, "w").write("module body ran")


class Opts(BaseModel):
    open({str(marker)!r}, "w").write("class body ran")
    depth: int = 1


def run(opts: Opts, n: int = open({str(marker)!r}, "w").write("default ran")) -> None:
    """Run it.

    Args:
        opts: Options.
        n: Count.
    """
    open({str(marker)!r}, "w").write("function ran")


raise SystemExit("module body ran")
'''
    schema = generate_tool_schema(source)
    assert schema["parameters"]["properties"]["n"] == {"type": "integer", "description": "Count."}
    assert schema["parameters"]["required"] == ["opts"]
    assert not marker.exists()


# --- errors --------------------------------------------------------------------------------------


def _doc(params: str, args_doc: str) -> str:
    args = textwrap.indent(args_doc, " " * 8)
    return f'def f({params}) -> None:\n    """Do f.\n\n    Args:\n{args}\n    """\n'


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        pytest.param("x = 1\ndef f(:\n    pass\n", ["does not parse", "line 2"], id="syntax-error"),
        pytest.param("x = 1\nclass A:\n    def m(self): ...\n", ["no top-level function"], id="no-function"),
        pytest.param("def f(x: int):\n    return x\n", ["'f'", "no docstring"], id="no-docstring"),
        pytest.param('def f():\n    """Args:\n    """\n', ["'f'", "no description"], id="empty-description"),
        pytest.param(_doc("x", "x: X."), ["'x'", "no type annotation"], id="no-annotation"),
        pytest.param(_doc("x: int, y: int", "x: X."), ["'y'", "no description", "Args"], id="undocumented"),
        pytest.param('def f(x: int):\n    """Do f."""\n', ["'x'", "no description"], id="no-args-section"),
        pytest.param(_doc("x: set[int]", "x: X."), ["'x'", "'set[int]'"], id="unsupported"),
        pytest.param(_doc("x: Any", "x: X."), ["'x'", "'Any'"], id="any"),
        pytest.param(_doc("x: dict[int, str]", "x: X."), ["'x'", "'dict[int, str]'"], id="non-str-keys"),
        pytest.param(_doc("x: Literal[A]", "x: X."), ["'x'", "'Literal[A]'"], id="non-literal-literal"),
        pytest.param(_doc("x: None", "x: X."), ["'x'", "'None'"], id="bare-none"),
        pytest.param(_doc("x: 'list[int'", "x: X."), ["'x'", "does not parse"], id="bad-string-annotation"),
        pytest.param(_doc("*args: int", "args: X."), ["'f'", "*args", "not supported"], id="varargs"),
        pytest.param(_doc("**kw: int", "kw: X."), ["'f'", "**kw", "not supported"], id="kwargs"),
        pytest.param("from x import Foo\n" + _doc("x: Foo", "x: X."), ["'x'", "'Foo'"], id="imported-class"),
        pytest.param(
            "class Plain:\n    a: int\n" + _doc("x: Plain", "x: X."),
            ["'x'", "'Plain'", "neither an Enum nor a pydantic BaseModel"],
            id="plain-class",
        ),
        pytest.param(
            "class E(Enum):\n    A = make()\n" + _doc("x: E", "x: X."),
            ["'x'", "enum 'E'", "member 'A'", "not a literal"],
            id="enum-non-literal",
        ),
        pytest.param(
            "class E(Enum):\n    pass\n" + _doc("x: E", "x: X."), ["enum 'E'", "no members"], id="enum-empty"
        ),
        pytest.param(
            "class Node(BaseModel):\n    kids: list['Node']\n" + _doc("x: Node", "x: X."),
            ["'x'", "'Node'", "recursive"],
            id="recursive-model",
        ),
        pytest.param(
            "class P(BaseModel):\n    tags: set[str]\n" + _doc("x: list[P]", "x: X."),
            ["'x'", "model 'P' field 'tags'", "'set[str]'"],
            id="bad-model-field",
        ),
    ],
)
def test_errors_name_the_problem(source: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidValueError) as info:
        generate_tool_schema(source)
    assert info.value.status_code == 422
    for fragment in fragments:
        assert fragment in info.value.message


def test_unknown_name_lists_the_functions_found() -> None:
    with pytest.raises(InvalidValueError) as info:
        generate_tool_schema(_doc("", "") + "\ndef g():\n    '''G.'''\n", name="missing")
    assert "'missing'" in info.value.message
    assert "found: 'f', 'g'" in info.value.message


# --- additions: enum defaults, nested lists of models and enums, the brief's whole example ------


def test_enum_member_default_is_shown_as_its_value() -> None:
    source = (
        PRELUDE
        + COLOR
        + '''
def paint(color: Color = Color.GREEN, other: Color = Color.BLUE) -> None:
    """Paint.

    Args:
        color: Main colour.
        other: Second colour (BLUE is not a member, so no default is shown).
    """
'''
    )
    properties = generate_tool_schema(source)["parameters"]["properties"]
    assert properties["color"]["default"] == "green"
    assert "default" not in properties["other"]


def test_nested_lists_of_models_and_enums() -> None:
    assert property_of("list[list[Point]]", POINT) == {
        "type": "array",
        "items": {"type": "array", "items": POINT_SCHEMA},
    }
    assert property_of("dict[str, list[Color]]", COLOR) == {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string", "enum": ["red", "green"]}},
    }


def test_model_with_enum_and_nested_model_fields() -> None:
    classes = """
    class Priority(enum.Enum):
        LOW = 1
        HIGH = 2

    class Task(BaseModel):
        title: str = Field(description="What to do.")
        priority: Priority = Priority.LOW
        where: Optional[Point] = None
        subtasks: list[str] = []
    """
    assert property_of("list[Task]", textwrap.dedent(classes) + POINT) == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "What to do."},
                "priority": {"type": "integer", "enum": [1, 2], "default": 1},
                "where": POINT_SCHEMA,
                "subtasks": {"type": "array", "items": {"type": "string"}, "default": []},
            },
            "required": ["title"],
        },
    }
