"""Two `memfold serve` processes on one PostgreSQL database (issue 7's acceptance test).

Both processes are real subprocesses on 127.0.0.1, started together on one fresh database, with
`openai/...` pointed at the fake OpenAI server. Every turn takes two steps (a memory edit with a
heartbeat, then the reply quoting the user message). 20 clients send concurrently to the same 5
agents through both processes: every message is answered once, by the reply to that message, and
the agents' histories are whole turns one after the other. Then 200 async runs, queued through
both processes: each ends `completed` and was executed exactly once (two LLM calls and one stored
turn per run), and both processes executed some.

Also: `memfold serve --workers 2` on PostgreSQL serves; on SQLite it is refused, as is a second
server on the same SQLite database.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta
from sqlalchemy import create_engine, text

from tests.e2e.server_process import (
    ServerProcess,
    free_port,
    memfold_command,
    server_environment,
    stop_process_group,
    wait_for_health,
)
from tests.e2e.test_letta_client import create_agent, text_of
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply, ToolCallsReply

pytestmark = pytest.mark.timeout(240)

AGENTS = 5
CLIENTS = 20
SENDS_PER_CLIENT = 5
ASYNC_RUNS = 200
TURN = ["user_message", "tool_call_message", "tool_return_message", "assistant_message"]


class TwoStepModel:
    """The fake model's behaviour, counting the calls it answers per user message."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: Counter[tuple[str, str]] = Counter()
        """(user text, "first" or "second") -> LLM calls answered."""
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        messages = body["messages"]
        user = next(text_of(m) for m in reversed(messages) if m["role"] == "user")
        first = messages[-1]["role"] == "user"
        with self._lock:
            self.calls[(user, "first" if first else "second")] += 1
        if first:
            call = FakeToolCall(
                "core_memory_append", {"label": "human", "content": ".", "request_heartbeat": True}
            )
        else:
            call = FakeToolCall("send_message", {"message": f"re: {_said(user)}"})
        return ToolCallsReply([call], delay=self.delay)


def _said(user: str) -> str:
    """The text a user message carries (memfold may prefix a sender line)."""
    return user.splitlines()[-1]


