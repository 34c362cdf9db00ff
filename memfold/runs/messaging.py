"""Delivering one agent's message to another: the `AgentMessenger` the multi-agent tools use
(memfold/tools/multi_agent.py), built on the agent loop and the run workers.

A message is a user message of the receiver with `sender_id` set to the sender, so the receiver's
model reads "[message from <sender id>]" before it. Receivers are looked up in the sender's
organization only. A queued message is a background run like `POST /messages` with
`background=true`: it survives a restart. A message that waits for a reply gives the receiver its
turn at once, in the sender's task (its lock taken like any turn), and the reply is what the
receiver said to its user in that turn.

Queued messages can bounce between agents without anyone waiting (A queues for B, whose run
queues for A, ...). Each queued run records in its metadata how many such messages led to it
(`hops`); one past `multi_agent_max_hops` is refused with a tool error, so a ping-pong ends.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, select

from memfold.agent.loop import AgentLoop
from memfold.agent.views import letta_messages
from memfold.errors import ToolError
from memfold.runs import queue
from memfold.runs.workers import RunWorkers
from memfold.schemas.messages import AssistantMessage, LettaRequest, Message, MessageCreate
from memfold.store import agents as agent_rows
from memfold.store import tables as t
from memfold.store.engine import Database


class RunMessenger:
    def __init__(self, db: Database, loop: AgentLoop, workers: RunWorkers) -> None:
        self.db = db
        self.loop = loop
        self.workers = workers

    async def queue(self, org_id: str, sender_id: str, receiver_id: str, message: str) -> str:
        request = LettaRequest(messages=[_from_agent(sender_id, message)])
        run_id = await asyncio.to_thread(self._enqueue, org_id, sender_id, receiver_id, request)
        self.workers.start(recover=False)  # wake the dispatcher
        return run_id

    def _enqueue(self, org_id: str, sender_id: str, receiver_id: str, request: LettaRequest) -> str:
        with self.db.write() as conn:
            agent_rows.get_agent(conn, org_id, receiver_id)  # NotFoundError outside the organization
            hops = self._hops(conn, sender_id) + 1
            limit = self.loop.settings.multi_agent_max_hops
            if hops > limit:
                raise ToolError(
                    f"this message would be the {hops}th in a row passed from agent to agent without a "
                    f"person, more than the limit of {limit} (MEMFOLD_MULTI_AGENT_MAX_HOPS); "
                    "answer with what you have"
                )
            saved = request.model_dump(mode="json", exclude_none=True)
            metadata = {"sender_id": sender_id, "hops": hops}
            return queue.enqueue(conn, org_id, receiver_id, saved, metadata=metadata)

    def _hops(self, conn: Connection, agent_id: str) -> int:
        """How many agent-to-agent messages led to the queued run the agent is executing here now
        (0 when it runs for a person). An agent executes one queued run at a time."""
        c = t.runs.c
        running = conn.execute(
            select(c.metadata).where(
                c.agent_id == agent_id, c.status == "running", c.lease_owner == self.loop.owner
            )
        ).scalars()
        return max((int(m.get("hops", 0)) for m in running if isinstance(m, dict)), default=0)

    async def ask(self, org_id: str, sender_id: str, receiver_id: str, message: str) -> str:
        await asyncio.to_thread(self._check, org_id, receiver_id)
        result = await self.loop.send(org_id, receiver_id, [_from_agent(sender_id, message)])
        return reply_text(result.messages)

    def _check(self, org_id: str, agent_id: str) -> None:
        with self.db.read() as conn:
            agent_rows.get_agent(conn, org_id, agent_id)

    def find(self, org_id: str, match_all: list[str], match_some: list[str]) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            if match_all:
                found = agent_rows.list_agents(
                    conn, org_id, tags=match_all, match_all_tags=True, limit=None, order="asc"
                )
            else:
                found = agent_rows.list_agents(conn, org_id, tags=match_some, limit=None, order="asc")
            if match_all and match_some:
                tags = agent_rows.tags_of_agents(conn, [a.id for a in found])
                found = [a for a in found if set(tags.get(a.id, ())) & set(match_some)]
        return [(a.id, a.name) for a in found]


def _from_agent(sender_id: str, message: str) -> MessageCreate:
    return MessageCreate(role="user", content=message, sender_id=sender_id)


def reply_text(messages: list[Message]) -> str:
    """What an agent said to its user in a turn (its `send_message` texts, or its plain text in native
    mode), in order."""
    said = [v.content for v in letta_messages(messages) if isinstance(v, AssistantMessage)]
    return "\n".join(said)
