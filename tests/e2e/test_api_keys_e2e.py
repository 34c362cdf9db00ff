"""API keys through the real `letta-client` SDK (`Letta(api_key=...)`, sent as `Authorization: Bearer`)
against a `memfold serve` subprocess started with MEMFOLD_API_KEYS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from letta_client import AuthenticationError, Letta, NotFoundError

from tests.e2e.server_process import ServerProcess
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(90)

ALPHA_KEY = "mf-a1a1a1a1-alpha-e2e-secret-key-0123456789"
BETA_KEY = "mf-b2b2b2b2-beta-e2e-secret-key-0123456789"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def server(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[ServerProcess]:
    env = {**fake_openai.env(), "MEMFOLD_API_KEYS": f"alpha:{ALPHA_KEY},beta:{BETA_KEY}"}
    with ServerProcess(tmp_path / "home", env=env) as process:
        yield process


def letta(server: ServerProcess, api_key: str | None) -> Letta:
    return Letta(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=20.0)


def test_each_key_sees_only_its_organization(
    server: ServerProcess, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    alpha, beta = letta(server, ALPHA_KEY), letta(server, BETA_KEY)
    agent = alpha.agents.create(
        name="alpha-agent", model=MODEL, memory_blocks=[{"label": "human", "value": "alpha's human"}]
    )
    fake_openai.queue_tool_call("send_message", message="hello from alpha")
    reply = alpha.agents.messages.create(agent.id, input="hi")
    assert "hello from alpha" in str(reply.messages)
    block = alpha.blocks.create(label="notes", value="alpha's notes")

    assert [a.id for a in alpha.agents.list()] == [agent.id]
    assert [a.id for a in beta.agents.list()] == []
    with pytest.raises(NotFoundError):
        beta.agents.retrieve(agent.id)
    with pytest.raises(NotFoundError):
        beta.blocks.retrieve(block.id)
    with pytest.raises(NotFoundError):
        beta.agents.messages.list(agent.id)
    with pytest.raises(NotFoundError):
        beta.agents.delete(agent.id)
    assert alpha.agents.retrieve(agent.id).name == "alpha-agent"

    # beta's organization works on its own: agents get the built-in tools there too
    own = beta.agents.create(name="beta-agent", model=MODEL)
    assert {t.name for t in own.tools or []} == {t.name for t in agent.tools or []}


def test_no_key_or_a_wrong_key_gets_401(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    with pytest.raises(AuthenticationError):
        letta(server, None).agents.list()
    with pytest.raises(AuthenticationError):
        letta(server, "mf-00000000-wrong").agents.list()
    with httpx.Client(base_url=server.base_url, trust_env=False) as http:
        assert http.get("/v1/health/").status_code == 200
        denied = http.get("/v1/agents/")
        assert denied.status_code == 401
        assert denied.json()["code"] == "unauthorized"
    assert "API keys required" in server.output()