@pytest.fixture
def servers(
    tmp_path: Path, postgres_url: str, fake_openai: FakeOpenAIServer
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {**fake_openai.env(), "MEMFOLD_DATABASE_URL": postgres_url}
    pair = (
        ServerProcess(tmp_path / "home-a", env=env, startup_timeout=60),
        ServerProcess(tmp_path / "home-b", env=env, startup_timeout=60),
    )
    try:
        with ThreadPoolExecutor(2) as pool:  # started together: they migrate one at a time
            for started in [pool.submit(s.start) for s in pair]:
                started.result()
        yield pair
    finally:
        for server in pair:
            server.stop()
        for server in pair:
            print(f"--- {server.log_path} ---")
            print("\n".join(server.output().splitlines()[-40:]))


def test_two_processes_one_database(
    servers: tuple[ServerProcess, ServerProcess], fake_openai: FakeOpenAIServer, postgres_url: str
) -> None:
    model = TwoStepModel(delay=0.02)
    fake_openai.responder = model
    clients = [Letta(base_url=s.base_url, max_retries=0, timeout=60.0) for s in servers]
    agents = [create_agent(clients[i % 2]).id for i in range(AGENTS)]

    # -- 20 clients, 5 agents, both processes, at once ---------------------------------------------
    def converse(index: int) -> list[str]:
        client = Letta(base_url=servers[index % 2].base_url, max_retries=0, timeout=60.0)
        agent_id = agents[index % AGENTS]
        sent = []
        for k in range(SENDS_PER_CLIENT):
            said = f"client {index} message {k}"
            answer = client.agents.messages.create(agent_id, input=said)
            replies = [m.content for m in answer.messages if m.message_type == "assistant_message"]
            assert replies == [f"re: {said}"], replies  # answered once, by the answer to this message
            sent.append(said)
        return sent

    with ThreadPoolExecutor(CLIENTS) as pool:
        sent = [s for batch in pool.map(converse, range(CLIENTS)) for s in batch]
    assert len(sent) == CLIENTS * SENDS_PER_CLIENT

    # -- 200 async runs through both processes --------------------------------------------------
    def queue_run(index: int) -> tuple[str, str]:
        said = f"queued {index}"
        run = clients[index % 2].agents.messages.create_async(agents[index % AGENTS], input=said)
        return run.id, said

    with ThreadPoolExecutor(8) as pool:
        queued = dict(pool.map(queue_run, range(ASYNC_RUNS)))
    _wait_for_runs(clients[0], set(queued), timeout=150)
    for client in clients:  # both processes see the same runs
        statuses = Counter(
            str(r.status) for r in client.runs.list(limit=1000, background=True).items if r.id in queued
        )
        assert statuses == {"completed": ASYNC_RUNS}, statuses

    # -- exactly once --------------------------------------------------------------------------------
    every = sent + list(queued.values())
    assert all(model.calls[(s, "first")] == 1 and model.calls[(s, "second")] == 1 for s in every), [
        (s, model.calls[(s, "first")], model.calls[(s, "second")])
        for s in every
        if (model.calls[(s, "first")], model.calls[(s, "second")]) != (1, 1)
    ][:10]
    for run_id, said in list(queued.items())[:: ASYNC_RUNS // 20]:  # a sample, through the API too
        messages = clients[1].runs.messages.list(run_id, limit=100).items
        users = [m.content for m in messages if m.message_type == "user_message"]
        assert users == [said]
        assert len(clients[0].runs.steps.list(run_id, limit=100).items) == 2

    # -- histories: whole turns, one after the other, each message once ------------------------------
    for agent_id in agents:
        history = clients[0].agents.messages.list(agent_id, order="asc", limit=1000).items
        shown = [m for m in history if m.message_type in TURN]
        kinds = [m.message_type for m in shown]
        turns = len(kinds) // len(TURN)
        assert kinds == TURN * turns, "turns of one agent interleaved"
        users = [m.content for m in shown if m.message_type == "user_message"]
        replies = [m.content for m in shown if m.message_type == "assistant_message"]
        assert replies == [f"re: {u}" for u in users]
        expected = [
            s for i, s in enumerate(sent) if (i // SENDS_PER_CLIENT) % AGENTS == agents.index(agent_id)
        ]
        expected += [s for i, s in enumerate(queued.values()) if i % AGENTS == agents.index(agent_id)]
        assert sorted(users) == sorted(expected)

    # Both processes executed queued runs.
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            owners = conn.execute(
                text("SELECT count(DISTINCT lease_owner) FROM runs WHERE id = ANY(:ids)"),
                {"ids": list(queued)},
            ).scalar_one()
    finally:
        engine.dispose()
    assert owners == 2


def _wait_for_runs(client: Letta, run_ids: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in client.runs.list(limit=1000, background=True).items if r.id in run_ids]
        if len(runs) == len(run_ids) and all(
            str(r.status) in ("completed", "failed", "cancelled") for r in runs
        ):
            return
        assert time.monotonic() < deadline, "the queued runs did not finish in time"
        time.sleep(0.2)


# -- `memfold serve --workers N` ---------------------------------------------------------------------


def _serve(home: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = free_port()
    log = home.with_name(home.name + ".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*memfold_command(), "serve", "--port", str(port), *args],
            env=server_environment(home, env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log, port


def test_serve_workers_on_postgres(tmp_path: Path, postgres_url: str, fake_openai: FakeOpenAIServer) -> None:
    process, log, port = _serve(
        tmp_path / "home", {**fake_openai.env(), "MEMFOLD_DATABASE_URL": postgres_url}, "--workers", "2"
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, timeout=60)
        client = Letta(base_url=f"http://127.0.0.1:{port}", max_retries=0, timeout=30.0)
        agent = create_agent(client)
        for i in range(4):
            answer = client.agents.messages.create(agent.id, input=f"hello {i}")
            assert answer.messages[-1].content == f"echo: hello {i}"  # type: ignore[union-attr]
        workers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True)
        assert len(workers.stdout.split()) >= 3, "expected the supervisor and two workers"
    finally:
        stop_process_group(process)
        print(log.read_text(errors="replace")[-4000:])
    assert "2 processes" in log.read_text()


def test_serve_workers_refused_on_sqlite(tmp_path: Path) -> None:
    process, log, _ = _serve(tmp_path / "home", {}, "--workers", "2")
    assert process.wait(60) == 2
    assert "--workers needs PostgreSQL" in log.read_text()


def test_a_second_server_on_one_sqlite_database_is_refused(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home") as first:
        process, log, _ = _serve(tmp_path / "home", {})
        assert process.wait(60) == 2
        assert "another memfold server is already serving" in log.read_text()
        assert first.running
