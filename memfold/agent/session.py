"""One agent's state for the length of a turn: loaded once, written back step by step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, update

from memfold.llm.base import ModelHandle, ModelResponse
from memfold.memory.core import CoreMemory
from memfold.schemas.base import utcnow
from memfold.schemas.messages import Message
from memfold.schemas.tools import Tool
from memfold.store import agents as agent_rows
from memfold.store import blocks as block_rows
from memfold.store import messages as message_rows
from memfold.store import steps as step_rows
from memfold.store import tables as t
from memfold.store import tools as tool_rows
from memfold.store.agents import AgentRecord
from memfold.store.engine import Database
from memfold.store.message_cache import MessageCache

if TYPE_CHECKING:
    from memfold.agent.loop import TurnResult


@dataclass(frozen=True)
class RunLease:
    """Who holds a run being created, and for how long before it must renew (see memfold.runs)."""

    owner: str
    duration: timedelta


@dataclass
class AgentSession:
    db: Database
    org_id: str
    agent: AgentRecord
    memory: CoreMemory
    tools: list[Tool]
    in_context: list[Message]
    step_writes: list[Callable[[Connection], None]] = field(default_factory=list)
    """Writes staged by tools during a step (e.g. archival inserts), done in the step's transaction."""

    def commit_step(
        self,
        *,
        step_id: str,
        run_id: str,
        messages: list[Message],
        response: ModelResponse,
        llm_ms: int,
        final: TurnResult | None,
        started: float,
        create_run: RunLease | None,
    ) -> None:
        """Write one step atomically: its messages, memory edits, the in-context list, the step row,
        and (on the first/last step) the run row."""
        handle = ModelHandle.parse(self.agent.model)
        in_context = [m for m in messages if m.role != "approval"]  # an approval answer is history only
        message_ids = [*self.agent.message_ids, *(m.id for m in in_context)]
        now = utcnow()
        staged, self.step_writes[:] = list(self.step_writes), []
        with self.db.write() as conn:
            message_rows.insert_messages(conn, self.org_id, messages)
            for write in staged:
                write(conn)
            edited = bool(self.memory.edited)
            # Re-applied to any version another agent or the API saved meanwhile; then the blocks
            # others changed are reloaded, so the next step's prompt shows them.
            self.memory.save(conn, self.org_id, self.agent.id)
            self.memory.refresh(conn, self.agent.id)
            values: dict[str, object] = {"message_ids": message_ids}
            if edited:
                values["memory_edited_at"] = now
            if final is not None:
                values.update(
                    last_stop_reason=final.stop_reason,
                    last_run_completion=now,
                    last_run_duration_ms=int((time.perf_counter() - started) * 1000),
                )
            agent_rows.update_agent(conn, self.agent.id, values)
            step_rows.insert_step(
                conn,
                self.org_id,
                step_id,
                {
                    "agent_id": self.agent.id,
                    "run_id": run_id,
                    "model": handle.model,
                    "provider": handle.provider,
                    "prompt_tokens": response.usage.prompt_tokens,
                    "completion_tokens": response.usage.completion_tokens,
                    "total_tokens": response.usage.total_tokens,
                    "context_window_limit": self.agent.context_window_limit,
                    "stop_reason": final.stop_reason if final else None,
                    "status": "success",
                    "llm_ms": llm_ms,
                    "duration_ms": int((time.perf_counter() - started) * 1000),
                },
            )
            if create_run is not None:
                conn.execute(
                    insert(t.runs).values(
                        id=run_id,
                        organization_id=self.org_id,
                        agent_id=self.agent.id,
                        status="running",
                        background=False,
                        created_at=now,
                        started_at=now,
                        attempts=1,
                        lease_owner=create_run.owner,
                        lease_expires_at=now + create_run.duration,
                    )
                )
            if final is not None:
                status = "cancelled" if final.stop_reason == "cancelled" else "completed"
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == run_id)
                    .values(status=status, stop_reason=final.stop_reason, completed_at=now)
                )
        self.agent.message_ids = message_ids
        self.in_context.extend(in_context)

    def finish_run(self, result: TurnResult, status: str, error: str | None, started: float) -> None:
        """Close the run of a turn that ended between steps: failed after some steps had committed, or
        cancelled."""
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == result.run_id)
                .values(status=status, stop_reason=result.stop_reason, error=error, completed_at=now)
            )
            agent_rows.update_agent(
                conn,
                self.agent.id,
                {
                    "last_stop_reason": result.stop_reason,
                    "last_run_completion": now,
                    "last_run_duration_ms": int((time.perf_counter() - started) * 1000),
                },
            )


def load_session(db: Database, org_id: str, agent_id: str, cache: MessageCache) -> AgentSession:
    with db.read() as conn:
        agent = agent_rows.get_agent(conn, org_id, agent_id)
        blocks = block_rows.versioned_blocks_of_agent(conn, agent_id)
        tools = tool_rows.tools_of_agents(conn, [agent_id])[agent_id]
        in_context = cache.get_many(conn, agent.message_ids)
    memory = CoreMemory([b for b, _ in blocks], {b.id: v for b, v in blocks})
    return AgentSession(db, org_id, agent, memory, tools, in_context)
