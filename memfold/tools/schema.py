"""A tool's OpenAI-style function schema, read from its Python source without running it.

Only `ast` is used: the user's code is parsed, never imported, compiled or executed.
The schema comes from one top-level function (the last one, unless `name` picks another):

- `name` is the function's name; `description` is the docstring text before its first section;
- each parameter's description comes from the Google-style `Args:` section, its type from its annotation;
- a parameter is required exactly when it has no default; a literal default other than None is shown as
  `"default"`.

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
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
import textwrap
from collections.abc import Callable
from typing import Any

from memfold.errors import InvalidValueError

__all__ = ["INJECTED_PARAMETERS", "generate_tool_schema", "schema_from_function"]

INJECTED_PARAMETERS = frozenset({"self", "agent_state"})

_QUALIFIERS = frozenset({"typing", "t", "typing_extensions", "builtins", "enum", "pydantic"})
_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_LISTS = frozenset({"list", "List"})
_DICTS = frozenset({"dict", "Dict"})
_TUPLES = frozenset({"tuple", "Tuple"})
_ENUM_BASES = frozenset({"Enum", "StrEnum", "IntEnum"})
_SUPPORTED = (
    "str, int, float, bool, list[X], dict[str, X], tuple[...], Optional[X], X | None, Union[...], "
    "Literal[...], Annotated[X, ...], and Enum or BaseModel classes defined in the same source"
)

_ARGS_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"})
_SECTION_HEADER = re.compile(
    r"^(?P<name>Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|Returns?"
    r"|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|Todo|References)\s*:\s*$",
    re.IGNORECASE,
)
_ARG_ENTRY = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\([^:]*\))?\s*:\s*(?P<desc>.*)$")
_LITERAL_FAILURES = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)
_NO_DEFAULT = object()


def generate_tool_schema(source_code: str, *, name: str | None = None) -> dict[str, Any]:
    """Return `{"name", "description", "parameters"}` for the last (or the `name`d) function in the source."""
    module = _parse(source_code)
    function = _select_function(module, name)
    try:
        return _function_schema(function, _TypeSchemas(module))
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


def _parse(source_code: str) -> ast.Module:
    try:
        return ast.parse(source_code)
    except SyntaxError as e:
        raise InvalidValueError(f"tool source does not parse: {e.msg} (line {e.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise InvalidValueError(f"tool source does not parse: {e}") from None


_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


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


def _function_schema(function: _FunctionNode, types: _TypeSchemas) -> dict[str, Any]:
    where = f"function {function.name!r}"
    docstring = ast.get_docstring(function)
    if not docstring:
        raise InvalidValueError(
            f"{where} (line {function.lineno}) has no docstring; it is the tool's description"
        )
    description, arg_docs = _parse_docstring(docstring)
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
        properties[arg.arg] = _property(schema, arg_docs[arg.arg], default)
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


def _property(schema: dict[str, Any], description: str | None, default: ast.expr | None) -> dict[str, Any]:
    prop = dict(schema)
    if description:
        prop["description"] = description
    value = _literal(default) if default is not None else _NO_DEFAULT
    # `None` is never advertised to the model (see the module docstring), so neither is a None default.
    if value is not _NO_DEFAULT and value is not None:
        prop["default"] = value
    return prop


def _literal(node: ast.expr) -> Any:
    """The node's value when it is a literal that JSON can carry, else `_NO_DEFAULT`."""
    try:
        value = ast.literal_eval(node)
    except _LITERAL_FAILURES:
        return _NO_DEFAULT
    return json.loads(json.dumps(value)) if _is_json(value) else _NO_DEFAULT  # tuples become lists


