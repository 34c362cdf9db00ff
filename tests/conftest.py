"""Shared fixtures. Real network is blocked: tests may only connect to loopback."""

from __future__ import annotations

import ipaddress
import socket
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", default_model=SCRIPTED)


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
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPostgres]:
    """A PostgreSQL server with pgvector for the whole session (see tests/postgres.py)."""
    server, handle = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.close()
    if handle is not None:
        handle.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def postgres_url(postgres: TestPostgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)
