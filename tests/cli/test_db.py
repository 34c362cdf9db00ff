"""`memfold db upgrade|copy|backup|restore` on the configured database and on URLs."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memfold.cli import app as cli
from memfold.config import get_settings
from memfold.store import migrate
from memfold.store.engine import Database
from tests.store.synthetic import dump, fill_every_table

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MEMFOLD_DATABASE_URL", raising=False)
    monkeypatch.setenv("MEMFOLD_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def configured() -> Database:
    return Database(get_settings().resolved_database_url)


def populated() -> None:
    db = configured()
    migrate.upgrade(db)
    with db.write() as conn:
        fill_every_table(conn, rows_per_table=2)
    db.dispose()


def same_rows(a_url: str, b_url: str) -> bool:
    a, b = Database(a_url), Database(b_url)
    try:
        with a.read() as x, b.read() as y:
            return dump(x) == dump(y)
    finally:
        a.dispose()
        b.dispose()


def test_upgrade_migrates_the_configured_database_and_a_given_url(tmp_path: Path) -> None:
    first = runner.invoke(cli, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    head = migrate.head_revision()
    assert f"schema: empty -> {head}" in first.output
    again = runner.invoke(cli, ["db", "upgrade"])
    assert f"schema: {head} -> {head}" in again.output

    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert runner.invoke(cli, ["db", "upgrade", "--url", other]).exit_code == 0
    db = Database(other)
    assert migrate.current_revision(db) == head
    db.dispose()


def test_copy_fills_an_empty_database_and_refuses_a_full_one_without_force(tmp_path: Path) -> None:
    populated()
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    result = runner.invoke(cli, ["db", "copy", "--to", target, "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert "counts verified" in result.output
    assert same_rows(get_settings().resolved_database_url, target)

    refused = runner.invoke(cli, ["db", "copy", "--to", target])
    assert refused.exit_code == 1
    assert "already holds" in refused.output and "--force" in refused.output
    forced = runner.invoke(
        cli, ["db", "copy", "--from", get_settings().resolved_database_url, "--to", target, "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert same_rows(get_settings().resolved_database_url, target)


def test_backup_and_restore_round_trip(tmp_path: Path) -> None:
    populated()
    path = tmp_path / "backup.db"
    made = runner.invoke(cli, ["db", "backup", str(path)])
    assert made.exit_code == 0, made.output
    assert path.is_file()
    assert runner.invoke(cli, ["db", "backup", str(path)]).exit_code == 1  # exists: needs --force

    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = runner.invoke(cli, ["db", "restore", str(path), "--to", target])
    assert restored.exit_code == 0, restored.output
    assert "counts verified" in restored.output
    assert same_rows(get_settings().resolved_database_url, target)

    # restoring over the configured database also drops the vector indexes saved beside it
    saved = get_settings().home / "vectors" / "archive-x.json"
    saved.parent.mkdir(parents=True)
    saved.write_text("{}")
    assert runner.invoke(cli, ["db", "restore", str(path)]).exit_code == 1  # not empty
    assert saved.exists()
    over = runner.invoke(cli, ["db", "restore", str(path), "--force"])
    assert over.exit_code == 0, over.output
    assert not saved.exists()
    assert same_rows(get_settings().resolved_database_url, target)


def test_a_database_a_server_is_serving_is_not_written(tmp_path: Path) -> None:
    populated()
    target = tmp_path / "served.db"
    with (tmp_path / "served.db.serve-lock").open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `memfold serve` does
        refused = runner.invoke(cli, ["db", "copy", "--to", f"sqlite:///{target}"])
        assert refused.exit_code == 1 and "serving" in refused.output
    assert runner.invoke(cli, ["db", "copy", "--to", f"sqlite:///{target}"]).exit_code == 0


def test_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    missing = runner.invoke(
        cli, ["db", "restore", str(tmp_path / "nope.db"), "--to", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert missing.exit_code == 1 and "no backup file" in missing.output
    assert "Traceback" not in missing.output
    bad_url = runner.invoke(cli, ["db", "copy", "--to", "not a url"])
    assert bad_url.exit_code == 2 and "not a database URL" in bad_url.output
