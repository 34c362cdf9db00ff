"""Full-text search on PostgreSQL: a generated `tsvector` column with a GIN index per table.

Migration 0007 adds, to `passages` and `message_search`,

    text_search tsvector GENERATED ALWAYS AS (to_tsvector('memfold_search', <text, punctuation
                                               turned into spaces>)) STORED
    ix_<table>_text_search  USING gin (text_search)

`memfold_search` is a text search configuration made to behave like SQLite's
`porter unicode61 remove_diacritics 2` tokenizer: English (Snowball) stemming so "weddings"
finds "wedding", accents removed (the `unaccent` extension, when the server has it), and no
stop words (FTS5 has none). Punctuation and underscores split words, as in FTS5 and in
memfold's query words, rather than PostgreSQL's parser's notion of e-mail addresses, URLs,
file paths or signed numbers.

Ranking: a query is its words OR-ed. A document's score is the sum over the query's words of
`idf(word) * ts_rank(document, word, 1)` -- term frequency with saturation, divided by
1 + log(document length) -- where `idf(word) = ln(1 + matched / matched_with_word)` counts
the documents that passed the filter and match any word. So, as with BM25, documents with
more words, and with rarer words, rank first. Search only needs the rank order (reciprocal
rank fusion), not BM25's absolute values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, Select, Table, cast, func, literal, literal_column, select, true

from memfold.store import tables as t

__all__ = [
    "SEARCH_COLUMN",
    "SEARCH_CONFIG",
    "PostgresFullText",
    "is_postgres_search_object",
    "search_column_sql",
]

SEARCH_CONFIG = "memfold_search"
SEARCH_COLUMN = "text_search"
SEARCH_TABLES = ("passages", "message_search")
SPLIT_PATTERN = "[[:space:][:punct:]]+"
"""Runs of white space and punctuation (the underscore included) become one space before parsing."""


def search_column_sql(table: str) -> str:
    """The DDL adding `table`'s generated search column (used by migration 0007)."""
    return (
        f"ALTER TABLE {table} ADD COLUMN {SEARCH_COLUMN} tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('{SEARCH_CONFIG}'::regconfig, regexp_replace(text, '{SPLIT_PATTERN}', ' ', 'g')))"
        " STORED"
    )


def is_postgres_search_object(name: str, type_: str) -> bool:
    """Whether `name` is one of the search columns or indexes kept out of `tables.py`."""
    if type_ == "column":
        return name == SEARCH_COLUMN
    if type_ == "index":
        return any(
            name == f"ix_{table}_{SEARCH_COLUMN}" or name.startswith(f"ix_{table}_embedding_")
            for table in SEARCH_TABLES
        )
    return False


class PostgresFullText:
    """tsvector + GIN, ranked by idf-weighted `ts_rank`."""

    def passages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        return _ranked(t.passages, terms, where, limit)

    def messages(self, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
        return _ranked(t.message_search, terms, where, limit)


def _tsquery(words: str) -> ColumnElement[Any]:
    # Terms are words (letters and digits only), so no tsquery syntax can sneak in.
    return func.to_tsquery(literal_column(f"'{SEARCH_CONFIG}'::regconfig"), literal(words))


def _ranked(base: Table, terms: list[str], where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
    vector: ColumnElement[Any] = literal_column(f"{base.name}.{SEARCH_COLUMN}")
    matched = (
        select(base.c.seq.label("seq"), vector.label("tsv"))
        .where(vector.op("@@")(_tsquery(" | ".join(terms))), *where)
        .cte(f"{base.name}_matched")
    )
    per_term = [_tsquery(term) for term in terms]
    stats = select(
        func.count().label("n"),
        *[func.count().filter(matched.c.tsv.op("@@")(q)).label(f"d{i}") for i, q in enumerate(per_term)],
    ).cte(f"{base.name}_stats")
    score: ColumnElement[float] = literal(0.0, Float)
    for i, q in enumerate(per_term):
        idf = func.ln(1.0 + cast(stats.c.n, Float) / func.greatest(stats.c[f"d{i}"], 1))
        score = score + idf * func.ts_rank(matched.c.tsv, q, 1)
    return (
        select(matched.c.seq, score.label("score"))
        .select_from(matched.join(stats, true()))
        .order_by(score.desc(), matched.c.seq.desc())
        .limit(limit)
    )
