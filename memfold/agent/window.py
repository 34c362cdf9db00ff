"""Keeps every request inside the agent's context window: measure, evict and summarize, clip.

Before each LLM call `ContextWindow.prepare` estimates the request (memfold.context.tokens,
times the agent's calibration factor). Over `compaction_threshold` x window (or over what
leaves room for the reply), it compacts: the oldest units of messages are evicted -- they
stay in the messages table, which is recall memory -- until the request would fill at most
`compaction_target` x window, and the summarizer folds them into the running summary. If
what is left still does not fit (a single message larger than the window), the largest
messages are clipped in the request only, each with a pointer to its full text.

The summary is a stored message with role `summary`, first in the agent's `message_ids`;
the model sees it as a user message right after the system prompt, and the API lists it as
a `summary_message`. Each compaction stores a new one; earlier ones stay in recall.

Atomicity: a compaction commits in its own transaction, before the LLM call of the step
that needed it: the summary message is inserted and `message_ids` becomes [summary, kept
...] together. The state it leaves is complete on its own -- nothing is lost, since evicted
messages stay in recall -- so a step that then fails (or a crash) leaves a compacted agent,
never a half-compacted one, and the step itself still commits atomically as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from memfold.agent.prompts import is_memgpt_mode
from memfold.agent.session import AgentSession
from memfold.agent.views import letta_messages
from memfold.config import Settings
from memfold.context.compiler import MemoryMetadata, compile_request, system_text, to_chat, tool_specs
from memfold.context.eviction import MIN_CLIP_TOKENS, WindowBudget, fit_messages, plan_eviction
from memfold.context.summarizer import Summarizer
from memfold.context.tokens import (
    REQUEST_OVERHEAD,
    Calibration,
    estimate_message,
    estimate_text,
    estimate_tools,
)
from memfold.errors import ContextWindowTooSmallError
from memfold.folders.agent_files import FilesView, file_statuses, files_view
from memfold.ids import new_id
from memfold.llm.base import ChatMessage, Model, ModelRequest, ToolSpec, Usage
from memfold.schemas.base import utcnow
from memfold.schemas.context import ContextWindowOverview
from memfold.schemas.messages import Message
from memfold.store import agents as agent_rows
from memfold.store import archives as archive_rows
from memfold.store import messages as message_rows
from memfold.store import passages as passage_rows
from memfold.store.agents import AgentRecord
from memfold.store.engine import Database

__all__ = ["Compaction", "ContextWindow", "PreparedRequest", "archival_passage_count"]

log = logging.getLogger(__name__)

ARCHIVAL_INSERT_TOOL = "archival_memory_insert"
OVERFLOW_RETRIES = 2
"""How often a request the provider rejected as too long is compacted harder and sent again."""
_COST_CACHE_SIZE = 200_000


def archival_passage_count(conn: Connection, agent_id: str) -> int | None:
    """How many archival passages the agent can search (in its attached archives), for the memory
    metadata of its system prompt; None (the line is left out) while it has no archive."""
    archives = archive_rows.archives_of_agent(conn, agent_id)
    if not archives:
        return None
    return sum(passage_rows.count_passages(conn, archive.id) for archive in archives)


@dataclass
class PreparedRequest:
    """A request that fits, with our (uncalibrated) estimate of it and any compaction it took."""

    request: ModelRequest
    estimate: int
    compactions: list[Message] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Compaction:
    """What one compaction did. `summary` is None when there was nothing to evict."""

    summary: Message | None
    messages_before: int
    messages_after: int
    evicted: int
    summarized: bool
    tokens_before: int
    tokens_after: int


@dataclass(frozen=True, slots=True)
class _Parts:
    """One agent's context, measured: fixed part, summary, history (in-context + pending)."""

    metadata: MemoryMetadata
    files: FilesView
    fixed: int
    summary: Message | None
    summary_tokens: int
    history: list[Message]
    costs: list[int]

    @property
    def total(self) -> int:
        return self.fixed + self.summary_tokens + sum(self.costs)


