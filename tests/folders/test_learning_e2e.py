"""Against a `memfold serve` subprocess: an upload interrupted part-way resumes; a learning run survives
`kill -9` of the server without reading a chunk twice; `memfold folders learn` follows a run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from letta_client import Letta
from typer.testing import CliRunner

from examples.learn_payments import learn_and_ask, progress_of
from memfold.cli import app as cli
from tests.e2e.server_process import ServerProcess
from tests.e2e.test_durable_runs import wait_until
from tests.e2e.test_letta_client import MODEL, print_server_output
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, TextReply, ToolCallsReply

pytestmark = pytest.mark.timeout(120)

HEADER = "[Learning from folder"
SECTIONS = 12


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def learner(body: dict[str, Any]) -> Reply:
    """A chunk -> archival memory (heartbeat); the tool result -> the chunk's text, headings left out, into
    a memory block (`company` with `memory_insert` when the agent has it, else `human`). Anything else
    (the example's question) -> what the system prompt, where the blocks are, says a chargeback costs."""
    messages = body["messages"]
    last = messages[-1]
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    if not tools:
        return TextReply("(summary of earlier reading)")  # the summarizer
    chunks = [text_of(m) for m in messages if m["role"] == "user" and text_of(m).startswith(HEADER)]
    if last["role"] == "user" and text_of(last).startswith(HEADER):
        content = text_of(last).split("\n---\n", 1)[1]
        args = {"content": content, "request_heartbeat": True}
        return ToolCallsReply([FakeToolCall("archival_memory_insert", args)], delay=0.1)
    if last["role"] == "tool" and chunks:
        body_lines = chunks[-1].split("\n---\n", 1)[1].splitlines()
        fact = " ".join(line for line in body_lines if line and not line.startswith("#"))
        if "memory_insert" in tools:
            return ToolCallsReply([FakeToolCall("memory_insert", {"label": "company", "new_str": fact})])
        return ToolCallsReply([FakeToolCall("core_memory_append", {"label": "human", "content": fact})])
    memory = text_of(messages[0]).replace("\n", " ").split(". ")  # the system prompt shows the blocks
    known = [s for s in memory if "chargeback costs" in s.lower()]
    return ToolCallsReply([FakeToolCall("send_message", {"message": ". ".join(known) or "I do not know."})])


def handbook(directory: Path) -> Path:
    """The payments company's handbook: two files with several sections each (a chunk per section)."""
    directory.mkdir()
    for name, start in (("payments.md", 0), ("support.md", SECTIONS // 2)):
        sections = [
            f"## Rule {i}\n\nRule {i} of Paywell: merchant tier {i} pays {i + 1}.{i}% per card payment."
            for i in range(start, start + SECTIONS // 2)
        ]
        (directory / name).write_text(f"# {name}\n\n" + "\n\n".join(sections) + "\n")
    return directory


def chunk_texts(http: httpx.Client, agent_id: str) -> list[str]:
    history = http.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000, "order": "asc"}).json()
    return [
        m["content"].split("\n---\n", 1)[1]
        for m in history
        if m["message_type"] == "user_message" and m["content"].startswith(HEADER)
    ]


def test_an_interrupted_upload_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"note{i}.md").write_text(f"# Note {i}\n\nMerchant {i} settles on day {i + 1}.\n")
    runner = CliRunner()
    with ServerProcess(tmp_path / "home") as server:
        real_post = httpx.Client.post
        sent: list[str] = []

        def post(self: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
            if url.endswith("/upload"):
                if len(sent) == 2:
                    raise KeyboardInterrupt  # Ctrl-C while the third file is being sent
                sent.append(kwargs["files"]["file"][0])
            return real_post(self, url, **kwargs)

        monkeypatch.setattr(httpx.Client, "post", post)
        stopped = runner.invoke(cli, ["folders", "upload", "kb", str(docs), "--url", server.base_url])
        assert stopped.exit_code == 130, stopped.output
        assert "run the same command again to resume" in stopped.output
        monkeypatch.setattr(httpx.Client, "post", real_post)

        again = runner.invoke(cli, ["folders", "upload", "kb", str(docs), "--url", server.base_url])
        assert again.exit_code == 0, again.output
        assert "4 uploaded, 2 unchanged, 0 failed" in again.output
        assert "files" in again.output and "6/6" in again.output
        assert "embeddings" in again.output and "chunks" in again.output

        with httpx.Client(base_url=server.base_url) as http:
            folder = http.get("/v1/folders/", params={"name": "kb"}).json()[0]
            files = http.get(f"/v1/folders/{folder['id']}/files").json()
        assert sorted(f["file_name"] for f in files) == [f"note{i}.md" for i in range(6)]  # no "(1)" copies
        assert {f["processing_status"] for f in files} == {"completed"}
        assert sorted(sent) == ["note0.md", "note1.md"]


def test_learning_survives_a_kill_and_the_cli_follows_it(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LETTA_API_KEY", raising=False)
    fake_openai.responder = learner
    docs = handbook(tmp_path / "handbook")
    runner = CliRunner()
    server = ServerProcess(tmp_path / "home", env=fake_openai.env())
    with server:
        try:
            uploaded = runner.invoke(
                cli, ["folders", "upload", "paywell", str(docs), "--url", server.base_url]
            )
            assert uploaded.exit_code == 0, uploaded.output
            http = httpx.Client(base_url=server.base_url, timeout=20)
            folder = http.get("/v1/folders/", params={"name": "paywell"}).json()[0]
            agent = http.post(
                "/v1/agents/",
                json={
                    "name": "support-bot",
                    "model": MODEL,
                    "memory_blocks": [
                        {"label": "human", "value": "Facts:"},
                        {"label": "persona", "value": "I"},
                    ],
                    "tools": ["send_message", "core_memory_append", "archival_memory_insert"],
                    "include_base_tools": False,
                },
            ).json()
            run = http.post(f"/v1/agents/{agent['id']}/folders/{folder['id']}/learn").json()
            total = run["metadata"]["learning"]["chunks_total"]
            assert total >= SECTIONS

            def done() -> int:
                return int(http.get(f"/v1/runs/{run['id']}").json()["metadata"]["learning"]["chunks_done"])

            wait_until(lambda: done() >= 3, 60, "some chunks to be learned")
            before_kill = done()
            server.kill()
            assert before_kill < total, "the kill came too late to test anything"
            server.start()
            assert "resuming" in server.output().split("--- start 2")[-1]  # the learning run was seen
            http = httpx.Client(base_url=server.base_url, timeout=20)
            wait_until(lambda: http.get(f"/v1/runs/{run['id']}").json()["status"] != "running", 90, "the run")
            final = http.get(f"/v1/runs/{run['id']}").json()
            assert final["status"] == "completed", final
            assert final["metadata"]["learning"]["chunks_done"] == total

            texts = chunk_texts(http, agent["id"])
            assert len(texts) == total and len(set(texts)) == total  # every chunk exactly once
            assert texts[0].startswith("# payments.md") and "Rule 0 of Paywell" in texts[0]
            assert "Rule 11 of Paywell" in texts[-1]
            archival = http.get(f"/v1/agents/{agent['id']}/archival-memory", params={"limit": 1000}).json()
            assert sorted(p["text"] for p in archival) == sorted(texts)
            human = http.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human").json()["value"]
            assert "merchant tier 7 pays 8.7% per card payment" in human

            learned = runner.invoke(
                cli, ["folders", "learn", "paywell", "--agent", "support-bot", "--url", server.base_url]
            )
            assert learned.exit_code == 0, learned.output
            assert f"support-bot learned paywell: {total} of {total} chunks" in learned.output
            again = runner.invoke(
                cli,
                [
                    "folders",
                    "learn",
                    "paywell",
                    "--agent",
                    agent["id"],
                    "--relearn",
                    "--url",
                    server.base_url,
                ],
            )
            assert again.exit_code == 0, again.output
            assert re.search(rf"chunks\s+\S+\s+{total}/{total}", again.output), again.output
            assert len(chunk_texts(http, agent["id"])) == 2 * total

            missing = runner.invoke(
                cli, ["folders", "learn", "nope", "--agent", "support-bot", "--url", server.base_url]
            )
            assert missing.exit_code == 1 and "no folder named 'nope'" in missing.output
        finally:
            print_server_output(server)


def test_the_payments_example_learns_then_answers_from_memory(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.responder = learner
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as server:
        try:
            client = Letta(base_url=server.base_url, max_retries=0, timeout=20.0)
            outcome = learn_and_ask(client, MODEL, "A buyer disputed a payment. What does it cost me?")
            assert outcome.run.status == "completed"
            progress = progress_of(outcome.run)
            assert progress["chunks_done"] == progress["chunks_total"] >= 5
            assert "A chargeback costs the merchant 15 euros" in outcome.answer
        finally:
            print_server_output(server)
