"""Agents messaging agents: Letta's `letta_multi_agent_core` tools.

An agent may hand a message to another agent of its organization and go on at once (the message
becomes a durable run of the receiver), wait for the other agent's reply, or ask every agent with
given tags and collect their replies. The receiver sees who wrote (`sender_id` on its user message,
shown to its model as "[message from <id>]").

The tools do not run turns themselves: the server wires an `AgentMessenger` (memfold/runs/messaging.py)
into `ToolRuntime.messaging`. What they do here is keep waiting bounded:

- `CALL_CHAIN` holds the agents whose turns are waiting, innermost last, for the task that runs a
  synchronous send (a nested turn runs in the same task, or a task that copied the context). A send
  to an agent already in the chain would wait for its own lock: it fails at once as a cycle. A send
  past `multi_agent_max_depth` nested sends fails too.
- A reply is awaited at most `multi_agent_reply_timeout` seconds. The receiver's turn is not cut in
  the middle of a step when the sender stops waiting: it completes and its reply stays in its history.
- The tags tool messages at most `multi_agent_max_fanout` agents, concurrently.
- Queued messages passed on from agent to agent stop after `multi_agent_max_hops` (the messenger
  counts them in the runs' metadata).
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextvars import ContextVar
from typing import Protocol

from memfold.config import Settings
from memfold.errors import MemfoldError, ToolError
from memfold.tools.context import ToolContext

log = logging.getLogger("memfold.tools.multi_agent")

CALL_CHAIN: ContextVar[tuple[str, ...]] = ContextVar("memfold_agent_call_chain", default=())
"""The ids of the agents waiting, one inside the other, for the turn under way in this task."""

_waiting: set[asyncio.Future[str]] = set()
"""Replies nobody waits for any more (the sender timed out): kept referenced until they finish."""


class AgentMessenger(Protocol):
    """Delivers one agent's message to another agent of the same organization."""

    async def queue(self, org_id: str, sender_id: str, receiver_id: str, message: str) -> str:
        """Queue the message as a background run of the receiver and return the run's id. Raises
        `NotFoundError` when the organization has no such agent."""
        ...

    async def ask(self, org_id: str, sender_id: str, receiver_id: str, message: str) -> str:
        """Give the receiver a turn with the message now and return its reply text ("" if it said
        nothing). Raises `NotFoundError` when the organization has no such agent."""
        ...

    def find(self, org_id: str, match_all: list[str], match_some: list[str]) -> list[tuple[str, str]]:
        """(id, name) of the organization's agents that have every tag of `match_all` and, when
        `match_some` is not empty, at least one of its tags; oldest first."""
        ...


async def send_message_to_agent_async(agent_state: ToolContext, message: str, other_agent_id: str) -> str:
    """Send a message to another agent without waiting for its reply. It is delivered in the
    background; the other agent can answer with its own message to you.

    Args:
        message: The message to send.
        other_agent_id: The id of the agent to send it to.
    """
    org_id, messenger = _messenger(agent_state)
    _check_text(message)
    if other_agent_id == agent_state.agent_id:
        raise ToolError("you cannot send a message to yourself")
    try:
        run_id = await messenger.queue(org_id, agent_state.agent_id, other_agent_id, message)
    except MemfoldError as e:
        raise ToolError(e.message) from e
    return json.dumps({"status": "queued", "other_agent_id": other_agent_id, "run_id": run_id})


async def send_message_to_agent_and_wait_for_reply(
    agent_state: ToolContext, message: str, other_agent_id: str
) -> str:
    """Send a message to another agent and wait for its reply, which is this tool's result.

    Args:
        message: The message to send.
        other_agent_id: The id of the agent to send it to.
    """
    org_id, messenger = _messenger(agent_state)
    _check_text(message)
    chain = _chain_for(agent_state, other_agent_id)
    return await _ask(agent_state, messenger, org_id, chain, other_agent_id, message)


