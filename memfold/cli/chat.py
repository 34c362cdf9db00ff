"""`memfold chat [AGENT]`: talk to an agent of a running memfold server from the terminal.

Speaks only the REST API (`--url`), so it works against any memfold (or Letta) server. Replies
stream from `POST /v1/agents/{id}/messages/stream`; a server without that route (404/405) is
asked through `POST /v1/agents/{id}/messages` instead. Reasoning, tool calls and their results,
memory edits and the agent's messages are each shown in their own style.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from memfold.cli._client import client_headers

DEFAULT_URL = "http://127.0.0.1:8283"
TIMEOUT = httpx.Timeout(30.0)
TURN_TIMEOUT = httpx.Timeout(30.0, read=None)
"""A turn may think for minutes; a stream sends pings meanwhile, a plain request just waits."""
NEW_AGENT_BLOCKS = [
    {"label": "human", "value": "", "description": "What I know about the person I talk with."},
    {"label": "persona", "value": "I am a helpful assistant who remembers our conversations."},
]
HELP = """\
/memory   show the agent's core memory blocks
/context  show what the agent's next request holds, in tokens
/help     show this help
/quit     leave (so do Ctrl-D and /exit)
Anything else is sent to the agent."""


class ServerError(Exception):
    """The server answered with an error (memfold's shape: `detail`, `code`)."""

    def __init__(self, status: int, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServerError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return cls(response.status_code, body["detail"], body.get("code"))
        return cls(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")


def is_memory_tool(name: str) -> bool:
    """Tools that edit core memory: `core_memory_*` (MemGPT) and `memory_*` (v2 and native agents)."""
    return name.startswith(("core_memory_", "memory_"))


class ChatClient:
    """The few REST calls the chat needs. `transport` is for tests."""

    def __init__(self, url: str, *, stream: bool = True, transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(
            base_url=url.rstrip("/"), timeout=TIMEOUT, transport=transport, headers=client_headers()
        )
        self.streaming = stream
        """False once the server turned out to have no streaming route (or when asked not to stream)."""

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise ServerError.from_response(response)
        return response.json()

    def list_agents(self) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = self._json(
            self.http.get("/v1/agents/", params={"limit": 1000, "order": "asc"})
        )
        return agents

    def agent(self, ref: str) -> dict[str, Any]:
        """The agent with this id, else the one with this name."""
        if ref.startswith("agent-"):
            found: dict[str, Any] = self._json(self.http.get(f"/v1/agents/{ref}"))
            return found
        named: list[dict[str, Any]] = self._json(self.http.get("/v1/agents/", params={"name": ref}))
        if not named:
            raise ServerError(404, f"no agent is named {ref!r}; run `memfold chat` without one to pick")
        return named[0]

    def create_agent(self, name: str) -> dict[str, Any]:
        body = {"name": name, "memory_blocks": NEW_AGENT_BLOCKS}
        created: dict[str, Any] = self._json(self.http.post("/v1/agents/", json=body))
        return created

    def blocks(self, agent_id: str) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = self._json(self.http.get(f"/v1/agents/{agent_id}/core-memory/blocks"))
        return blocks

    def context(self, agent_id: str) -> dict[str, Any]:
        overview: dict[str, Any] = self._json(self.http.get(f"/v1/agents/{agent_id}/context"))
        return overview

    def send(self, agent_id: str, text: str) -> Iterator[dict[str, Any]]:
        """The turn's events: its messages (`message_type`), then `stop_reason`, then `usage_statistics`."""
        body = {"messages": [{"role": "user", "content": text}]}
        if self.streaming:
            path = f"/v1/agents/{agent_id}/messages/stream"
            with self.http.stream("POST", path, json=body, timeout=TURN_TIMEOUT) as response:
                if response.status_code not in (404, 405):
                    if response.status_code >= 400:
                        response.read()
                        raise ServerError.from_response(response)
                    yield from sse_events(response.iter_lines())
                    return
                response.read()
        reply = self._json(self.http.post(f"/v1/agents/{agent_id}/messages", json=body, timeout=TURN_TIMEOUT))
        self.streaming = False  # the plain route answered where the stream route was missing: keep to it
        yield from reply.get("messages", [])
        for key in ("stop_reason", "usage"):
            if isinstance(reply.get(key), dict):
                yield reply[key]


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Server-Sent Events as JSON objects, until `data: [DONE]`. Pings are dropped; an `error` event
    raises `ServerError`."""
    event = "message"
    for line in lines:
        if not line:
            event = "message"
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                return
            payload = json.loads(data)
            if event == "error":
                detail = payload.get("detail") if isinstance(payload, dict) else None
                raise ServerError(500, str(detail or payload), payload.get("code") if detail else None)
            if isinstance(payload, dict) and payload.get("message_type") != "ping":
                yield payload


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call(name: str, arguments: str) -> str:
    try:
        args = json.loads(arguments)
    except ValueError:
        return f"{name}({_clip(arguments, 200)})"
    if not isinstance(args, dict):
        return f"{name}({_clip(arguments, 200)})"
    shown = ", ".join(f"{k}={_clip(json.dumps(v, ensure_ascii=False), 200)}" for k, v in args.items())
    return f"{name}({shown})"


class Renderer:
    """Shows each kind of message in its own style."""

    def __init__(self, console: Console, agent_name: str) -> None:
        self.console = console
        self.agent_name = agent_name
        self._memory_calls: set[str] = set()

    def show(self, event: dict[str, Any]) -> None:
        kind = event.get("message_type")
        out = self.console
        if kind == "reasoning_message":
            out.print(Text(f"  thinking: {event.get('reasoning', '')}", style="dim italic"))
        elif kind == "hidden_reasoning_message":
            out.print(Text("  thinking (hidden)", style="dim italic"))
        elif kind == "tool_call_message":
            call = event.get("tool_call") or {}
            name = str(call.get("name", "?"))
            text = _call(name, str(call.get("arguments", "")))
            if is_memory_tool(name):
                self._memory_calls.add(str(call.get("tool_call_id")))
                out.print(Text.assemble(("  memory edit ", "bold magenta"), (text, "magenta")))
            else:
                out.print(Text.assemble(("  tool call ", "bold yellow"), (text, "yellow")))
        elif kind == "tool_return_message":
            ok = event.get("status") != "error"
            result = _clip(str(event.get("tool_return", "")))
            if event.get("tool_call_id") in self._memory_calls:
                label, style = ("  memory saved ", "magenta") if ok else ("  memory edit failed ", "bold red")
            else:
                label, style = ("  tool result ", "yellow") if ok else ("  tool error ", "bold red")
            out.print(Text.assemble((label, style), (result, "dim" if ok else "red")))
        elif kind == "assistant_message":
            content = str(event.get("content", ""))
            out.print(Text.assemble((f"{self.agent_name}: ", "bold green"), (content, "")))
        elif kind == "summary_message":
            out.print(Text("  (earlier messages were summarized to make room)", style="dim"))
        elif kind == "stop_reason":
            reason = event.get("stop_reason")
            if reason not in ("end_turn", None):
                out.print(Text(f"  [turn stopped: {reason}]", style="bold yellow"))
        elif kind == "usage_statistics":
            steps, tokens = event.get("step_count", 0), event.get("total_tokens", 0)
            out.print(Text(f"  ({steps} step{'s' if steps != 1 else ''}, {tokens} tokens)", style="dim"))
        # user and system messages echo what was sent: not shown again

    def memory(self, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            self.console.print(Text("The agent has no memory blocks.", style="dim"))
        for block in blocks:
            value = str(block.get("value", ""))
            title = f"{block.get('label')}  ({len(value)}/{block.get('limit')} characters)"
            self.console.print(Panel(Text(value or "(empty)"), title=title, title_align="left"))

    def context(self, overview: dict[str, Any]) -> None:
        table = Table(title="Next request", show_header=True, header_style="bold")
        table.add_column("part")
        table.add_column("tokens", justify="right")
        parts = [
            ("system prompt", "num_tokens_system"),
            ("core memory", "num_tokens_core_memory"),
            ("memory summary", "num_tokens_external_memory_summary"),
            ("conversation summary", "num_tokens_summary_memory"),
            ("tool definitions", "num_tokens_functions_definitions"),
            ("messages", "num_tokens_messages"),
        ]
        for label, key in parts:
            table.add_row(label, str(overview.get(key, 0)))
        current, limit = overview.get("context_window_size_current"), overview.get("context_window_size_max")
        table.add_row(Text("total", style="bold"), Text(f"{current} / {limit}", style="bold"))
        self.console.print(table)
        self.console.print(
            Text(
                f"{overview.get('num_messages', 0)} messages in context, "
                f"{overview.get('num_recall_memory', 0)} in recall memory, "
                f"{overview.get('num_archival_memory', 0)} archival passages",
                style="dim",
            )
        )


def _ask(console: Console, prompt: str) -> str | None:
    """A line from the user; None at end of input (Ctrl-D) or on Ctrl-C."""
    try:
        return console.input(Text(prompt, style="bold")).strip()
    except (EOFError, KeyboardInterrupt):
        console.print()
        return None


def pick_agent(client: ChatClient, console: Console) -> dict[str, Any] | None:
    """List the agents and let the user pick one by number or name, or name a new one."""
    agents = client.list_agents()
    if agents:
        table = Table(show_header=True, header_style="bold")
        for column in ("#", "name", "id", "model"):
            table.add_column(column)
        for number, agent in enumerate(agents, start=1):
            model = agent.get("model") or (agent.get("llm_config") or {}).get("handle") or ""
            table.add_row(str(number), str(agent.get("name")), str(agent.get("id")), str(model))
        console.print(table)
        prompt = "Pick an agent by number or name, or type a new name to create one: "
    else:
        console.print("No agents yet.")
        prompt = "Name for a new agent: "
    while True:
        answer = _ask(console, prompt)
        if answer is None:
            return None
        if answer.isdigit():
            if 1 <= int(answer) <= len(agents):
                return agents[int(answer) - 1]
            console.print(Text(f"There is no agent {answer}.", style="yellow"))
            continue
        named = [a for a in agents if a.get("name") == answer]
        if named:
            return named[0]
        if answer:
            try:
                created = client.create_agent(answer)
            except ServerError as e:
                console.print(Text(f"Could not create the agent: {e.detail}", style="red"))
                continue
            console.print(Text(f"Created {created['name']} ({created['id']}).", style="green"))
            return created


def converse(client: ChatClient, console: Console, agent: dict[str, Any]) -> None:
    renderer = Renderer(console, str(agent.get("name") or agent["id"]))
    console.print(Text(f"Talking to {agent.get('name')} ({agent['id']}). /help lists the commands.", "dim"))
    while True:
        line = _ask(console, "you> ")
        if line is None or line in ("/quit", "/exit"):
            return
        try:
            if line == "/help":
                console.print(Text(HELP))
            elif line == "/memory":
                renderer.memory(client.blocks(agent["id"]))
            elif line == "/context":
                renderer.context(client.context(agent["id"]))
            elif line.startswith("/"):
                console.print(Text(f"Unknown command {line.split()[0]}; /help lists the commands.", "yellow"))
            elif line:
                for event in client.send(agent["id"], line):
                    renderer.show(event)
        except ServerError as e:
            console.print(Text(f"error: {e.detail}", style="bold red"))
        except httpx.HTTPError as e:
            console.print(Text(f"error: the server did not answer ({type(e).__name__}: {e})", "bold red"))


def chat(
    agent: Annotated[
        str | None, typer.Argument(help="Agent id or name. Without one, pick an agent or create one.")
    ] = None,
    url: Annotated[str, typer.Option(help="The memfold server to talk to.")] = DEFAULT_URL,
    stream: Annotated[
        bool, typer.Option(help="Stream replies as they are made (falls back when the server cannot).")
    ] = True,
) -> None:
    """Chat with an agent in the terminal, through a running server's REST API."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  - line editing and history for input()

    console = Console(highlight=False)
    client = ChatClient(url, stream=stream)
    try:
        chosen = client.agent(agent) if agent else pick_agent(client, console)
        if chosen is not None:
            converse(client, console, chosen)
    except httpx.TransportError as e:
        console.print(Text(f"Cannot reach memfold at {url} ({e}). Is `memfold serve` running?", "bold red"))
        raise typer.Exit(1) from None
    except ServerError as e:
        console.print(Text(f"error: {e.detail}", style="bold red"))
        raise typer.Exit(1) from None
    finally:
        client.close()
