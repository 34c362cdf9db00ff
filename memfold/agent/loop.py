"""The step loop. One step = compile context -> one LLM call -> execute tools -> persist.

Each step commits atomically (its messages, memory edits, the new in-context list and the
step row land together), so a crash or a provider fault never leaves half a step. A turn
is a chain of steps: in MemGPT mode a heartbeat or a tool error buys another step; in
native mode (`letta_v1_agent`) a tool call continues and plain text ends the turn.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from memfold.agent.prompts import is_memgpt_mode
from memfold.agent.session import AgentSession, RunLease, load_session
from memfold.agent.stream import TurnStream
from memfold.agent.window import OVERFLOW_RETRIES, ContextWindow, PreparedRequest
from memfold.config import Settings
from memfold.context.compiler import tool_specs
from memfold.errors import (
    ContextWindowExceededError,
    ContextWindowTooSmallError,
    MemfoldError,
    ProviderError,
)
from memfold.ids import new_id
from memfold.llm.base import Model, ModelResponse, ToolSpec
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalMemory
from memfold.memory.external import ExternalMemory
from memfold.memory.recall import RecallMemory
from memfold.schemas.base import utcnow
from memfold.schemas.messages import Message, MessageCreate, StopReasonType, StoredToolCall
from memfold.store.engine import Database
from memfold.store.message_cache import MessageCache
from memfold.tools.builtin import ToolContext
from memfold.tools.executor import THINKING_PARAM, execute
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
    """Steps of one agent never interleave within this process."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, agent_id: str) -> asyncio.Lock:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = self._locks[agent_id] = asyncio.Lock()
        return lock


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
        self.locks = AgentLocks()
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

    async def send(
        self,
        org_id: str,
        agent_id: str,
        inputs: list[MessageCreate],
        *,
        max_steps: int | None = None,
        stream: TurnStream | None = None,
        run_id: str | None = None,
    ) -> TurnResult:
        """Take one turn. `run_id` names a queued run (its row exists); without it the turn's run is
        created with its first step. With `stream`, every message is also written there as it is made,
        and the stream is finished (or failed) when the turn ends."""
        try:
            async with self.locks(agent_id):
                session = await asyncio.to_thread(load_session, self.db, org_id, agent_id, self.messages)
                result = await self._turn(
                    session, inputs, max_steps or self.settings.max_steps, stream, run_id
                )
        except MemfoldError as e:
            if stream is not None:
                stream.fail(e)
            raise
        if stream is not None:
            stream.finish(result)
        return result

    def cancel(self, run_id: str) -> None:
        """Stop the run at its next step boundary (the step under way completes and commits)."""
        self.cancelled.add(run_id)

    async def _turn(
        self,
        session: AgentSession,
        inputs: list[MessageCreate],
        max_steps: int,
        stream: TurnStream | None,
        run_id: str | None,
    ) -> TurnResult:
        result = TurnResult(run_id=run_id or new_id("run"))
        lease = None
        if run_id is None:  # the run row is created with the first step, leased to this process
            lease = RunLease(self.owner, timedelta(seconds=self.settings.run_lease_seconds))
        self.active_runs.add(result.run_id)
        memgpt = is_memgpt_mode(session.agent.agent_type)
        model = self.models.get(session.agent.model)
        pending = [self._input_message(session, m, result.run_id) for m in inputs]
        protected = {m.id for m in pending}  # the turn's input is never evicted
        tools = tool_specs(session.tools, memgpt_mode=memgpt)  # a turn's tools do not change
        emit = stream.message if stream is not None else _ignore
        started = time.perf_counter()
        try:
            for index in range(max_steps):
                if result.run_id in self.cancelled:
                    result.stop_reason = "cancelled"
                    await asyncio.to_thread(session.finish_run, result, "cancelled", None, started)
                    return result
                step_id = new_id("step")
                for m in pending:
                    m.step_id = step_id
                llm_started = time.perf_counter()
                try:
                    prepared, response = await self._call(session, pending, model, tools, memgpt, protected)
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
                for m in [*prepared.compactions, *pending]:
                    emit(m)
                result.messages.extend(prepared.compactions)
                produced, stop = await self._act(session, response, step_id, result.run_id, memgpt, emit)
                stop = stop if stop is not None or index < max_steps - 1 else "max_steps"
                result.stop_reason = stop or result.stop_reason
                result.messages.extend([*pending, *produced])
                result.prompt_tokens += response.usage.prompt_tokens
                result.completion_tokens += response.usage.completion_tokens
                result.steps += 1
                await asyncio.to_thread(
                    session.commit_step,
                    step_id=step_id,
                    run_id=result.run_id,
                    messages=[*pending, *produced],
                    response=response,
                    llm_ms=llm_ms,
                    final=result if stop is not None else None,
                    started=started,
                    create_run=lease if index == 0 else None,
                )
                pending = []
                if stop is not None:
                    return result
            return result
        finally:
            self.cancelled.discard(result.run_id)
            self.active_runs.discard(result.run_id)
            for listener in self.on_turn_end:
                listener()

    async def _call(
        self,
        session: AgentSession,
        pending: list[Message],
        model: Model,
        tools: list[ToolSpec],
        memgpt: bool,
        protected: set[str],
    ) -> tuple[PreparedRequest, ModelResponse]:
        """Fit the request to the window (compacting if needed) and send it. One the provider still
        rejects as too long is compacted harder and sent again, at most `OVERFLOW_RETRIES` times."""
        compactions: list[Message] = []
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
                return prepared, await model.complete(prepared.request)
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

    async def _act(
        self,
        session: AgentSession,
        response: ModelResponse,
        step_id: str,
        run_id: str,
        memgpt: bool,
        emit: Callable[[Message], None],
    ) -> tuple[list[Message], StopReasonType | None]:
        """Execute the response's tool calls. Returns the new messages and the stop reason, or None
        to take another step."""
        now = utcnow()
        reasoning = response.reasoning
        if memgpt and response.content and response.tool_calls:
            reasoning = "\n".join(filter(None, [reasoning, response.content]))
        assistant = Message(
            id=new_id("message"),
            agent_id=session.agent.id,
            role="assistant",
            content=None if memgpt and response.tool_calls else response.content,
            reasoning=reasoning,
            tool_calls=[
                StoredToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in response.tool_calls
            ]
            or None,
            step_id=step_id,
            run_id=run_id,
            created_at=now,
        )
        if not assistant.reasoning:  # MemGPT mode: the calls' `thinking` is the step's reasoning
            thoughts = (_thinking(c.arguments) for c in response.tool_calls)
            assistant.reasoning = "\n".join(filter(None, thoughts)) or None
        emit(assistant)
        if not response.tool_calls:
            # A plain-text reply ends the turn. In MemGPT mode it is a model slip; the text is delivered
            # as the reply rather than lost.
            if not response.content:
                return [assistant], "no_tool_call"
            return [assistant], "end_turn"
        produced = [assistant]
        ctx = ToolContext(
            agent_id=session.agent.id,
            memory=session.memory,
            # Archival inserts are staged into the step's commit: they land with the step or not at all.
            archival=ArchivalMemory(
                self.external.archival, session.org_id, session.agent, stage=session.step_writes.append
            ),
            recall=RecallMemory(self.external.recall, session.agent),
            env=session.agent.tool_exec_environment_variables or {},
            runtime=self.runtime,
        )
        tools = {t.name: t for t in session.tools}
        keep_going = not memgpt
        for call in response.tool_calls:
            outcome = await execute(call, tools, ctx)
            if memgpt and (outcome.heartbeat or not outcome.ok):
                keep_going = True
            produced.append(
                returned := Message(
                    id=new_id("message"),
                    agent_id=session.agent.id,
                    role="tool",
                    content=_clip(
                        outcome.content, tools[call.name].return_char_limit if call.name in tools else 6000
                    ),
                    tool_call_id=call.id,
                    tool_status="success" if outcome.ok else "error",
                    name=call.name,
                    step_id=step_id,
                    run_id=run_id,
                    created_at=utcnow(),
                )
            )
            emit(returned)
        return produced, None if keep_going else "end_turn"


def _ignore(_: Message) -> None:
    pass


def _thinking(arguments: str) -> str | None:
    """The `thinking` argument of a MemGPT-mode call (shown as the step's reasoning), if any."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    thought = parsed.get(THINKING_PARAM) if isinstance(parsed, dict) else None
    return thought if isinstance(thought, str) else None


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [clipped: {len(text)} characters in all]"
