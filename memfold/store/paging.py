"""Cursor pagination shared by every list route: `before`/`after` are ids, `order` asc|desc."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Column, ColumnElement, Connection, Select, Table, select

from memfold.errors import NotFoundError

Order = Literal["asc", "desc"]


def paginate(
    conn: Connection,
    query: Select[tuple[object, ...]],
    table: Table,
    key: Column[object],
    *,
    before: str | None,
    after: str | None,
    limit: int | None,
    order: Order,
) -> Select[tuple[object, ...]]:
    """Restrict `query` to rows strictly after/before the cursor rows, ordered by (`key`, id)."""
    id_col = table.c.id

    def cursor(ident: str) -> tuple[object, str]:
        row = conn.execute(select(key).where(id_col == ident)).first()
        if row is None:
            raise NotFoundError(f"cursor {ident!r} not found")
        return row[0], ident

    conditions: list[ColumnElement[bool]] = []
    if after is not None:
        k, i = cursor(after)
        conditions.append(
            (key > k) | ((key == k) & (id_col > i))
            if order == "asc"
            else (key < k) | ((key == k) & (id_col < i))
        )
    if before is not None:
        k, i = cursor(before)
        conditions.append(
            (key < k) | ((key == k) & (id_col < i))
            if order == "asc"
            else (key > k) | ((key == k) & (id_col > i))
        )
    for condition in conditions:
        query = query.where(condition)
    if order == "asc":
        query = query.order_by(key.asc(), id_col.asc())
    else:
        query = query.order_by(key.desc(), id_col.desc())
    if limit is not None:
        query = query.limit(limit)
    return query
