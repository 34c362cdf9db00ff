"""Pytest fixtures for the fake providers. Import them into `tests/conftest.py`:

from tests.fakes.fixtures import fake_anthropic, fake_openai, openai_env  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memfold.llm.providers import reset_registry
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

__all__ = ["fake_anthropic", "fake_openai", "openai_env"]

_PROVIDER_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OLLAMA_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server (`.base_url` ends in `/v1`), stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    """A started fake Anthropic Messages API, stopped after the test."""
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def openai_env(fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """The environment names only the fake as provider `openai`; the process registry is rebuilt."""
    for name in _PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake_openai.env().items():
        monkeypatch.setenv(name, value)
    reset_registry()
    yield fake_openai
    reset_registry()
