"""`memfold keys create|list|revoke` on the database, and `memfold serve` refusing to run open on a
non-loopback address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memfold.cli import app as cli
from memfold.config import get_settings
from memfold.errors import InvalidValueError
from memfold.server.auth import ApiKeys, parse_env_keys, presented_key
from memfold.server.deps import ServerContext
from memfold.store import api_keys as key_rows
from memfold.store import tables as t
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID, find_org

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("MEMFOLD_API_KEYS", "MEMFOLD_ALLOW_OPEN", "MEMFOLD_DATABASE_URL", "MEMFOLD_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMFOLD_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def database() -> Database:
    return Database(get_settings().resolved_database_url)


def create(org: str, *extra: str) -> str:
    result = runner.invoke(cli, ["keys", "create", "--org", org, *extra])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("mf-")
    return key


def test_create_prints_the_key_once_and_stores_only_its_hash() -> None:
    key = create("acme", "--name", "ci")
    db = database()
    with db.read() as conn:
        rows = conn.execute(t.api_keys.select()).mappings().all()
        org_id = find_org(conn, "acme")
        assert org_id is not None
        assert key_rows.org_of_key(conn, key) == org_id
        builtin = conn.execute(
            t.tools.select().where(t.tools.c.organization_id == org_id, t.tools.c.tool_type != "custom")
        ).all()
    db.dispose()
    assert len(rows) == 1
    assert rows[0]["name"] == "ci"
    assert key not in str(dict(rows[0]))  # only the hash and a short prefix are kept
    assert rows[0]["key_hash"] == key_rows.hash_key(key)
    assert key.startswith(rows[0]["key_prefix"])
    assert builtin  # the new organization has the built-in tools, so agents can be created in it

    again = create("acme")
    assert again != key
    with database().read() as conn:
        assert key_rows.org_of_key(conn, again) == org_id  # same organization, found by name


def test_list_shows_keys_but_never_the_key_itself() -> None:
    assert "no API keys" in runner.invoke(cli, ["keys", "list"]).output
    key = create("acme", "--name", "deploy")
    result = runner.invoke(cli, ["keys", "list"])
    assert result.exit_code == 0, result.output
    assert "org=acme" in result.output and "name=deploy" in result.output and "active" in result.output
    assert key not in result.output
    assert key_rows.shown_prefix(key) in result.output


def test_revoke_stops_the_key() -> None:
    key = create("acme")
    with database().read() as conn:
        [record] = key_rows.list_keys(conn)
    result = runner.invoke(cli, ["keys", "revoke", record.id])
    assert result.exit_code == 0, result.output
    with database().read() as conn:
        assert key_rows.org_of_key(conn, key) is None
        [after] = key_rows.list_keys(conn)
    assert after.revoked_at is not None
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output
    missing = runner.invoke(cli, ["keys", "revoke", "apikey-nope"])
    assert missing.exit_code == 1
    assert "no API key" in missing.output


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls `memfold serve` would have made to uvicorn (the server is not really started)."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        context: ServerContext = app.state.memfold
        calls.append({"keys": app.state.api_keys, **kwargs})
        context.db.dispose()

    monkeypatch.setattr("memfold.cli.serve.uvicorn.run", fake_run)
    return calls


def test_serve_refuses_a_public_address_without_keys(started: list[dict[str, Any]]) -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing" in result.output and "--allow-open" in result.output
    assert started == []


def test_serve_binds_a_public_address_with_allow_open_or_a_key(
    started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--allow-open"]).exit_code == 0
    assert started[-1]["host"] == "0.0.0.0"
    assert runner.invoke(cli, ["serve"]).exit_code == 0  # loopback runs open without asking
    assert started[-1]["host"] == "127.0.0.1"
    keys: ApiKeys = started[-1]["keys"]
    assert not keys.configured()

    create("acme")
    assert runner.invoke(cli, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    assert started[-1]["keys"].configured()

    monkeypatch.setenv("MEMFOLD_API_KEYS", "env-only-key")
    get_settings.cache_clear()
    assert runner.invoke(cli, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    assert len(started) == 4


def test_the_env_setting_is_parsed_strictly() -> None:
    assert parse_env_keys(" acme:k1 , k2,,beta: k3 ") == [("acme", "k1"), (None, "k2"), ("beta", "k3")]
    assert parse_env_keys(None) == [] and parse_env_keys("") == []
    for bad in (":k1", "acme:", "acme:k1,beta:k1"):
        with pytest.raises(InvalidValueError):
            parse_env_keys(bad)


def test_a_key_for_the_default_organization() -> None:
    key = create("default")
    with database().read() as conn:
        assert key_rows.org_of_key(conn, key) == DEFAULT_ORG_ID
    assert presented_key([(b"Authorization", f"bearer {key}".encode())]) == key
    assert presented_key([(b"x-api-key", key.encode())]) == key
    assert presented_key([(b"authorization", b"Basic abc")]) is None
