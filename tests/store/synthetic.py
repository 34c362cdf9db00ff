"""A database with rows in EVERY declared table, made from the metadata alone.

So a table added to `tables.py` tomorrow is filled too, and the copy tests check it is carried.
Values are chosen per column type; foreign keys point at the parent row made just before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    cast,
    func,
    insert,
    null,
    select,
    text,
)

from memfold.memory.vectors import to_bytes
from memfold.store.copy import copied_tables

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
SEQ_BASE = 40


def fill_every_table(conn: Connection, rows_per_table: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Insert `rows_per_table` rows into every table, children after parents; the rows inserted."""
    made: dict[str, list[dict[str, Any]]] = {}
    for t in copied_tables():
        made[t.name] = []
        for i in range(rows_per_table):
            row = {c.name: _value(t, c, i, made) for c in t.columns if c.computed is None}
            conn.execute(insert(t).values(row))
            made[t.name].append(row)
    return made


def _value(t: Table, c: Column[Any], i: int, made: dict[str, list[dict[str, Any]]]) -> Any:
    for fk in c.foreign_keys:
        parent = fk.column
        return made[parent.table.name][i][parent.name]
    if c.name == "embedding":
        return to_bytes([0.25 * (i + 1), -0.5, 1.0])
    if c.name == "embedding_dim":
        return 3
    type_ = c.type
    if isinstance(type_, Boolean):
        return i % 2 == 0
    if isinstance(type_, Integer | Numeric):
        return SEQ_BASE + 7 * i if c.primary_key else i + 1
    if isinstance(type_, DateTime):
        return WHEN + timedelta(hours=i, microseconds=i)
    if isinstance(type_, JSON):
        # SQL NULL, JSON null, and a nested value: a copy must tell them apart.
        return [null(), JSON.NULL, {"k": [i, "ü", 1.5], "n": None}][i % 3] if c.nullable else {"k": i}
    if isinstance(type_, LargeBinary):
        return bytes([i, 0, 255])
    if isinstance(type_, String | Text):
        if c.nullable and i == 1:
            return None
        return f"{t.name}.{c.name}.{i} ünïcode"
    raise AssertionError(
        f"no synthetic value for {t.name}.{c.name} ({type_!r}): teach tests/store/synthetic.py"
    )


def dump(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, JSON as stored text's meaning (NULL vs null kept), times in UTC."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    for t in copied_tables():
        columns = [c for c in t.columns if c.computed is None]
        query = select(*[_raw(c) for c in columns]).order_by(*t.primary_key.columns)
        result[t.name] = [tuple(_normal(v) for v in row) for row in conn.execute(query)]
    return result


def _raw(c: Column[Any]) -> Any:
    if isinstance(c.type, JSON):
        return func.coalesce(cast(c, Text), text("'<SQL NULL>'")).label(c.name)
    return c


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return ("json", json.dumps(json.loads(value), sort_keys=True))
        except ValueError:
            return value
    return value
