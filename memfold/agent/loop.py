"""The step loop. One step = compile context -> one LLM call -> execute tools -> persist.

Each step commits atomically (its messages, memory edits, the new in-context list and the
step row land together), so a crash or a provider fault never leaves half a step. A turn
is a chain of steps: in MemGPT mode a heartbeat or a tool error buys another step; in
native mode (`letta_v1_agent`) a tool call continues and plain text ends the turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from memfold.agent.act import Step, TurnTools, act, pending_approval, resolve_approval, waiting_calls
from memfold.agent.deltas import StepDeltas
from memfold.agent.prompts import is_memgpt_mode
from memfold.agent.session import AgentSession, RunLease, load_session
from memfold.agent.stream import TurnStream
from memfold.agent.window import OVERFLOW_RETRIES, ContextWindow, PreparedRequest
from memfold.config import Settings
from memfold.context.compiler import tool_specs
from memfold.errors import (
    BadRequestError,
    ConflictError,
    ContextWindowExceededError,
    ContextWindowTooSmallError,
    MemfoldError,
    ProviderError,
)
from memfold.folders.agent_files import AgentFiles
from memfold.ids import new_id
from memfold.llm.base import Model, ModelResponse, ToolSpec
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalMemory
from memfold.memory.external import ExternalMemory
from memfold.memory.recall import RecallMemory
from memfold.schemas.base import utcnow
from memfold.schemas.messages import ApprovalCreate, ClientTool, Message, MessageCreate, StopReasonType
from memfold.store.engine import Database
from memfold.store.locks import AdvisoryLocks, advisory_key
from memfold.store.message_cache import MessageCache
from memfold.tools.builtin import ToolContext
from memfold.tools.runtime import ToolRuntime


@dataclass
class TurnResult:
    messages: list[Message] = field(default_factory=list)
    stop_reason: StopReasonType = "end_turn"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    run_id: str = ""


class AgentLocks:
    """Steps of one agent never interleave: `async with locks(agent_id)` holds the agent's lock in this
    process and, on PostgreSQL (`shared`), its advisory lock, so that other processes on the same
    database wait too (memfold/store/locks.py). Both are released however the block ends; the
    advisory lock also when the process dies."""

    def __init__(self, shared: AdvisoryLocks | None = None) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self.shared = shared

    @asynccontextmanager
    async def __call__(self, agent_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = self._locks[agent_id] = asyncio.Lock()
        async with lock:  # first: a process's turns share one session, which may take a key twice
            if self.shared is None:
                yield
                return
            key = advisory_key("agent", agent_id)
            await self.shared.acquire(key)
            try:
                yield
            finally:
                self.shared.release(key)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()


class AgentLoop:
    def __init__(
        self,
        db: Database,
        models: ModelRegistry,
        settings: Settings,
        external: ExternalMemory | None = None,
        runtime: ToolRuntime | None = None,
    ) -> None:
        self.db = db
        self.models = models
        self.settings = settings
        self.locks = AgentLocks(None if db.is_sqlite else AdvisoryLocks(db.url))
        self.messages = MessageCache()
        self.external = external or ExternalMemory(db, models)
        self.window = ContextWindow(db, settings)
        self.runtime = runtime or ToolRuntime(settings)
        self.cancelled: set[str] = set()
        self.owner = new_id("process")
        """This process's name on the run leases it holds."""
        self.active_runs: set[str] = set()
        self.on_turn_end: list[Callable[[], None]] = []
        """Called when any turn ends (the run workers look for the agent's next queued run)."""
        self.after_turn: list[Callable[[str, str, TurnResult], None]] = []
        """Called with (org id, agent id, result) after a turn that returned, its lock released (the
        sleep-time scheduler counts the turn). Must not block: the caller is waiting for its reply."""

    async def send(
        self,
        org_id: str,
        agent_id: str,
        inputs: Sequence[MessageCreate | ApprovalCreate],
        *,
        max_steps: int | None = None,
        stream: TurnStream | None = None,
        run_id: str | None = None,
        client_tools: list[ClientTool] | None = None,
    ) -> TurnResult:
        """Take one turn: answer new messages, or carry on after an approval answer. `run_id` names a
        queued run (its row exists); without it the turn's run is created with its first step. With
        `stream`, every message is also written there as it is made, and the stream is finished (or
        failed) when the turn ends. `client_tools` are offered for this turn; the client runs them."""
        try:
            async with self.locks(agent_id):
                session = await asyncio.to_thread(load_session, self.db, org_id, agent_id, self.messages)
                steps = max_steps or self.settings.max_steps
                result = await self._turn(session, inputs, steps, stream, run_id, client_tools)
        except MemfoldError as e:
            if stream is not None:
                stream.fail(e)
            raise
        if stream is not None:
            stream.finish(result)
        for after in self.after_turn:
            after(org_id, agent_id, result)
        return result

    def cancel(self, run_id: str) -> None:
        """Stop the run at its next step boundary (the step under way completes and commits)."""
        self.cancelled.add(run_id)

    async def _turn(
        self,
        session: AgentSession,
        inputs: Sequence[MessageCreate | ApprovalCreate],
        max_steps: int,
        stream: TurnStream | None,
        run_id: str | None,
        client_tools: list[ClientTool] | None,
    ) -> TurnResult:
        result = TurnResult(run_id=run_id or new_id("run"))
        said = [m for m in inputs if isinstance(m, MessageCreate)]
        answers = [m for m in inputs if isinstance(m, ApprovalCreate)]
        if answers and said:
            raise BadRequestError("send an approval answer on its own, not with new messages")
        if said and (waiting := pending_approval(session.in_context)) is not None:
            names = ", ".join(c.name for c in waiting_calls(waiting))
            raise ConflictError(
                f"the agent is waiting for approval of {names} (approval request {waiting.id}); "
                "approve or deny it before sending new messages"
            )
        lease = None
        if run_id is None:  # the run row is created with the first step, leased to this process
            lease = RunLease(self.owner, timedelta(seconds=self.settings.run_lease_seconds))
        memgpt = is_memgpt_mode(session.agent.agent_type)
        model = self.models.get(session.agent.model)
        specs = tool_specs(session.tools, memgpt_mode=memgpt)
        turn = TurnTools.build(session, specs, client_tools, continuing=not said)
        emit = stream.message if stream is not None else _ignore
        ctx = self.tool_context(session)
        pending = [self._input_message(session, m, result.run_id) for m in said]
        unshown = pending  # the turn's input, shown with its first step
        protected = {m.id for m in pending}  # the turn's input is never evicted
        started = time.perf_counter()
        self.active_runs.add(result.run_id)
        try:
            if answers:
                step = Step(session, turn, ctx, memgpt, new_id("step"), result.run_id, emit)
                pending, stop = await resolve_approval(step, answers[-1])
                protected = {m.id for m in pending}
                unshown = []  # resolve_approval showed its messages as it made them
                if stop is not None:  # nothing for the model to do: the answer is the whole turn
                    result.stop_reason = stop
                    await self._commit(
                        session, result, step.step_id, pending, ModelResponse(), 0, started, lease
                    )
                    return result
            for index in range(max_steps):
                if result.run_id in self.cancelled:
                    result.stop_reason = "cancelled"
                    await asyncio.to_thread(session.finish_run, result, "cancelled", None, started)
                    return result
                step = Step(session, turn, ctx, memgpt, new_id("step"), result.run_id, emit)
                for m in pending:
                    m.step_id = step.step_id
                deltas = self._deltas(stream, step, unshown)
                llm_started = time.perf_counter()
                try:
                    sent = [m for m in pending if m.role != "approval"]  # (history only)
                    prepared, response = await self._call(
                        session, sent, model, turn.offered(), memgpt, protected, deltas
                    )
                except (ProviderError, ContextWindowTooSmallError) as e:
                    if result.steps == 0 and lease is not None:
                        raise
                    overflow = isinstance(e, ContextWindowTooSmallError)
                    result.stop_reason = (
                        "context_window_overflow_in_system_prompt" if overflow else "llm_api_error"
                    )
                    await asyncio.to_thread(session.finish_run, result, "failed", str(e), started)
                    return result
                llm_ms = int((time.perf_counter() - llm_started) * 1000)
                self.window.observe(session.agent, prepared, response.usage)
                for m in _not_yet_shown(deltas, [*prepared.compactions, *unshown]):
                    emit(m)
                result.messages.extend(prepared.compactions)
                produced, stop = await act(step, response)
                stop = stop if stop is not None or index < max_steps - 1 else "max_steps"
                result.stop_reason = stop or result.stop_reason
                await self._commit(
                    session,
                    result,
                    step.step_id,
                    [*pending, *produced],
                    response,
                    llm_ms,
                    started,
                    lease,
                    final=stop is not None,
                )
                lease, pending, unshown = None, [], []
                if stop is not None:
                    return result
            return result
        finally:
            self.cancelled.discard(result.run_id)
            self.active_runs.discard(result.run_id)
            for listener in self.on_turn_end:
                listener()

    async def _commit(
        self,
        session: AgentSession,
        result: TurnResult,
        step_id: str,
        messages: list[Message],
        response: ModelResponse,
        llm_ms: int,
        started: float,
        lease: RunLease | None,
        *,
        final: bool = True,
    ) -> None:
        result.messages.extend(messages)
        result.prompt_tokens += response.usage.prompt_tokens
        result.completion_tokens += response.usage.completion_tokens
        result.steps += 1
        await asyncio.to_thread(
            session.commit_step,
            step_id=step_id,
            run_id=result.run_id,
            messages=messages,
            response=response,
            llm_ms=llm_ms,
            final=result if final else None,
            started=started,
            create_run=lease,
        )

    def tool_context(self, session: AgentSession) -> ToolContext:
        """What the agent's tools may touch during a step (also used to run one tool directly)."""
        return ToolContext(
            agent_id=session.agent.id,
            memory=session.memory,
            # Archival inserts are staged into the step's commit: they land with the step or not at all.
            archival=ArchivalMemory(
                self.external.archival, session.org_id, session.agent, stage=session.step_writes.append
            ),
            recall=RecallMemory(self.external.recall, session.agent),
            env=session.agent.tool_exec_environment_variables or {},
            runtime=self.runtime,
            org_id=session.org_id,
            files=AgentFiles(self.db, self.external.archival, session.org_id, session.agent),
        )

    def _deltas(self, stream: TurnStream | None, step: Step, unshown: list[Message]) -> StepDeltas | None:
        """For a reader that wants token deltas: the step's assistant message id is chosen now, and
        the model's pieces become deltas of it."""
        if stream is None or not stream.deltas:
            return None
        step.assistant_id = new_id("message")
        return StepDeltas(
            step.assistant_id,
            memgpt=step.memgpt,
            waits=step.tools.waits,
            emit=stream.delta,
            announce=stream.message,
            held=unshown,
        )

    async def _call(
        self,
        session: AgentSession,
        pending: list[Message],
        model: Model,
        tools: list[ToolSpec],
        memgpt: bool,
        protected: set[str],
        deltas: StepDeltas | None = None,
    ) -> tuple[PreparedRequest, ModelResponse]:
        """Fit the request to the window (compacting if needed) and send it. One the provider still
        rejects as too long is compacted harder and sent again, at most `OVERFLOW_RETRIES` times.
        With `deltas`, the model streams its answer into them."""
        compactions: list[Message] = []
        if deltas is not None:
            deltas.compactions = compactions
        for pressure in range(OVERFLOW_RETRIES + 1):
            prepared = await self.window.prepare(
                session,
                pending,
                model=model,
                tools=tools,
                memgpt_mode=memgpt,
                protected=protected,
                pressure=pressure,
            )
            compactions.extend(prepared.compactions)
            prepared.compactions = compactions
            try:
                if deltas is None:
                    return prepared, await model.complete(prepared.request)
                return prepared, await model.complete_streaming(prepared.request, deltas.feed)
            except ContextWindowExceededError:
                if pressure == OVERFLOW_RETRIES:
                    raise
                self.window.overflowed(session.agent)
        raise AssertionError("unreachable")

    def _input_message(self, session: AgentSession, m: MessageCreate, run_id: str) -> Message:
        return Message(
            id=new_id("message"),
            agent_id=session.agent.id,
            role=m.role,
            content=m.text(),
            name=m.name,
            otid=m.otid,
            sender_id=m.sender_id,
            run_id=run_id,
            created_at=utcnow(),
        )


def _ignore(_: Message) -> None:
    pass


def _not_yet_shown(deltas: StepDeltas | None, messages: list[Message]) -> list[Message]:
    """`messages`, unless the step's token deltas showed them already (just before their first piece)."""
    return [] if deltas is not None and deltas.released else messages
