"""Agent files end to end against a real `memfold serve` subprocess: the official `letta-client` SDK
(`agents.import_file` / `agents.export_file`) and the `memfold agents export|import` commands.

The server's `openai` provider is the fake OpenAI-compatible server, so the fixtures' OpenAI
models and embeddings are served as the file names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from letta_client import BadRequestError, Letta, UnprocessableEntityError
from typer.testing import CliRunner

from memfold.cli import app as cli
from tests.agentfile.helpers import ALL_FIXTURES, CURRENT, FIXTURES, fixture_bytes
from tests.e2e.server_process import ServerProcess, free_port
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("agentfile") / "home", env=fake.env())
    with process:
        yield process
    print("\n".join(process.output().splitlines()[-60:]))  # shown when a test failed


@pytest.fixture
def letta(server: ServerProcess) -> Letta:
    return Letta(base_url=server.base_url, max_retries=0, timeout=30.0)


def test_the_sdk_imports_every_fixture(letta: Letta) -> None:
    for name in ALL_FIXTURES:
        with (FIXTURES / name).open("rb") as file:
            response = letta.agents.import_file(file=file)
        [agent_id] = response.agent_ids
        agent = letta.agents.retrieve(agent_id)
        document = json.loads(fixture_bytes(name))
        entry = document["agents"][0] if "agents" in document else document
        assert agent.name == entry["name"], name
        assert agent.model == (entry["llm_config"]["handle"]), name  # the fake serves `openai/...`
        assert agent.message_ids, name


def test_the_sdk_round_trip_and_an_answer(letta: Letta, fake: FakeOpenAIServer) -> None:
    with (FIXTURES / CURRENT).open("rb") as file:
        [agent_id] = letta.agents.import_file(
            file=file, name="sdk-import", append_copy_suffix=False
        ).agent_ids

    fake.clear_requests()
    fake.queue_tool_call("send_message", thinking="Greet.", message="Hello again, Sarah.")
    reply = letta.agents.messages.create(agent_id, messages=[{"role": "user", "content": "Remember me?"}])
    assert [m.content for m in reply.messages if m.message_type == "assistant_message"] == [
        "Hello again, Sarah."
    ]
    [request] = fake.chat_requests
    assert request["model"] == "gpt-4.1-mini"
    texts = json.dumps(request["messages"])
    assert "Test message for export" in texts and "sarah_researcher" in texts

    exported = letta.agents.export_file(agent_id)
    document = json.loads(exported)
    assert document["agents"][0]["name"] == "sdk-import"
    [copy_id] = letta.agents.import_file(file=("copy.af", exported.encode()), name="sdk-copy").agent_ids
    copy = letta.agents.retrieve(copy_id)
    assert copy.name == "sdk-copy"
    assert len(copy.message_ids or []) == len(letta.agents.retrieve(agent_id).message_ids or [])
    assert {b.label: b.value for b in copy.memory.blocks} == {
        b.label: b.value for b in letta.agents.retrieve(agent_id).memory.blocks
    }


def test_the_sdk_sees_clear_errors(letta: Letta) -> None:
    with pytest.raises(BadRequestError):
        letta.agents.import_file(file=("bad.af", b"{not json"))
    with pytest.raises(UnprocessableEntityError):
        letta.agents.import_file(file=("bad.af", b'{"agents": [{"name": "no id"}]}'))


def test_cli_export_then_import(server: ServerProcess, tmp_path: Path) -> None:
    runner = CliRunner()
    url = server.base_url
    imported = runner.invoke(
        cli, ["agents", "import", str(FIXTURES / CURRENT), "--url", url, "--name", "cli"]
    )
    assert imported.exit_code == 0, imported.output
    [agent_id] = imported.stdout.split()
    assert agent_id.startswith("agent-")

    target = tmp_path / "cli.af"
    exported = runner.invoke(cli, ["agents", "export", agent_id, "-o", str(target), "--url", url])
    assert exported.exit_code == 0, exported.output
    document = json.loads(target.read_text())
    assert document["agents"][0]["name"] == "cli"

    again = runner.invoke(cli, ["agents", "import", str(target), "--url", url, "--strip-messages"])
    assert again.exit_code == 0, again.output
    [copy_id] = again.stdout.split()
    assert copy_id != agent_id
    to_stdout = runner.invoke(cli, ["agents", "export", copy_id, "--url", url])
    assert to_stdout.exit_code == 0, to_stdout.output
    copy = json.loads(to_stdout.stdout)["agents"][0]
    assert copy["name"] == "cli" and copy["in_context_message_ids"] == ["message-0"]  # only the prompt


def test_cli_errors(server: ServerProcess, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["agents", "export", "agent-nope", "--url", server.base_url])
    assert missing.exit_code == 1 and "not found" in missing.stderr
    bad = tmp_path / "bad.af"
    bad.write_text('{"hello": "world"}')
    rejected = runner.invoke(cli, ["agents", "import", str(bad), "--url", server.base_url])
    assert rejected.exit_code == 1 and "not an agent file" in rejected.stderr
    nobody = runner.invoke(cli, ["agents", "export", "agent-x", "--url", f"http://127.0.0.1:{free_port()}"])
    assert nobody.exit_code == 1 and "cannot reach memfold" in nobody.stderr