def _is_json(value: Any) -> bool:
    """True for None, bool, int, str, finite floats, and lists, tuples and str-keyed dicts of them."""
    if value is None or isinstance(value, (str, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def _parse_docstring(docstring: str) -> tuple[str, dict[str, str]]:
    """The description (text before the first section) and each `Args:` entry's description."""
    intro: list[str] = []
    args: list[str] = []
    target = intro
    lines = docstring.splitlines()
    for index, line in enumerate(lines):
        header = _SECTION_HEADER.match(line)
        if header:
            target = args if header["name"].lower() in _ARGS_SECTIONS else []
        elif index + 1 < len(lines) and line.strip() and re.fullmatch(r"-{3,}", lines[index + 1].strip()):
            target = []  # a numpy-style section header: not parsed, but not part of the description
        else:
            target.append(line)
    paragraphs = re.split(r"\n\s*\n", "\n".join(intro).strip())
    description = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return description, _parse_args_section(args)


def _parse_args_section(lines: list[str]) -> dict[str, str]:
    """`name (type): text` or `name: text` entries; lines indented further than an entry continue it."""
    docs: dict[str, str] = {}
    current: str | None = None
    entry_indent: int | None = None
    for line in lines:
        text = line.strip()
        if not text:
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ARG_ENTRY.match(text)
        if entry and (entry_indent is None or indent <= entry_indent):
            current, entry_indent = entry["name"], indent
            docs[current] = entry["desc"].strip()
        elif current is not None:
            docs[current] = f"{docs[current]} {text}".strip()
    return docs


def _name_of(node: ast.expr) -> str | None:
    """`X`, `typing.X` or `t.X` -> "X"; anything else -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in _QUALIFIERS:
        return node.attr
    return None


def _json_type(values: list[Any]) -> str | list[str]:
    """The JSON type (or types, in order of first use) of literal values."""
    names: list[str] = []
    for value in values:
        name = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), "null")
        if name not in names:
            names.append(name)
    return names[0] if len(names) == 1 else names


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _field_call(node: ast.expr | None) -> ast.Call | None:
    """The `Field(...)` / `pydantic.Field(...)` call, when the node is one."""
    if isinstance(node, ast.Call) and _name_of(node.func) == "Field":
        return node
    return None


def _field_description(call: ast.Call) -> str | None:
    node = _keyword(call, "description")
    value = _literal(node) if node is not None else None
    return value if isinstance(value, str) else None


class _TypeSchemas:
    """Turns annotation nodes into JSON schema, resolving enums and models defined in the same module."""

    def __init__(self, module: ast.Module) -> None:
        self._classes = {node.name: node for node in module.body if isinstance(node, ast.ClassDef)}
        self._models_in_progress: list[str] = []

    def schema(self, node: ast.expr, where: str) -> dict[str, Any]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.schema(self._forward_ref(node.value, where), where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union(_flatten_bitor(node), node, where)
        if isinstance(node, ast.Subscript):
            return self._generic(node, where)
        name = _name_of(node)
        if isinstance(node, ast.Name) and node.id in self._classes:
            return self._class_schema(self._classes[node.id], where)
        if name in _SCALARS:
            return {"type": _SCALARS[name]}
        if name in _LISTS or name in _TUPLES:
            return {"type": "array"}
        if name in _DICTS:
            return {"type": "object"}
        raise _unsupported(node, where)

    def _forward_ref(self, text: str, where: str) -> ast.expr:
        try:
            return ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise InvalidValueError(f"{where}: the string annotation {text!r} does not parse") from None

    def _generic(self, node: ast.Subscript, where: str) -> dict[str, Any]:
        name = _name_of(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name in ("Optional", "Union"):
            return self._union(args, node, where)
        if name == "Literal":
            return self._literal_schema(args, node, where)
        if name == "Annotated":
            return self._annotated(args, where)
        if name in _LISTS and len(args) == 1:
            return {"type": "array", "items": self.schema(args[0], where)}
        if name in _DICTS and len(args) == 2 and _name_of(args[0]) == "str":
            return {"type": "object", "additionalProperties": self.schema(args[1], where)}
        if name in _TUPLES:
            return self._tuple(args, where)
        raise _unsupported(node, where)

    def _union(self, members: list[ast.expr], node: ast.expr, where: str) -> dict[str, Any]:
        schemas: list[dict[str, Any]] = []
        for member in members:
            if isinstance(member, ast.Constant) and member.value is None:
                continue
            schema = self.schema(member, where)
            schemas.extend(schema["anyOf"] if list(schema) == ["anyOf"] else [schema])
        if not schemas:
            raise _unsupported(node, where)
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}

    def _literal_schema(self, args: list[ast.expr], node: ast.expr, where: str) -> dict[str, Any]:
        values = [_literal(arg) for arg in args]
        if any(value is _NO_DEFAULT or isinstance(value, (list, tuple, dict)) for value in values):
            raise _unsupported(node, where)
        return {"type": _json_type(values), "enum": values}

    def _annotated(self, args: list[ast.expr], where: str) -> dict[str, Any]:
        schema = self.schema(args[0], where)
        for meta in args[1:]:
            call = _field_call(meta)
            description = _field_description(call) if call else None
            if description:
                schema["description"] = description
        return schema

    def _tuple(self, args: list[ast.expr], where: str) -> dict[str, Any]:
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            return {"type": "array", "items": self.schema(args[0], where)}
        items = [self.schema(arg, where) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}

    def _class_schema(self, cls: ast.ClassDef, where: str) -> dict[str, Any]:
        if any(_name_of(base) in _ENUM_BASES for base in cls.bases):
            return self._enum_schema(cls, where)
        if self._is_model(cls, set()):
            return self._model_schema(cls, where)
        raise InvalidValueError(
            f"{where}: class {cls.name!r} (line {cls.lineno}) is neither an Enum nor a pydantic BaseModel"
        )

    def _local_bases(self, cls: ast.ClassDef, seen: set[str]) -> list[ast.ClassDef]:
        """The class's bases that are defined in the same source and not yet visited."""
        seen.add(cls.name)
        names = [base.id for base in cls.bases if isinstance(base, ast.Name) and base.id not in seen]
        return [self._classes[name] for name in names if name in self._classes]

    def _is_model(self, cls: ast.ClassDef, seen: set[str]) -> bool:
        if any(_name_of(base) == "BaseModel" for base in cls.bases):
            return True
        return any(self._is_model(base, seen) for base in self._local_bases(cls, seen))

    def _enum_schema(self, cls: ast.ClassDef, where: str) -> dict[str, Any]:
        values: list[Any] = []
        for stmt in cls.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            target = stmt.targets[0]
            if not isinstance(target, ast.Name) or target.id.startswith("_"):
                continue
            value = _literal(stmt.value)
            if value is _NO_DEFAULT:
                member = f"enum {cls.name!r} member {target.id!r} (line {stmt.lineno})"
                raise InvalidValueError(f"{where}: {member} is not a literal value")
            values.append(value)
        if not values:
            raise InvalidValueError(f"{where}: enum {cls.name!r} (line {cls.lineno}) has no members")
        return {"type": _json_type(values), "enum": values}

    def _model_schema(self, cls: ast.ClassDef, where: str) -> dict[str, Any]:
        if cls.name in self._models_in_progress:
            raise InvalidValueError(
                f"{where}: model {cls.name!r} refers to itself; recursive models are not supported"
            )
        self._models_in_progress.append(cls.name)
        try:
            properties: dict[str, Any] = {}
            required: list[str] = []
            for name, field in self._model_fields(cls, set()).items():
                field_where = f"{where}, model {cls.name!r} field {name!r} (line {field.lineno})"
                properties[name], is_required = self._field_property(field, field_where)
                if is_required:
                    required.append(name)
            return {"type": "object", "properties": properties, "required": required}
        finally:
            self._models_in_progress.pop()

    def _model_fields(self, cls: ast.ClassDef, seen: set[str]) -> dict[str, ast.AnnAssign]:
        """The model's annotated fields by name, inherited ones (from classes in the same source) first."""
        fields: dict[str, ast.AnnAssign] = {}
        for base in self._local_bases(cls, seen):
            fields.update(self._model_fields(base, seen))
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and _is_field(stmt):
                fields[stmt.target.id] = stmt
        return fields

    def _field_property(self, field: ast.AnnAssign, where: str) -> tuple[dict[str, Any], bool]:
        """The field's property schema, and whether the field is required."""
        schema = self.schema(field.annotation, where)
        call = _field_call(field.value)
        if call is None:
            return _property(schema, None, field.value), field.value is None
        default = call.args[0] if call.args else _keyword(call, "default")
        if default is not None and isinstance(default, ast.Constant) and default.value is Ellipsis:
            default = None
        description = _field_description(call)
        has_factory = _keyword(call, "default_factory") is not None
        return _property(schema, description, default), default is None and not has_factory


def _is_field(stmt: ast.AnnAssign) -> bool:
    """False for private attributes, `model_config` and `ClassVar`s, which pydantic does not serialise."""
    name = stmt.target.id if isinstance(stmt.target, ast.Name) else "_"
    outer = stmt.annotation.value if isinstance(stmt.annotation, ast.Subscript) else stmt.annotation
    return not name.startswith("_") and name != "model_config" and _name_of(outer) != "ClassVar"


def _flatten_bitor(node: ast.BinOp) -> list[ast.expr]:
    """`A | B | C` -> [A, B, C], without recursion (the left side nests)."""
    members: list[ast.expr] = []
    current: ast.expr = node
    while isinstance(current, ast.BinOp) and isinstance(current.op, ast.BitOr):
        members.append(current.right)
        current = current.left
    members.append(current)
    return members[::-1]


def _unsupported(node: ast.expr, where: str) -> InvalidValueError:
    return InvalidValueError(
        f"{where}: unsupported type annotation {ast.unparse(node)!r}; supported: {_SUPPORTED}"
    )
