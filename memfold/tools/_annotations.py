"""Type annotations (as `ast` nodes) -> JSON schema, for tool parameters and model fields.

Enums and pydantic models are resolved among the classes defined at the top level of the same
source; nothing is imported or executed. See `memfold.tools.schema` for the rules.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

from memfold.errors import InvalidValueError

__all__ = ["NO_DEFAULT", "TypeSchemas", "literal", "with_details"]

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
_LITERAL_FAILURES = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)

NO_DEFAULT: Any = object()
"""Stands for "no default the model can be shown" (none at all, or not a JSON literal)."""


def with_details(schema: dict[str, Any], description: str | None, default: Any) -> dict[str, Any]:
    """A copy of `schema` with its description and (when JSON can show it) its default."""
    prop = dict(schema)
    if description:
        prop["description"] = description
    # `None` is never advertised to the model (see memfold.tools.schema), so neither is a None default.
    if default is not NO_DEFAULT and default is not None:
        prop["default"] = default
    return prop


def literal(node: ast.expr) -> Any:
    """The node's value when it is a literal that JSON can carry, else `NO_DEFAULT`."""
    try:
        value = ast.literal_eval(node)
    except _LITERAL_FAILURES:
        return NO_DEFAULT
    return json.loads(json.dumps(value)) if _is_json(value) else NO_DEFAULT  # tuples become lists


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
    value = literal(node) if node is not None else None
    return value if isinstance(value, str) else None


class TypeSchemas:
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

    def default(self, node: ast.expr | None) -> Any:
        """The JSON value of a default: a literal, or a member of an enum of the source
        (`Color.RED` -> its value); `NO_DEFAULT` for anything else."""
        if node is None:
            return NO_DEFAULT
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self._classes
            and self._is_enum(self._classes[node.value.id])
        ):
            members = dict(self._enum_members(self._classes[node.value.id]))
            member = members.get(node.attr)
            return literal(member.value) if member is not None else NO_DEFAULT
        return literal(node)

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
        values = [literal(arg) for arg in args]
        if any(value is NO_DEFAULT or isinstance(value, (list, tuple, dict)) for value in values):
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
        if self._is_enum(cls):
            return self._enum_schema(cls, where)
        if self._is_model(cls, set()):
            return self._model_schema(cls, where)
        raise InvalidValueError(
            f"{where}: class {cls.name!r} (line {cls.lineno}) is neither an Enum nor a pydantic BaseModel"
        )

    @staticmethod
    def _is_enum(cls: ast.ClassDef) -> bool:
        return any(_name_of(base) in _ENUM_BASES for base in cls.bases)

    def _local_bases(self, cls: ast.ClassDef, seen: set[str]) -> list[ast.ClassDef]:
        """The class's bases that are defined in the same source and not yet visited."""
        seen.add(cls.name)
        names = [base.id for base in cls.bases if isinstance(base, ast.Name) and base.id not in seen]
        return [self._classes[name] for name in names if name in self._classes]

    def _is_model(self, cls: ast.ClassDef, seen: set[str]) -> bool:
        if any(_name_of(base) == "BaseModel" for base in cls.bases):
            return True
        return any(self._is_model(base, seen) for base in self._local_bases(cls, seen))

    @staticmethod
    def _enum_members(cls: ast.ClassDef) -> list[tuple[str, ast.Assign]]:
        """(name, assignment) of each member: public names assigned once in the class body."""
        members = []
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name) and not target.id.startswith("_"):
                    members.append((target.id, stmt))
        return members

    def _enum_schema(self, cls: ast.ClassDef, where: str) -> dict[str, Any]:
        values: list[Any] = []
        for name, stmt in self._enum_members(cls):
            value = literal(stmt.value)
            if value is NO_DEFAULT:
                member = f"enum {cls.name!r} member {name!r} (line {stmt.lineno})"
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
            return with_details(schema, None, self.default(field.value)), field.value is None
        default = call.args[0] if call.args else _keyword(call, "default")
        if default is not None and isinstance(default, ast.Constant) and default.value is Ellipsis:
            default = None
        description = _field_description(call)
        has_factory = _keyword(call, "default_factory") is not None
        return with_details(schema, description, self.default(default)), default is None and not has_factory


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
