"""Full-text search, the one place that knows the database's text-search SQL.

SQLite (the embedded default) uses FTS5 tables kept in step with their base tables by
triggers (both created by migration 0002):

    passages_fts        external-content index of passages.text (rowid = passages.seq)
    message_search_fts  external-content index of message_search.text (rowid = message_search.seq)

Both use the `porter unicode61 remove_diacritics 2` tokenizer, so "weddings" finds "wedding".
Ranking is BM25 (`bm25()`, lower is better; returned negated so higher is better). A query is
a list of words, OR-ed: any word may match, documents with more and rarer words rank first.

PostgreSQL uses a generated `tsvector` column with a GIN index per table (migration 0007),
ranked by idf-weighted `ts_rank` (memfold.store.pg_fulltext). `full_text(dialect)` picks one.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    TableClause,
    column,
    literal_column,
    select,
    table,
    text,
)

from memfold.errors import ConfigurationError
from memfold.store import tables as t
from memfold.store.pg_fulltext import PostgresFullText, is_postgres_search_object
from memfold.store.pg_vectors import ensure_indexes

__all__ = [
    "FULLTEXT_TABLES",
    "FullText",
    "SqliteFullText",
    "ensure_search_structures",
    "full_text",
    "include_in_schema",
]

FULLTEXT_TABLES = ("passages_fts", "message_search_fts")
"""Virtual tables the migrations create beside `tables.py` (with their FTS5 shadow tables)."""


def include_in_schema(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic `include_name` hook: the search structures (SQLite's FTS5 tables; PostgreSQL's
    `text_search` columns, their GIN indexes and the per-dimension vector indexes) are not part
    of the declared schema."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(FULLTEXT_TABLES):
        return False
    return not is_postgres_search_object(name, type_)


def ensure_search_structures(conn: Connection) -> None:
    """Build what rows written by other means than memfold's stores need (PostgreSQL: the HNSW
    index of every embedding dimension present). `memfold db copy` calls it after a copy."""
    ensure_indexes(conn)


class FullText(Protocol):
    def passages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        """`(seq, score)` of passages matching any of `terms` and all of `where`, best first."""

    def messages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        """`(seq, score)` of `message_search` rows matching any of `terms` and all of `where`, best first."""


def _match_expression(terms: list[str]) -> str:
    # Terms are words (letters and digits only), so quoting them is enough to keep FTS5 syntax out.
    return " OR ".join(f'"{term}"' for term in terms)


class SqliteFullText:
    """FTS5 + BM25."""

    _passages_fts: TableClause = table("passages_fts", column("rowid"))
    _messages_fts: TableClause = table("message_search_fts", column("rowid"))

    def passages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        return self._ranked("passages_fts", self._passages_fts, t.passages, terms, where, limit)

    def messages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        return self._ranked("message_search_fts", self._messages_fts, t.message_search, terms, where, limit)

    @staticmethod
    def _ranked(
        name: str,
        fts: TableClause,
        base: Any,
        terms: list[str],
        where: list[ColumnElement[bool]],
        limit: int,
    ) -> Select[Any]:
        rank: ColumnElement[float] = literal_column(f"bm25({name})")
        return (
            select(base.c.seq, (-rank).label("score"))
            .select_from(fts.join(base, base.c.seq == fts.c.rowid))
            .where(text(f"{name} MATCH :match").bindparams(match=_match_expression(terms)), *where)
            .order_by(rank, base.c.seq.desc())
            .limit(limit)
        )


def full_text(dialect: str) -> FullText:
    if dialect == "sqlite":
        return SqliteFullText()
    if dialect == "postgresql":
        return PostgresFullText()
    raise ConfigurationError(f"full-text search is not available on {dialect!r}: use SQLite or PostgreSQL")