async def send_message_to_agents_matching_tags(
    agent_state: ToolContext, message: str, match_all: list[str], match_some: list[str]
) -> str:
    """Send a message to every agent whose tags match, at the same time, and return their replies.
    An agent matches when it has all tags in match_all and at least one tag in match_some (when
    match_some is not empty).

    Args:
        message: The message to send.
        match_all: Tags an agent must all have.
        match_some: Tags of which an agent must have at least one.
    """
    org_id, messenger = _messenger(agent_state)
    _check_text(message)
    if not match_all and not match_some:
        raise ToolError("give at least one tag in match_all or match_some")
    found = await asyncio.to_thread(messenger.find, org_id, match_all, match_some)
    targets = [(agent_id, name) for agent_id, name in found if agent_id != agent_state.agent_id]
    if not targets:
        raise ToolError("no agent matches these tags")
    limit = _settings(agent_state).multi_agent_max_fanout
    if len(targets) > limit:
        raise ToolError(
            f"{len(targets)} agents match these tags, more than the limit of {limit} "
            "(MEMFOLD_MULTI_AGENT_MAX_FANOUT); use more specific tags"
        )

    async def one(agent_id: str, name: str) -> dict[str, str]:
        try:
            chain = _chain_for(agent_state, agent_id)
            reply = await _ask(agent_state, messenger, org_id, chain, agent_id, message)
        except ToolError as e:
            return {"agent_id": agent_id, "agent_name": name, "error": e.message}
        return {"agent_id": agent_id, "agent_name": name, "reply": reply}

    replies = await asyncio.gather(*(one(agent_id, name) for agent_id, name in targets))
    return json.dumps(replies, ensure_ascii=False)


def _messenger(ctx: ToolContext) -> tuple[str, AgentMessenger]:
    messenger = ctx.runtime.messaging if ctx.runtime is not None else None
    if messenger is None or ctx.org_id is None:
        raise ToolError("messaging other agents is not available here")
    return ctx.org_id, messenger


def _settings(ctx: ToolContext) -> Settings:
    assert ctx.runtime is not None  # (checked by _messenger)
    return ctx.runtime.settings


def _check_text(message: str) -> None:
    if not message.strip():
        raise ToolError("message is empty: give the text to send")


def _chain_for(ctx: ToolContext, receiver_id: str) -> tuple[str, ...]:
    """The chain of waiting agents once the sender waits for `receiver_id`; `ToolError` for a cycle
    or a chain that is too deep."""
    current = CALL_CHAIN.get()
    waiting = current if current and current[-1] == ctx.agent_id else (*current, ctx.agent_id)
    if receiver_id in waiting:
        route = " -> ".join([*waiting, receiver_id])
        raise ToolError(
            f"agent {receiver_id} is already waiting in this chain of messages ({route}); "
            "waiting for its reply would never end"
        )
    limit = _settings(ctx).multi_agent_max_depth
    if len(waiting) > limit:
        raise ToolError(
            f"this message would be {len(waiting)} agents deep, more than the limit of {limit} "
            "(MEMFOLD_MULTI_AGENT_MAX_DEPTH); answer with what you have"
        )
    return (*waiting, receiver_id)


async def _ask(
    ctx: ToolContext,
    messenger: AgentMessenger,
    org_id: str,
    chain: tuple[str, ...],
    receiver_id: str,
    message: str,
) -> str:
    timeout = _settings(ctx).multi_agent_reply_timeout
    token = CALL_CHAIN.set(chain)
    try:  # the task copies the context now, chain included
        reply = asyncio.ensure_future(messenger.ask(org_id, ctx.agent_id, receiver_id, message))
    finally:
        CALL_CHAIN.reset(token)
    try:
        text = await asyncio.wait_for(asyncio.shield(reply), timeout)
    except TimeoutError:
        _waiting.add(reply)
        reply.add_done_callback(_forget)
        raise ToolError(
            f"agent {receiver_id} did not reply within {timeout:g} seconds; "
            "its answer will be in its own history"
        ) from None
    except MemfoldError as e:
        raise ToolError(e.message) from e
    return text or f"(agent {receiver_id} ended its turn without a reply)"


def _forget(reply: asyncio.Future[str]) -> None:
    _waiting.discard(reply)
    if not reply.cancelled() and (error := reply.exception()) is not None:
        log.warning("a reply nobody waited for failed: %s", error)