class ContextWindow:
    """Measures, compacts and fits the requests of every agent (one per `AgentLoop`)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._costs: dict[str, int] = {}
        self._calibrations: dict[tuple[str, str], Calibration] = {}
        self._recall: dict[str, tuple[tuple[str, str | None], int]] = {}
        self._archival: dict[str, int | None] = {}
        self._turns: dict[str, frozenset[str]] = {}

    # -- measuring ------------------------------------------------------------------------

    def budget(self, agent: AgentRecord, pressure: int = 0) -> WindowBudget:
        return WindowBudget.for_window(
            agent.context_window_limit,
            threshold=self.settings.compaction_threshold,
            target=self.settings.compaction_target,
            pressure=pressure,
        )

    def calibration(self, agent: AgentRecord) -> Calibration:
        """The agent's calibration for its current model (a new model starts again at 1.0)."""
        key = (agent.id, agent.model)
        calibration = self._calibrations.get(key)
        if calibration is None:
            calibration = self._calibrations[key] = Calibration()
        return calibration

    def message_cost(self, message: Message) -> int:
        """Estimated tokens of a stored or pending message (cached: messages never change)."""
        cost = self._costs.get(message.id)
        if cost is None:
            if len(self._costs) > _COST_CACHE_SIZE:
                self._costs.clear()
            cost = self._costs[message.id] = estimate_message(to_chat(message))
        return cost

    @staticmethod
    def _clipped_cost(message: Message) -> int:
        return estimate_message(to_chat(message))

    @staticmethod
    def _window_key(session: AgentSession) -> tuple[str, str | None]:
        """Names the window's start: its summary (new with every compaction), else its first message."""
        summary = next((m.id for m in session.in_context if m.role == "summary"), None)
        if summary is not None:
            return ("summary", summary)
        return ("first", next((m.id for m in session.in_context), None))

    async def metadata(self, session: AgentSession, *, new_turn: bool = False) -> MemoryMetadata:
        """Memory metadata for the system prompt.

        The number of messages outside the window changes only when the window's start does (a
        compaction, a reset): it is counted once per process and then kept up to date by
        `_compact`, so no step pays for a count over the whole history. The archival count is
        taken again after each compaction and, for agents that can insert passages, at the
        start of each turn (`new_turn`): passages a turn inserts show from the next turn on."""
        agent_id = session.agent.id
        key = self._window_key(session)
        recall = self._recall.get(agent_id)
        if recall is None or recall[0] != key:
            first = next((m.id for m in session.in_context if m.role != "summary"), None)
            recall = self._recall[agent_id] = (
                key,
                await asyncio.to_thread(self._count_recall, agent_id, first),
            )
        if new_turn or agent_id not in self._archival:
            self._archival[agent_id] = await asyncio.to_thread(self._count_archival, agent_id)
        return MemoryMetadata(
            memory_edited_at=session.agent.memory_edited_at,
            recall_outside=recall[1],
            archival_passages=self._archival[agent_id],
        )

    def _count_recall(self, agent_id: str, first: str | None) -> int:
        with self.db.read() as conn:
            return message_rows.count_messages(conn, agent_id, older_than=first)

    def _count_archival(self, agent_id: str) -> int | None:
        with self.db.read() as conn:
            return archival_passage_count(conn, agent_id)

    def _files(self, agent: AgentRecord) -> FilesView:
        """The agent's folders and files with its open windows (read on every request: the file
        tools and the API change them between steps)."""
        with self.db.read() as conn:
            return files_view(conn, agent)

    async def _measure(
        self,
        session: AgentSession,
        pending: Sequence[Message],
        tools: list[ToolSpec],
        *,
        new_turn: bool = False,
    ) -> _Parts:
        metadata = await self.metadata(session, new_turn=new_turn)
        files = await asyncio.to_thread(self._files, session.agent)
        system = ChatMessage(
            role="system", content=system_text(session.agent.system, session.memory, metadata, files.text)
        )
        fixed = REQUEST_OVERHEAD + estimate_message(system) + estimate_tools(tools)
        summary = next((m for m in session.in_context if m.role == "summary"), None)
        history = [m for m in session.in_context if m.role != "summary"]
        history.extend(pending)
        return _Parts(
            metadata=metadata,
            files=files,
            fixed=fixed,
            summary=summary,
            summary_tokens=self.message_cost(summary) if summary is not None else 0,
            history=history,
            costs=[self.message_cost(m) for m in history],
        )

    # -- preparing a request --------------------------------------------------------------

    async def prepare(
        self,
        session: AgentSession,
        pending: Sequence[Message],
        *,
        model: Model,
        tools: list[ToolSpec],
        memgpt_mode: bool,
        protected: set[str],
        pressure: int = 0,
    ) -> PreparedRequest:
        """The next request of `session`, compacted and clipped to fit. `pending` are the step's
        unstored input messages; `protected` ids (the turn's input) are never evicted."""
        budget = self.budget(session.agent, pressure)
        calibration = self.calibration(session.agent)
        turn = frozenset(protected)
        new_turn = self._turns.get(session.agent.id) != turn
        self._turns[session.agent.id] = turn
        # Only an agent that can write archival memory changes its passage count from turn to turn.
        inserts = new_turn and any(t.name == ARCHIVAL_INSERT_TOOL for t in session.tools)
        parts = await self._measure(session, pending, tools, new_turn=inserts)
        if int(budget.prompt / calibration.factor) - parts.fixed - budget.summary < MIN_CLIP_TOKENS:
            raise self._too_small(session, parts)
        compactions: list[Message] = []
        if pressure > 0 or calibration.apply(parts.total) > budget.prompt:
            keep = int(budget.target / calibration.factor) - parts.fixed - budget.summary
            if pressure > 0:  # the provider counts more than we thought: shed at least half
                keep = min(keep, sum(parts.costs) // 2)
            done = await self._compact(
                session,
                Summarizer(model),
                parts,
                keep_tokens=keep,
                protected=protected,
                pending={m.id for m in pending},
                budget=budget,
                trigger="context_window_threshold",
            )
            if done.summary is not None:
                compactions.append(done.summary)
                parts = await self._measure(session, pending, tools)
        available = int(budget.prompt / calibration.factor) - parts.fixed - parts.summary_tokens
        history, costs = fit_messages(parts.history, parts.costs, available, self._clipped_cost)
        if sum(costs) > available:
            raise self._too_small(session, parts)
        in_request = [parts.summary, *history] if parts.summary is not None else history
        request = compile_request(
            system=session.agent.system,
            memory=session.memory,
            messages=in_request,
            tools=tools,
            memgpt_mode=memgpt_mode,
            metadata=parts.metadata,
            files=parts.files.text,
        )
        return PreparedRequest(request, parts.fixed + parts.summary_tokens + sum(costs), compactions)

    @staticmethod
    def _too_small(session: AgentSession, parts: _Parts) -> ContextWindowTooSmallError:
        return ContextWindowTooSmallError(
            f"the context window of {session.agent.context_window_limit} tokens cannot hold this "
            f"request: the system prompt, memory blocks and tool schemas take about {parts.fixed} "
            "tokens, leaving too little room for the conversation; raise the agent's "
            "context_window_limit, or shorten its blocks or detach tools"
        )

    def observe(self, agent: AgentRecord, prepared: PreparedRequest, usage: Usage) -> None:
        """Calibrate with the provider's count of a request we sent."""
        self.calibration(agent).observe(prepared.estimate, usage.prompt_tokens)

    def overflowed(self, agent: AgentRecord) -> None:
        """The provider rejected a request as too long although we thought it fit."""
        self.calibration(agent).overflowed()

    # -- compaction -----------------------------------------------------------------------

    async def compact(
        self,
        session: AgentSession,
        model: Model,
        *,
        keep_fraction: float | None = None,
        evict_all: bool = False,
        prompt: str | None = None,
        clip_chars: int | None = None,
    ) -> Compaction:
        """Compaction on demand (`POST /v1/agents/{id}/summarize`): evict all messages, or the
        oldest until the rest fills at most `keep_fraction` of the window (default
        `compaction_target`) and at most half of what is there now."""
        budget = self.budget(session.agent)
        calibration = self.calibration(session.agent)
        tools = tool_specs(session.tools, memgpt_mode=is_memgpt_mode(session.agent.agent_type))
        parts = await self._measure(session, [], tools)
        if evict_all:
            keep = 0
        else:
            fraction = keep_fraction if keep_fraction is not None else self.settings.compaction_target
            keep = int(budget.window * fraction / calibration.factor) - parts.fixed - budget.summary
            keep = min(keep, sum(parts.costs) // 2)
        return await self._compact(
            session,
            Summarizer(model, prompt=prompt),
            parts,
            keep_tokens=keep,
            protected=set(),
            pending=set(),
            budget=budget,
            trigger="manual",
            keep_newest=not evict_all,
            clip_chars=clip_chars,
        )

    async def _compact(
        self,
        session: AgentSession,
        summarizer: Summarizer,
        parts: _Parts,
        *,
        keep_tokens: int,
        protected: set[str],
        pending: set[str],
        budget: WindowBudget,
        trigger: str,
        keep_newest: bool = True,
        clip_chars: int | None = None,
    ) -> Compaction:
        before = len(session.agent.message_ids)
        plan = plan_eviction(
            parts.history,
            parts.costs,
            budget=max(0, keep_tokens),
            protected={i for i, m in enumerate(parts.history) if m.id in protected},
            keep_newest=keep_newest,
        )
        if not plan.evict:
            return Compaction(None, before, before, 0, False, parts.total, parts.total)
        evicted = [parts.history[i] for i in plan.evict]
        result = await summarizer.fold(
            parts.summary.content if parts.summary is not None else None,
            evicted,
            max_tokens=budget.summary,
            prompt_budget=min(budget.prompt, budget.window - budget.summary),
            calibration=self.calibration(session.agent),
        )
        text = result.text[:clip_chars] if clip_chars else result.text
        summary = Message(
            id=new_id("message"), agent_id=session.agent.id, role="summary", content=text, created_at=utcnow()
        )
        kept = [parts.history[i] for i in plan.keep if parts.history[i].id not in pending]
        cached = self._recall.get(session.agent.id)
        await asyncio.to_thread(self._commit, session, summary, kept)
        if cached is not None and cached[0] == self._window_key_of(parts):
            # What left the window: the evicted messages and the summary that is replaced.
            outside = cached[1] + len(evicted) + (parts.summary is not None)
            self._recall[session.agent.id] = (self._window_key(session), outside)
        self._archival.pop(session.agent.id, None)  # counted again with the new window
        tokens_after = parts.fixed + self.message_cost(summary) + plan.kept_tokens
        log.info(
            "agent %s: compaction (%s) evicted %d messages, %s; about %d -> %d tokens",
            session.agent.id,
            trigger,
            len(evicted),
            "summarized" if result.summarized else f"not summarized ({result.error})",
            parts.total,
            tokens_after,
        )
        return Compaction(
            summary,
            before,
            len(session.agent.message_ids),
            len(evicted),
            result.summarized,
            parts.total,
            tokens_after,
        )

    @staticmethod
    def _window_key_of(parts: _Parts) -> tuple[str, str | None]:
        if parts.summary is not None:
            return ("summary", parts.summary.id)
        return ("first", parts.history[0].id if parts.history else None)

    def _commit(self, session: AgentSession, summary: Message, kept: list[Message]) -> None:
        """Store the summary and the new in-context list in one transaction."""
        ids = [summary.id, *(m.id for m in kept)]
        with self.db.write() as conn:
            message_rows.insert_messages(conn, session.org_id, [summary])
            agent_rows.update_agent(conn, session.agent.id, {"message_ids": ids})
        session.agent.message_ids = ids
        session.in_context[:] = [summary, *kept]

    # -- the overview the API shows -------------------------------------------------------

    async def overview(self, session: AgentSession) -> ContextWindowOverview:
        """What the agent's next request would hold, part by part (`GET /v1/agents/{id}/context`)."""
        agent = session.agent
        tools = tool_specs(session.tools, memgpt_mode=is_memgpt_mode(agent.agent_type))
        parts = await self._measure(session, [], tools)
        calibration = self.calibration(agent)
        budget = self.budget(agent)
        recall = await asyncio.to_thread(self._count_recall, agent.id, None)
        archival = self._archival.get(agent.id)
        external = parts.metadata.render()
        core = session.memory.render()
        scale = calibration.apply
        return ContextWindowOverview(
            context_window_size_max=agent.context_window_limit,
            context_window_size_current=scale(parts.total),
            num_messages=len(parts.history) + (parts.summary is not None),
            num_archival_memory=archival or 0,
            num_recall_memory=recall,
            num_tokens_external_memory_summary=scale(estimate_text(external)),
            external_memory_summary=external,
            num_tokens_system=scale(estimate_text(agent.system)),
            system_prompt=agent.system,
            num_tokens_core_memory=scale(estimate_text(core)),
            core_memory=core,
            num_tokens_summary_memory=scale(parts.summary_tokens),
            summary_memory=parts.summary.content if parts.summary is not None else None,
            num_tokens_functions_definitions=scale(estimate_tools(tools)),
            functions_definitions=[
                {
                    "type": "function",
                    "function": {"name": s.name, "description": s.description, "parameters": s.parameters},
                }
                for s in tools
            ],
            num_tokens_messages=scale(sum(parts.costs)),
            messages=letta_messages(parts.history),
            num_tokens_files=scale(estimate_text(parts.files.text)) if parts.files.text else 0,
            files_memory=parts.files.text,
            files=file_statuses(parts.files, scale),
            context_window_budget=budget.prompt,
            compaction_target=budget.target,
            reply_reserve=budget.reply,
            token_calibration_factor=round(calibration.factor, 4),
        )
