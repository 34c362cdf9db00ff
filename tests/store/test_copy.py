"""`copy_database`: every declared table, every value, counters and full-text indexes carried over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select, text

from memfold.errors import BadRequestError, ConflictError
from memfold.store import migrate
from memfold.store import tables as t
from memfold.store.copy import copied_tables, copy_database, is_derived_table
from memfold.store.engine import Database
from memfold.store.tables import metadata
from tests.store.synthetic import WHEN, dump, fill_every_table

Opener = Callable[[str], Database]


@pytest.fixture
def open_db() -> Iterator[Opener]:
    opened: list[Database] = []

    def opener(url: str) -> Database:
        db = Database(url)
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.dispose()


@pytest.fixture
def source(tmp_path: Path, open_db: Opener) -> Database:
    db = open_db(f"sqlite:///{tmp_path / 'source.db'}")
    migrate.upgrade(db)
    with db.write() as conn:
        fill_every_table(conn)
    return db


def test_every_declared_table_is_copied_value_for_value(
    source: Database, tmp_path: Path, open_db: Opener
) -> None:
    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    report = copy_database(source, target, batch_size=2)  # several batches per table

    assert set(report.source_rows) == set(metadata.tables)
    assert all(report.source_rows[name] == 3 for name in metadata.tables)
    assert report.verified and report.target_rows == report.source_rows
    with source.read() as before, target.read() as after:
        copied = dump(after)
        assert copied == dump(before)
        # the synthetic data kept SQL NULL, JSON null and nested JSON apart: the copy did too
        assert {"<SQL NULL>", "null"} <= {value for row in copied["agents"] for value in row}


def test_the_database_holds_no_table_a_copy_would_leave_behind(source: Database) -> None:
    with source.read() as conn:
        names = set(inspect(conn).get_table_names())
    assert {n for n in names if not is_derived_table(n)} == {table.name for table in copied_tables()}


def test_full_text_indexes_are_filled_in_the_target(
    source: Database, tmp_path: Path, open_db: Opener
) -> None:
    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    copy_database(source, target)
    for fts, base in (("passages_fts", "passages"), ("message_search_fts", "message_search")):
        query = text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH 'unicode' ORDER BY rowid")
        with source.read() as a, target.read() as b:
            found = [r[0] for r in b.execute(query)]
            assert found == [r[0] for r in a.execute(query)]
            assert found == [r[0] for r in b.execute(text(f"SELECT seq FROM {base} ORDER BY seq"))]


def test_never_reused_seq_values_stay_never_reused(source: Database, tmp_path: Path, open_db: Opener) -> None:
    with source.write() as conn:
        highest = conn.execute(select(t.passages.c.seq).order_by(t.passages.c.seq.desc())).scalars().first()
        conn.execute(t.passages.delete().where(t.passages.c.seq == highest))
    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    copy_database(source, target)
    with target.write() as conn:
        archive = conn.execute(select(t.archives.c.id, t.archives.c.organization_id)).first()
        assert archive is not None
        new = conn.execute(
            insert(t.passages)
            .values(
                id="passage-new",
                organization_id=archive.organization_id,
                archive_id=archive.id,
                text="new",
                created_at=WHEN,
                updated_at=WHEN,
            )
            .returning(t.passages.c.seq)
        ).scalar_one()
    assert highest is not None and new > highest


def test_a_non_empty_target_is_refused_unless_replaced(
    source: Database, tmp_path: Path, open_db: Opener
) -> None:
    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    migrate.upgrade(target)
    with target.write() as conn:
        conn.execute(insert(t.organizations).values(id="org-other", name="other", created_at=WHEN))
    with pytest.raises(ConflictError, match="already holds 1 rows"):
        copy_database(source, target)
    with target.read() as conn:
        assert conn.execute(select(t.organizations.c.id)).scalars().all() == ["org-other"]

    report = copy_database(source, target, replace=True)
    assert report.verified
    with source.read() as before, target.read() as after:
        assert dump(after) == dump(before)


def test_a_failed_copy_leaves_the_target_empty(source: Database, tmp_path: Path, open_db: Opener) -> None:
    class Boom(Exception):
        pass

    class FailOnMessages:
        def table_started(self, name: str, total: int) -> None:
            if name == "messages":
                raise Boom

        def rows_copied(self, name: str, count: int) -> None:
            pass

    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(Boom):
        copy_database(source, target, progress=FailOnMessages())
    with target.read() as conn:
        assert conn.execute(select(t.organizations.c.id)).first() is None
    assert copy_database(source, target).verified  # and it can simply be run again


def test_the_source_must_be_at_the_current_schema(tmp_path: Path, open_db: Opener) -> None:
    empty = open_db(f"sqlite:///{tmp_path / 'empty.db'}")
    target = open_db(f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(BadRequestError, match="no memfold schema"):
        copy_database(empty, target)
    old = open_db(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(old, "0001")
    with pytest.raises(BadRequestError, match="memfold db upgrade"):
        copy_database(old, target)


def test_an_unknown_table_in_the_source_is_refused(source: Database, tmp_path: Path, open_db: Opener) -> None:
    with source.write() as conn:
        conn.execute(text("CREATE TABLE notes_of_a_plugin (id INTEGER PRIMARY KEY)"))
    with pytest.raises(BadRequestError, match="notes_of_a_plugin"):
        copy_database(source, open_db(f"sqlite:///{tmp_path / 'target.db'}"))


def test_a_database_is_not_copied_onto_itself(source: Database, tmp_path: Path, open_db: Opener) -> None:
    again = open_db(f"sqlite:///{tmp_path}/./source.db")  # the same file, spelt differently
    with pytest.raises(BadRequestError, match="same database"):
        copy_database(source, again, replace=True)
    with source.read() as conn:
        assert conn.execute(select(t.agents.c.id)).first() is not None


class WriteDuringCopy:
    """Progress that commits a new message into the source while the copy is under way."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.wrote = False

    def table_started(self, name: str, total: int) -> None:
        if name == "messages" and not self.wrote:
            self.wrote = True
            with self.db.write() as conn:
                agent = conn.execute(select(t.agents.c.id, t.agents.c.organization_id)).first()
                assert agent is not None
                conn.execute(
                    insert(t.messages).values(
                        id="message-late",
                        organization_id=agent.organization_id,
                        agent_id=agent.id,
                        role="user",
                        created_at=WHEN,
                    )
                )

    def rows_copied(self, name: str, count: int) -> None:
        pass


def copy_while_writing(source: Database, target: Database) -> None:
    """The copy is of one moment: a row committed meanwhile is in the source, not in the copy."""
    with source.read() as conn:
        before = dump(conn)
    writer = WriteDuringCopy(source)
    report = copy_database(source, target, progress=writer)
    assert writer.wrote and report.verified
    with source.read() as a, target.read() as b:
        assert dump(b) == before
        late = select(t.messages.c.id).where(t.messages.c.id == "message-late")
        assert a.execute(late).first() is not None and b.execute(late).first() is None


def test_a_copy_is_a_snapshot_while_a_server_writes(
    source: Database, tmp_path: Path, open_db: Opener
) -> None:
    copy_while_writing(source, open_db(f"sqlite:///{tmp_path / 'target.db'}"))
