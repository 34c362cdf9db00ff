"""Shared fixtures. Real network is blocked: tests may only connect to loopback."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.llm.scripted import ScriptedModel
from memfold.server.app import create_app
from tests.fakes.fixtures import fake_anthropic, fake_openai, openai_env  # noqa: F401
from tests.postgres import TestPostgres
from tests.postgres import start as start_postgres

SCRIPTED = "scripted/test"
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OSError(f"tests may not reach the network (tried {host})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


BACKENDS = tuple(os.environ.get("MEMFOLD_TEST_BACKENDS", "sqlite,postgresql").split(","))
"""Databases the suites below run on (each of their tests once per backend, id `[sqlite]` etc.)."""
BOTH_BACKENDS_DIRS = ("store", "api", "memory", "folders", "runs")
"""Test directories (under tests/) whose tests using `settings` run on every backend."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: run only on SQLite even in a suite run on every backend")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames or len(BACKENDS) < 2:
        return
    for marker in metafunc.definition.iter_markers():
        if marker.name == "sqlite_only" or (
            marker.name == "parametrize" and "backend" in str(marker.args[0])
        ):
            return  # pinned to one backend
    relative = metafunc.definition.path.relative_to(Path(__file__).parent)
    if relative.parts and relative.parts[0] in BOTH_BACKENDS_DIRS:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database of this test: "sqlite" (the default) or "postgresql"."""
    return str(getattr(request, "param", BACKENDS[0]))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str) -> Iterator[str | None]:
    """`MEMFOLD_DATABASE_URL` of this test: None (SQLite in the data directory), or a fresh
    PostgreSQL database already migrated to head."""
    if backend != "postgresql":
        yield None
        return
    server: TestPostgres = request.getfixturevalue("postgres")
    url = server.migrated_database()
    yield url
    server.release_database(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(home=tmp_path / "home", default_model=SCRIPTED, database_url=database_url)


@pytest.fixture
def scripted() -> ScriptedModel:
    return ScriptedModel(name="test")


@pytest.fixture
def registry(scripted: ScriptedModel) -> ModelRegistry:
    models = ModelRegistry(environ={})
    models.register_model(scripted)
    return models


@pytest.fixture
def app(settings: Settings, registry: ModelRegistry) -> Iterator[FastAPI]:
    application = create_app(settings, registry)
    yield application
    application.state.memfold.loop.runtime.sandbox.close()  # warm tool workers, if any started
    application.state.memfold.db.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, with the app's lifespan run around it (run workers, tool runtime)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as c,
    ):
        yield c


@pytest.fixture(scope="session")
def postgres() -> Iterator[TestPostgres]:
    """A PostgreSQL server with pgvector for the whole session (see tests/postgres.py)."""
    # Not under pytest's base temp dir: another pytest session on the machine prunes old ones.
    base = Path(tempfile.mkdtemp(prefix="memfold-pg-"))
    server, handle = start_postgres(base)
    yield server
    server.close()
    if handle is not None:
        handle.cleanup()  # type: ignore[attr-defined]
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: TestPostgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)
