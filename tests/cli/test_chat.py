"""`memfold chat`, driven through a pseudo-terminal against a real `memfold serve` subprocess whose
model is the fake OpenAI-compatible server (scripted per test, else it echoes)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memfold.cli.chat import ChatClient, ServerError, is_memory_tool, sse_events
from tests.cli.terminal import Terminal
from tests.e2e.server_process import ServerProcess, free_port, memfold_command, server_environment
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, module_fake: FakeOpenAIServer
) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("chat") / "home", env=module_fake.env()) as process:
        yield process


@pytest.fixture
def fake(module_fake: FakeOpenAIServer) -> FakeOpenAIServer:
    module_fake.reset()
    return module_fake


def chat_env(tmp_path: Path) -> dict[str, str]:
    env = server_environment(tmp_path / "chat-home", {"TERM": "xterm-256color", "HOME": str(tmp_path)})
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def start_chat(tmp_path: Path, url: str, *args: str) -> Terminal:
    return Terminal([*memfold_command(), "chat", "--url", url, *args], env=chat_env(tmp_path))


def create_agent(server: ServerProcess, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"sam-{uuid.uuid4().hex[:6]}")
    body.setdefault(
        "memory_blocks",
        [{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "I am Sam."}],
    )
    response = httpx.post(f"{server.base_url}/v1/agents/", json=body, timeout=10)
    assert response.status_code == 200, response.text
    agent: dict[str, Any] = response.json()
    return agent


def requests_to(server: ServerProcess, agent_id: str) -> list[str]:
    """The message routes of this agent that the server logged, in order."""
    pattern = rf'"POST /v1/agents/{re.escape(agent_id)}/(messages(?:/stream)?) HTTP'
    return re.findall(pattern, server.output())


def queue_memory_turn(fake: FakeOpenAIServer) -> None:
    """A three-step turn: a memory edit, a search, then the reply."""
    fake.queue_tool_call(
        "core_memory_append",
        thinking="Remember the cat.",
        label="human",
        content="Has a cat named Tom.",
        request_heartbeat=True,
    )
    fake.queue_tool_call("conversation_search", thinking="Look back.", query="cat", request_heartbeat=True)
    fake.queue_tool_call("send_message", thinking="Answer now.", message="Tom sounds lovely.")


def test_a_streamed_turn_shows_each_kind_of_message(
    tmp_path: Path, server: ServerProcess, fake: FakeOpenAIServer
) -> None:
    agent = create_agent(server, agent_type="memgpt_agent")
    queue_memory_turn(fake)
    with start_chat(tmp_path, server.base_url, agent["name"]) as term:
        term.expect(rf"Talking to {agent['name']} \({agent['id']}\)")
        term.expect("you> ")
        term.type_line("I have a cat called Tom")
        term.expect(r"thinking: Remember the cat\.")
        term.expect(r"memory edit core_memory_append\(label=\"human\", content=\"Has a cat named Tom\.\"")
        term.expect("memory saved ")
        term.expect(r"thinking: Look back\.")
        term.expect(r"tool call conversation_search\(query=\"cat\"")
        term.expect("tool result ")
        term.expect(rf"{agent['name']}: Tom sounds lovely\.")
        term.expect(r"\(3 steps, \d+ tokens\)")
        term.expect("you> ")

        # each kind in its own style: reasoning dim, memory edits magenta, tools yellow, replies green
        assert "2" in term.styles_of("thinking: Remember")
        assert {"1", "35"} <= term.styles_of("memory edit")
        assert {"1", "33"} <= term.styles_of("tool call")
        assert {"1", "32"} <= term.styles_of(f"{agent['name']}: ")

        term.type_line("/memory")
        term.expect(r"human\s+\(\d+/\d+ characters\)")
        term.expect("Has a cat named Tom.")
        term.type_line("/context")
        term.expect("system prompt")
        term.expect(r"total\s+.\s+\d+ / \d+")
        term.expect(r"\d+ messages in context")
        term.type_line("/help")
        term.expect("/memory")
        term.expect("/quit")
        term.type_line("/bogus")
        term.expect("Unknown command /bogus")
        term.type_line("/quit")
        assert term.wait() == 0

    assert requests_to(server, agent["id"]) == ["messages/stream"]
    blocks = httpx.get(f"{server.base_url}/v1/agents/{agent['id']}/core-memory/blocks", timeout=10).json()
    assert "Has a cat named Tom." in next(b["value"] for b in blocks if b["label"] == "human")


def test_without_streaming_the_same_turn_shows_the_same_way(
    tmp_path: Path, server: ServerProcess, fake: FakeOpenAIServer
) -> None:
    agent = create_agent(server, agent_type="memgpt_agent")
    queue_memory_turn(fake)
    with start_chat(tmp_path, server.base_url, agent["id"], "--no-stream") as term:
        term.expect("you> ")
        term.type_line("I have a cat called Tom")
        term.expect(r"memory edit core_memory_append\(")
        term.expect(r"tool call conversation_search\(")
        term.expect(rf"{agent['name']}: Tom sounds lovely\.")
        term.expect(r"\(3 steps, \d+ tokens\)")
        term.expect("you> ")
        term.send_eof()
        assert term.wait() == 0
    assert requests_to(server, agent["id"]) == ["messages"]


def test_pick_or_create_an_agent(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    with ServerProcess(tmp_path / "home", env=fake_openai.env()) as own:
        with start_chat(tmp_path, own.base_url) as term:
            term.expect("No agents yet.")
            term.expect("Name for a new agent: ")
            term.type_line("Ada")
            created = term.expect(r"Created Ada \((agent-[0-9a-f-]{36})\)").group(1)
            term.expect("you> ")
            term.type_line("hello there")
            term.expect("Ada: echo: hello there")  # the fake echoes when nothing is queued
            term.type_line("/quit")
            assert term.wait() == 0

        agents = httpx.get(f"{own.base_url}/v1/agents/", timeout=10).json()
        assert [(a["name"], a["id"]) for a in agents] == [("Ada", created)]
        labels = {b["label"] for b in agents[0]["blocks"]}
        assert {"human", "persona"} <= labels

        with start_chat(tmp_path, own.base_url) as term:
            term.expect(rf"1\s+.\s+Ada\s+.\s+{created}")
            term.expect("Pick an agent by number or name, or type a new name to create one: ")
            term.type_line("7")
            term.expect("There is no agent 7.")
            term.type_line("Bob")  # a new name creates an agent
            term.expect(r"Created Bob \(agent-")
            term.type_line("/quit")
            assert term.wait() == 0

        with start_chat(tmp_path, own.base_url) as term:
            term.expect("Pick an agent")
            term.type_line("1")
            term.expect(rf"Talking to Ada \({created}\)")
            term.type_line("/quit")
            assert term.wait() == 0

        with start_chat(tmp_path, own.base_url) as term:
            term.expect("Pick an agent")
            term.type_line("Ada")  # an existing name picks that agent
            term.expect(rf"Talking to Ada \({created}\)")
            term.expect("you> ")
            term.send_eof()
            assert term.wait() == 0
        names = sorted(a["name"] for a in httpx.get(f"{own.base_url}/v1/agents/", timeout=10).json())
        assert names == ["Ada", "Bob"]


def test_errors_are_reported_and_the_chat_goes_on(
    tmp_path: Path, server: ServerProcess, fake: FakeOpenAIServer
) -> None:
    agent = create_agent(server)
    fake.queue_error(500, "the model is down", times=10)
    with start_chat(tmp_path, server.base_url, agent["id"]) as term:
        term.expect("you> ")
        term.type_line("are you there?")
        term.expect(r"error: .*the model is down")
        term.expect("you> ")
        fake.reset()
        term.type_line("now?")
        term.expect(rf"{agent['name']}: echo: now\?")
        term.type_line("/quit")
        assert term.wait() == 0


def test_unknown_agent_and_unreachable_server_exit_with_1(tmp_path: Path, server: ServerProcess) -> None:
    with start_chat(tmp_path, server.base_url, "nobody-by-this-name") as term:
        term.expect("no agent is named 'nobody-by-this-name'")
        assert term.wait() == 1
    with start_chat(tmp_path, server.base_url, "agent-00000000-0000-4000-8000-000000000999") as term:
        term.expect("error: agent 'agent-00000000-0000-4000-8000-000000000999' not found")
        assert term.wait() == 1
    with start_chat(tmp_path, f"http://127.0.0.1:{free_port()}") as term:
        term.expect("Cannot reach memfold at")
        assert term.wait() == 1


# -- the client without a terminal -------------------------------------------------------------


class HiddenStreamRoute(httpx.BaseTransport):
    """Forwards to the server, but answers `status` for the streaming route, as a server without it."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.inner = httpx.HTTPTransport()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith("/messages/stream"):
            body = {"detail": "Not Found", "code": "not_found", "errors": None}
            return httpx.Response(self.status, json=body)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("status", [404, 405])
