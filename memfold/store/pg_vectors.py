"""Embeddings in the database: the column type, and on PostgreSQL pgvector's indexes and search.

Everywhere in memfold an embedding is `bytes` (little-endian float32). The `Embedding` column
type keeps it so on both databases: a BLOB on SQLite; on PostgreSQL a pgvector `vector`
without a fixed dimension (one table holds vectors of every embedding model), converted in
bind and result processing. Store code and row-copying code therefore see the same bytes on
both, and a copy between them keeps every float exactly.

On PostgreSQL vector search runs in SQL (`nearest`), never in a process cache: several
processes write, and `seq`s commit out of order, so no watermark could follow the table.

- **One HNSW index per table and dimension**, partial and on an expression:
  `USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE embedding_dim = D`. A query
  casts the same way and filters `embedding_dim = D`, so the planner can use it. HNSW takes
  `vector` up to 2,000 dimensions; from 2,001 to 4,000 the index is on `halfvec(D)` (half
  precision, pgvector's limit); beyond, search is exact (no index).
- **Created on demand** (`ensure_index`): the first write of a dimension creates its index in
  the writer's transaction, under a transaction-level advisory lock and `IF NOT EXISTS`, so
  concurrent processes create it once. Rows written by other means (a copy, an old database)
  are covered by `ensure_indexes`, which migration 0007 and `memfold db copy` run.
- **Filtered search** (tags, dates, roles) uses pgvector's iterative index scan
  (`hnsw.iterative_scan = relaxed_order`, set on each new connection by memfold.store.engine;
  `hnsw.ef_search` is raised for the transaction when more than 40 rows are wanted), and when
  the index yields fewer than wanted rows (a selective filter), the same query runs exactly over
  the rows that pass the filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Float,
    LargeBinary,
    Select,
    Table,
    literal_column,
    select,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from memfold.store.locks import advisory_key, transaction_lock

__all__ = [
    "HALFVEC_MAX_DIM",
    "VECTOR_MAX_DIM",
    "Embedding",
    "PgVector",
    "ensure_index",
    "ensure_indexes",
    "index_name",
    "nearest",
    "nearest_query",
]

VECTOR_MAX_DIM = 2000
"""pgvector's HNSW limit for `vector`."""
HALFVEC_MAX_DIM = 4000
"""pgvector's HNSW limit for `halfvec`; larger embeddings are searched exactly."""
EMBEDDING_TABLES = ("passages", "message_search")
DEFAULT_EF_SEARCH = 40
MAX_EF_SEARCH = 1000


class PgVector(UserDefinedType[str]):
    """pgvector's `vector` without a dimension; values pass as its text form (`[1,2,3]`)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "VECTOR"


def to_vector_text(blob: bytes) -> str:
    """Little-endian float32 bytes as pgvector text. `repr` of each float32 (widened to float64)
    parses back to the same float32, so the round trip is exact."""
    values = np.frombuffer(blob, dtype="<f4").tolist()
    return "[" + ",".join(map(repr, values)) + "]"


def from_vector_text(value: str) -> bytes:
    body = value.strip()[1:-1]
    if not body:
        return b""
    return np.array(body.split(","), dtype=np.float64).astype("<f4").tobytes()


class Embedding(TypeDecorator[bytes]):
    """An embedding as bytes: BLOB on SQLite, pgvector `vector` on PostgreSQL."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return to_vector_text(bytes(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return from_vector_text(value if isinstance(value, str) else str(value))
        return bytes(value)


def _register_reflection() -> None:
    """Let reflection (Alembic's schema comparison) recognise the `vector` type."""
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("vector", PgVector)


_register_reflection()


# --- indexes ---------------------------------------------------------------------------------


def index_name(table: str, dim: int) -> str:
    return f"ix_{table}_embedding_{dim}"


def cast_type(dim: int) -> str | None:
    """What `embedding` is cast to for dimension `dim`'s index and queries."""
    if dim <= VECTOR_MAX_DIM:
        return f"vector({dim})"
    if dim <= HALFVEC_MAX_DIM:
        return f"halfvec({dim})"
    return None


