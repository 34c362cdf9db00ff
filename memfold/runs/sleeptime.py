"""Starting sleep-time runs: after every N turns of a main agent, a background run of its sleep-time
agent over the transcript since the previous one (memfold/agent/sleeptime.py).

The main agent's turn never waits for any of it. `AgentLoop.send` calls `after_turn` once the
turn has returned and its lock is released; that only schedules a task. The task counts the turn
in the group row and, when `sleeptime_agent_frequency` turns have passed, queues a run of the
sleep-time agent in the same transaction (one insert; a worker picks it up like any background
run, so it survives a restart and is listed by `/v1/runs?agent_id=<sleep-time agent>`).

- **Coalescing.** While the sleep-time agent has a queued or running run, no other is queued; the
  turns keep counting, and the next run is queued after the main agent's next turn (or when the
  sleep-time run itself ends) and covers all the turns since the last one.
- **Cheap for agents without a group.** Most agents have no sleep-time agent; a lookup that finds
  no group is remembered for `NO_GROUP_TTL` seconds, so their turns cost no read. A group created
  meanwhile (here or by another process) is noticed within that time; the turns before are not
  counted.
- **Faults stay there.** A failing sleep-time run fails its own run row; a fault while scheduling
  is logged. Neither reaches the main agent.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import Connection

from memfold.agent import sleeptime
from memfold.agent.loop import AgentLoop, TurnResult
from memfold.runs import queue
from memfold.runs.workers import RunWorkers
from memfold.schemas.messages import LettaRequest, MessageCreate
from memfold.store import agents as agent_rows
from memfold.store import groups as group_rows
from memfold.store import messages as message_rows
from memfold.store.engine import Database
from memfold.store.groups import GroupRecord

log = logging.getLogger("memfold.sleeptime")

NO_GROUP_TTL = 5.0
"""Seconds for which an agent found to have no sleep-time group is taken to still have none."""


class SleeptimeScheduler:
    def __init__(self, db: Database, loop: AgentLoop, workers: RunWorkers) -> None:
        self.db = db
        self.loop = loop
        self.workers = workers
        self._tasks: set[asyncio.Task[None]] = set()
        self._without_group: dict[str, float] = {}
        """Agent id -> the monotonic time until which it is taken to have no group."""
        loop.after_turn.append(self.turn_ended)

    def turn_ended(self, org_id: str, agent_id: str, result: TurnResult) -> None:
        """The loop's `after_turn` listener: schedule the bookkeeping and return at once."""
        if result.steps == 0:
            return  # nothing was said (e.g. a cancelled run)
        if self._without_group.get(agent_id, 0.0) > time.monotonic():
            return
        task = asyncio.get_running_loop().create_task(self._after_turn(org_id, agent_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until the scheduling tasks under way are done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _after_turn(self, org_id: str, agent_id: str) -> None:
        try:
            queued = await asyncio.to_thread(self._count_and_queue, org_id, agent_id)
        except Exception:  # the main agent's turn is done and answered: only log
            log.exception("scheduling a sleep-time run after a turn of %s failed", agent_id)
            return
        if queued is not None:
            log.info("queued sleep-time run %s", queued)
            self.workers.start(recover=False)  # wake the dispatcher

    def _count_and_queue(self, org_id: str, agent_id: str) -> str | None:
        with self.db.read() as conn:  # most turns are of agents without a group: one cheap read
            group = group_rows.group_of_member(conn, agent_id)
        if group is None:
            if len(self._without_group) > 100_000:
                self._without_group.clear()
            self._without_group[agent_id] = time.monotonic() + NO_GROUP_TTL
            return None
        self._without_group.pop(agent_id, None)
        with self.db.write() as conn:
            if agent_id == group.manager_agent_id:
                group_rows.count_turn(conn, group.id)
            group = group_rows.group_of_manager(conn, group.manager_agent_id)
            if group is None or group.turns_since_run < group.sleeptime_agent_frequency:
                return None
            if group_rows.has_active_run(conn, group.sleeptime_agent_id):
                return None  # coalesce: the next one covers these turns too
            return self._queue(conn, org_id, group)

    def _queue(self, conn: Connection, org_id: str, group: GroupRecord) -> str | None:
        main = agent_rows.get_agent(conn, org_id, group.manager_agent_id)
        limit = self.loop.settings.sleeptime_transcript_messages
        ids = group_rows.message_ids_after(conn, main.id, group.last_processed_message_id, limit)
        if not ids:
            return None
        messages = message_rows.get_messages(conn, ids)
        sleeptime.share_blocks(conn, main.id, group.sleeptime_agent_id)
        request = LettaRequest(
            messages=[MessageCreate(role="user", content=sleeptime.transcript(main, messages))],
            max_steps=self.loop.settings.sleeptime_max_steps,
        )
        saved = request.model_dump(mode="json", exclude_none=True)
        metadata = {"sleeptime_group_id": group.id, "main_agent_id": main.id}
        run_id = queue.enqueue(conn, org_id, group.sleeptime_agent_id, saved, metadata=metadata)
        group_rows.update_group(conn, group.id, {"turns_since_run": 0, "last_processed_message_id": ids[-1]})
        return run_id