def test_falls_back_to_the_plain_route_when_the_stream_route_is_missing(
    server: ServerProcess, fake: FakeOpenAIServer, status: int
) -> None:
    agent = create_agent(server, agent_type="memgpt_agent")
    queue_memory_turn(fake)
    transport = HiddenStreamRoute(status)
    client = ChatClient(server.base_url, transport=transport)
    try:
        events = list(client.send(agent["id"], "I have a cat called Tom"))
        kinds = [e["message_type"] for e in events]
        assert kinds[0] == "user_message" and kinds[-2:] == ["stop_reason", "usage_statistics"]
        assert kinds.count("tool_call_message") == 2 and "assistant_message" in kinds
        assert events[-1]["step_count"] == 3
        assert client.streaming is False  # the plain route answered: no more stream attempts
        fake.queue_tool_call("send_message", message="Again.")
        again = list(client.send(agent["id"], "again"))
        assert [e.get("content") for e in again if e["message_type"] == "assistant_message"] == ["Again."]
    finally:
        client.close()
    stream, plain = f"/v1/agents/{agent['id']}/messages/stream", f"/v1/agents/{agent['id']}/messages"
    assert transport.paths == [stream, plain, plain]


def test_a_missing_agent_does_not_turn_streaming_off(server: ServerProcess) -> None:
    client = ChatClient(server.base_url)
    try:
        with pytest.raises(ServerError) as caught:
            list(client.send("agent-00000000-0000-4000-8000-000000000999", "hi"))
        assert caught.value.status == 404
        assert client.streaming is True
    finally:
        client.close()


def test_server_sent_events_are_parsed() -> None:
    lines = [
        'data: {"message_type":"ping","id":"p"}',
        "",
        'data: {"message_type":"assistant_message","content":"hi"}',
        "",
        'data: {"message_type":"stop_reason","stop_reason":"end_turn"}',
        "",
        "data: [DONE]",
        "",
        'data: {"message_type":"assistant_message","content":"after the end"}',
    ]
    assert [e["message_type"] for e in sse_events(lines)] == ["assistant_message", "stop_reason"]
    failing = ["event: error", 'data: {"detail":"provider down","code":"provider_error","errors":null}', ""]
    with pytest.raises(ServerError) as caught:
        list(sse_events(failing))
    assert (caught.value.detail, caught.value.code) == ("provider down", "provider_error")


@pytest.mark.parametrize(
    ("name", "memory"),
    [
        ("core_memory_append", True),
        ("core_memory_replace", True),
        ("memory_insert", True),
        ("memory_rethink", True),
        ("archival_memory_insert", False),
        ("conversation_search", False),
        ("send_message", False),
    ],
)
def test_memory_tools(name: str, memory: bool) -> None:
    assert is_memory_tool(name) is memory
