"""The acceptance test: the official `letta-client` SDK against a real `memfold serve` subprocess.

The server's `openai/...` model points (OPENAI_BASE_URL) at a fake OpenAI-compatible server
started by the test, so the whole path is real: SDK -> HTTP -> memfold -> openai SDK -> HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta, NotFoundError, UnprocessableEntityError

from tests.e2e.server_process import ServerProcess
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "openai/gpt-4o-mini"
HUMAN = "Name: Ada"
PERSONA = "I am Sam, a concise assistant."

pytestmark = pytest.mark.timeout(60)


def letta(server: ServerProcess) -> Letta:
    return Letta(base_url=server.base_url, max_retries=0, timeout=20.0)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_agent(client: Letta, **params: Any) -> Any:
    params.setdefault("name", unique("e2e"))
    return client.agents.create(
        model=MODEL,
        memory_blocks=[{"label": "human", "value": HUMAN}, {"label": "persona", "value": PERSONA}],
        tools=["send_message", "core_memory_append"],
        include_base_tools=False,
        **params,
    )


def text_of(message: dict[str, Any]) -> str:
    """The text of a chat message as sent to the provider (a string or a list of text parts)."""
    content = message.get("content") or ""
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def system_prompt(chat_request: dict[str, Any]) -> str:
    first = chat_request["messages"][0]
    assert first["role"] == "system"
    return text_of(first)


def user_texts(chat_request: dict[str, Any]) -> list[str]:
    return [text_of(m) for m in chat_request["messages"] if m["role"] == "user"]


def offered_tools(chat_request: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in chat_request.get("tools") or []}


def transcript(client: Letta, agent_id: str) -> list[tuple[str, str]]:
    """(id, message_type) of every message of the agent, oldest first."""
    page = client.agents.messages.list(agent_id, order="asc", limit=1000)
    return [(m.id, str(m.message_type)) for m in page.items]


def print_server_output(server: ServerProcess) -> None:
    """Shown by pytest only when the test fails."""
    print(f"--- memfold serve output ({server.log_path}) ---")
    print("\n".join(server.output().splitlines()[-80:]))


# -- the scenario: talk, edit memory, restart ---------------------------------------


@pytest.fixture
def own_server(tmp_path: Path, fake_openai: FakeOpenAIServer) -> Iterator[ServerProcess]:
    """A server of this test alone (it gets restarted)."""
    server = ServerProcess(tmp_path / "home", env=fake_openai.env())
    with server:
        yield server
    print_server_output(server)


def test_conversation_memory_edit_and_restart(
    own_server: ServerProcess, fake_openai: FakeOpenAIServer
) -> None:
    client = letta(own_server)
    agent = create_agent(client)
    assert agent.id.startswith("agent-")
    assert {b.label: b.value for b in agent.memory.blocks} == {"human": HUMAN, "persona": PERSONA}

    # 1. "hi" gets the queued reply back as an assistant message.
    fake_openai.queue_tool_call("send_message", thinking="Greet back.", message="Hello Ada!")
    response = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "hi"}])
    assert response.stop_reason.stop_reason == "end_turn"
    assistant = [m for m in response.messages if m.message_type == "assistant_message"]
    assert [m.content for m in assistant] == ["Hello Ada!"]
    assert [m.content for m in response.messages if m.message_type == "user_message"] == ["hi"]
    [first] = fake_openai.chat_requests
    assert first["model"] == "gpt-4o-mini"
    assert offered_tools(first) == {"send_message", "core_memory_append"}
    assert HUMAN in system_prompt(first) and PERSONA in system_prompt(first)
    assert first["messages"][-1]["role"] == "user" and user_texts(first) == ["hi"]

    # 2. The model edits its memory, asks for a heartbeat, then answers.
    fake_openai.clear_requests()
    fake_openai.queue_tool_call(
        "core_memory_append",
        thinking="Remember this.",
        label="human",
        content="Likes green tea.",
        request_heartbeat=True,
    )
    fake_openai.queue_tool_call("send_message", thinking="Confirm.", message="Noted: green tea.")
    response = client.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "I like green tea."}]
    )
    assert response.stop_reason.stop_reason == "end_turn"
    types = [m.message_type for m in response.messages]
    assert types.count("tool_call_message") == 1 and types.count("tool_return_message") == 1
    [call] = [m for m in response.messages if m.message_type == "tool_call_message"]
    assert call.tool_call.name == "core_memory_append"
    [result] = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert result.status == "success"
    assert [m.content for m in response.messages if m.message_type == "assistant_message"] == [
        "Noted: green tea."
    ]
    assert response.usage.step_count == 2

    human = client.agents.blocks.retrieve("human", agent_id=agent.id)
    assert human.value.startswith(HUMAN) and human.value.endswith("Likes green tea.")
    before_edit, after_edit = fake_openai.chat_requests
    assert "Likes green tea." not in system_prompt(before_edit)
    assert "Likes green tea." in system_prompt(after_edit)  # the very next LLM call sees the edit
    assert after_edit["messages"][-1]["role"] == "tool"

    # 3. Restart on the same MEMFOLD_HOME: everything is still there, in the same order.
    agent_before = client.agents.retrieve(agent.id)
    blocks_before = {(b.id, b.label, b.value) for b in client.agents.blocks.list(agent.id).items}
    messages_before = transcript(client, agent.id)
    assert [t for _, t in messages_before].count("assistant_message") == 2
    own_server.restart()
    assert own_server.starts == 2

    assert [a.id for a in client.agents.list(name=agent.name).items] == [agent.id]
    agent_after = client.agents.retrieve(agent.id)
    assert agent_after.message_ids == agent_before.message_ids
    assert {(b.id, b.label, b.value) for b in client.agents.blocks.list(agent.id).items} == blocks_before
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == human.value
    assert transcript(client, agent.id) == messages_before

    # ... and the agent answers a new message, with its history and edited memory in context.
    fake_openai.clear_requests()
    fake_openai.queue_tool_call("send_message", thinking="Still here.", message="Still here, Ada.")
    response = client.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "are you still there?"}]
    )
    assert response.stop_reason.stop_reason == "end_turn"
    assert [m.content for m in response.messages if m.message_type == "assistant_message"] == [
        "Still here, Ada."
    ]
    [after_restart] = fake_openai.chat_requests
    assert "Likes green tea." in system_prompt(after_restart)
    assert user_texts(after_restart) == ["hi", "I like green tea.", "are you still there?"]
    assert transcript(client, agent.id)[: len(messages_before)] == messages_before


# -- the rest of the surface, on one shared server ------------------------------------------


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory, module_fake: FakeOpenAIServer
) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("shared") / "home", env=module_fake.env()) as server:
        yield server


@pytest.fixture
def client(shared_server: ServerProcess, module_fake: FakeOpenAIServer) -> Iterator[Letta]:
    module_fake.reset()
    yield letta(shared_server)
    print_server_output(shared_server)


def test_list_agents_by_name_and_tags(client: Letta) -> None:
    tag, other = unique("team"), unique("other")
    alpha = create_agent(client, name=unique("alpha"), tags=[tag, "alpha"])
    beta = create_agent(client, name=unique("beta"), tags=[tag, "beta"])
    create_agent(client, name=unique("gamma"), tags=[other])

    assert [a.id for a in client.agents.list(name=alpha.name).items] == [alpha.id]
    assert sorted(a.id for a in client.agents.list(tags=[tag]).items) == sorted([alpha.id, beta.id])
    both = client.agents.list(tags=[tag, "beta"], match_all_tags=True).items
    assert [a.id for a in both] == [beta.id]
    assert client.agents.list(name=unique("nobody")).items == []
    assert set(client.agents.retrieve(beta.id).tags) == {tag, "beta"}


def test_blocks_create_list_retrieve_update_delete(client: Letta) -> None:
    label = unique("notes")
    block = client.blocks.create(label=label, value="first", limit=100, description="scratch")
    assert block.id.startswith("block-")
    assert (block.label, block.value, block.limit) == (label, "first", 100)

    assert [b.id for b in client.blocks.list(label=label).items] == [block.id]
    fetched = client.blocks.retrieve(block.id)
    assert (fetched.value, fetched.description) == ("first", "scratch")

    updated = client.blocks.update(block.id, value="second")
    assert updated.value == "second"
    assert client.blocks.retrieve(block.id).value == "second"

    client.blocks.delete(block.id)
    assert client.blocks.list(label=label).items == []
    with pytest.raises(NotFoundError):
        client.blocks.retrieve(block.id)


def test_agent_block_update_shows_in_agent_and_next_prompt(
    client: Letta, module_fake: FakeOpenAIServer
) -> None:
    agent = create_agent(client)
    client.agents.blocks.update("persona", agent_id=agent.id, value="I am Sam, and I speak French.")
    assert client.agents.blocks.retrieve("persona", agent_id=agent.id).value.endswith("French.")
    client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "bonjour"}])
    assert "I speak French." in system_prompt(module_fake.last_chat_request)


def test_unknown_ids_raise_not_found(client: Letta) -> None:
    missing_agent = f"agent-{uuid.uuid4()}"
    with pytest.raises(NotFoundError) as caught:
        client.agents.retrieve(missing_agent)
    assert caught.value.status_code == 404
    assert isinstance(caught.value.body, dict) and missing_agent in caught.value.body["detail"]

    with pytest.raises(NotFoundError):
        client.blocks.retrieve(f"block-{uuid.uuid4()}")
    with pytest.raises(NotFoundError):
        client.agents.messages.create(missing_agent, messages=[{"role": "user", "content": "hi"}])
    agent = create_agent(client)
    with pytest.raises(NotFoundError):
        client.agents.blocks.retrieve("no-such-label", agent_id=agent.id)


def test_block_value_over_limit_is_unprocessable(client: Letta) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.blocks.create(label=unique("tiny"), value="x" * 11, limit=10)
    assert caught.value.status_code == 422

    block = client.blocks.create(label=unique("tiny"), value="ok", limit=10)
    with pytest.raises(UnprocessableEntityError):
        client.blocks.update(block.id, value="y" * 11)
    assert client.blocks.retrieve(block.id).value == "ok"

    agent = create_agent(client)
    with pytest.raises(UnprocessableEntityError):
        client.agents.blocks.update("human", agent_id=agent.id, value="z" * 6000)
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == HUMAN
