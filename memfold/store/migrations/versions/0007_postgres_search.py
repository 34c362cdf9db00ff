"""PostgreSQL search: embeddings as pgvector `vector`, tsvector columns with GIN indexes (no-op on SQLite)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 15:30:00

On PostgreSQL: creates the `vector` extension (and `unaccent` when the server has it), the
`memfold_search` text search configuration, converts the `embedding` columns of `passages`
and `message_search` from bytea (little-endian float32) to `vector` exactly, adds the
generated `text_search` columns with their GIN indexes, and builds the HNSW index of every
embedding dimension already stored. SQLite keeps its FTS5 tables and BLOBs: nothing to do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memfold.store.pg_fulltext import SEARCH_COLUMN, SEARCH_CONFIG, search_column_sql
from memfold.store.pg_vectors import EMBEDDING_TABLES, ensure_indexes

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STEM = "memfold_english_stem"
_WORD_TOKENS = "asciiword, asciihword, hword_asciipart, word, hword, hword_part"

# bytea of little-endian float32 -> real[], bit-exact (sign, exponent, mantissa by arithmetic).
_BYTES_TO_REALS = """
CREATE FUNCTION pg_temp.memfold_f4le(b bytea) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(
           ((CASE WHEN e = 0 THEN m * power(2::float8, -149)
                  ELSE (8388608 + m) * power(2::float8, e - 150) END)
            * (CASE WHEN s = 1 THEN -1 ELSE 1 END))::real ORDER BY i)
  FROM (SELECT i, (u >> 31) & 1 AS s, (u >> 23) & 255 AS e, u & 8388607 AS m
        FROM (SELECT i, get_byte(b, 4 * i)::bigint
                        | (get_byte(b, 4 * i + 1)::bigint << 8)
                        | (get_byte(b, 4 * i + 2)::bigint << 16)
                        | (get_byte(b, 4 * i + 3)::bigint << 24) AS u
              FROM generate_series(0, length(b) / 4 - 1) AS i) AS words) AS parts
$$"""

# real[] -> bytea of little-endian float32 (float4send is big-endian: reverse each value's bytes).
_REALS_TO_BYTES = """
CREATE FUNCTION pg_temp.memfold_f4le_bytes(v real[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(string_agg(substring(float4send(x) FROM 4 FOR 1)
                             || substring(float4send(x) FROM 3 FOR 1)
                             || substring(float4send(x) FROM 2 FOR 1)
                             || substring(float4send(x) FROM 1 FOR 1),
                             ''::bytea ORDER BY n), ''::bytea)
  FROM unnest(v) WITH ORDINALITY AS u(x, n)
$$"""


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgres():
        return
    bind = op.get_bind()
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except sa.exc.DBAPIError as e:
        raise RuntimeError(
            "memfold needs the pgvector extension: install it on the PostgreSQL server and run "
            "`CREATE EXTENSION vector` as a superuser in this database (or let memfold's user do it)"
        ) from e
    available = bind.execute(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar_one()
    if available:
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute(f"CREATE TEXT SEARCH DICTIONARY {_STEM} (TEMPLATE = snowball, LANGUAGE = english)")
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} (COPY = english)")
    dictionaries = f"unaccent, {_STEM}" if available else _STEM
    op.execute(
        f"ALTER TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} "
        f"ALTER MAPPING FOR {_WORD_TOKENS} WITH {dictionaries}"
    )

    op.execute(_BYTES_TO_REALS)
    for table in EMBEDDING_TABLES:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector USING "
            "(CASE WHEN embedding IS NULL OR length(embedding) < 4 THEN NULL "
            "ELSE pg_temp.memfold_f4le(embedding)::vector END)"
        )
        op.execute(search_column_sql(table))
        op.execute(f"CREATE INDEX ix_{table}_{SEARCH_COLUMN} ON {table} USING gin ({SEARCH_COLUMN})")
    op.execute("DROP FUNCTION pg_temp.memfold_f4le(bytea)")
    ensure_indexes(bind)


def downgrade() -> None:
    if not _is_postgres():
        return
    bind = op.get_bind()
    op.execute(_REALS_TO_BYTES)
    for table in EMBEDDING_TABLES:
        names = bind.execute(
            sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexname LIKE :p"),
            {"t": table, "p": f"ix_{table}_embedding_%"},
        ).scalars()
        for name in list(names):
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{SEARCH_COLUMN}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {SEARCH_COLUMN}")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN embedding TYPE bytea USING "
            "pg_temp.memfold_f4le_bytes(embedding::real[])"
        )
    op.execute("DROP FUNCTION pg_temp.memfold_f4le_bytes(real[])")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {SEARCH_CONFIG}")
    op.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS {_STEM}")