def _index_sql(table: str, dim: int) -> str | None:
    cast = cast_type(dim)
    if cast is None:
        return None
    ops = "vector_cosine_ops" if cast.startswith("vector") else "halfvec_cosine_ops"
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(table, dim)} ON {table} "
        f"USING hnsw ((embedding::{cast}) {ops}) WHERE embedding_dim = {dim}"
    )


def ensure_index(conn: Connection, table: str, dims: Iterable[int | None]) -> None:
    """Make sure `table` has the HNSW index of each dimension in `dims` (PostgreSQL only; else nothing).

    Call it before writing embeddings, in the writing transaction. Cheap when the index exists
    (one catalog lookup); otherwise it takes an advisory lock so that concurrent writers create
    it once, and creates it (building over the rows of that dimension already there)."""
    if conn.dialect.name != "postgresql" or table not in EMBEDDING_TABLES:
        return
    for dim in sorted({d for d in dims if d}):
        sql = _index_sql(table, int(dim))
        if sql is None or _index_exists(conn, table, dim):
            continue
        name = index_name(table, dim)
        transaction_lock(conn, advisory_key("index", name))
        if not _index_exists(conn, table, dim):  # another process may have made it meanwhile
            conn.execute(text(sql))


def ensure_indexes(conn: Connection) -> None:
    """Create the index of every dimension present in the embedding tables (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    for table in EMBEDDING_TABLES:
        dims = conn.execute(
            text(f"SELECT DISTINCT embedding_dim FROM {table} WHERE embedding_dim IS NOT NULL")
        ).scalars()
        ensure_index(conn, table, list(dims))


def _index_exists(conn: Connection, table: str, dim: int) -> bool:
    found = conn.execute(text("SELECT to_regclass(:name)"), {"name": index_name(table, dim)}).scalar()
    return found is not None


# --- search ----------------------------------------------------------------------------------


def nearest_query(
    table: Table,
    conditions: list[ColumnElement[bool]],
    query: list[float],
    depth: int,
    *,
    exact: bool = False,
) -> Select[Any]:
    """`(seq, distance)` of the `depth` rows nearest to `query` among those passing `conditions`,
    in the form the dimension's HNSW index serves (or, `exact`, in a form no index can serve)."""
    dim = len(query)
    cast = cast_type(dim) or f"vector({dim})"
    column: ColumnElement[Any] = literal_column(f"({table.name}.embedding::{cast})")
    probe = text(f"CAST(:probe AS {cast})").bindparams(
        probe=to_vector_text(np.asarray(query, "<f4").tobytes())
    )
    distance = column.op("<=>", return_type=Float)(probe)
    order = distance + literal_column("0") if exact else distance  # not the indexed expression
    where = [*conditions, table.c.embedding_dim == dim]
    return select(table.c.seq, distance.label("distance")).where(*where).order_by(order).limit(depth)


def nearest(
    conn: Connection,
    table: Table,
    conditions: list[ColumnElement[bool]],
    query: list[float],
    depth: int,
) -> list[tuple[int, float]]:
    """`(seq, cosine similarity)` of the `depth` rows of `table` nearest to `query` among those
    passing `conditions` (which should name the embedding handle), best first; similarities
    above 0 only. Rows of another dimension than the query's never match."""
    if not query or depth <= 0:
        return []
    if depth > DEFAULT_EF_SEARCH:  # the candidate list must be at least as long as the result
        conn.execute(
            text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(min(MAX_EF_SEARCH, depth))}
        )
    rows = conn.execute(nearest_query(table, conditions, query, depth)).all()
    if len(rows) < depth:  # a selective filter (or a short table): exact over the rows that pass it
        rows = conn.execute(nearest_query(table, conditions, query, depth, exact=True)).all()
    hits = [(int(seq), 1.0 - float(d)) for seq, d in rows]
    hits = [hit for hit in hits if hit[1] > 0]
    hits.sort(key=lambda hit: (-hit[1], -hit[0]))
    return hits
