"""Import an `.af` file: read it, plan it, embed its archival passages, then store it all at once.

Atomic: everything the file becomes (tools, blocks, agents, messages, archives, passages) is
written in one database transaction, after every check has passed and every passage has been
embedded. A malformed file, a failing embedding provider or any error while writing leaves
the database as it was.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from memfold.agentfile.options import ImportOptions, Skipped
from memfold.agentfile.plan import ImportPlan, ToolPlan, plan_import
from memfold.agentfile.reader import parse_agent_file
from memfold.config import Settings
from memfold.ids import new_id
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalStore
from memfold.schemas.blocks import Block
from memfold.store import agents as agent_rows
from memfold.store import blocks as block_rows
from memfold.store import messages as message_rows
from memfold.store import passages as passage_rows
from memfold.store import tools as tool_rows
from memfold.store.engine import Database
from memfold.store.passages import NewPassage
from memfold.tools.builtin import BUILTIN_TOOLS

__all__ = ["AgentFileImporter", "ImportResult"]

log = logging.getLogger("memfold.agentfile")


@dataclass(slots=True)
class ImportResult:
    agent_ids: list[str]
    skipped: list[Skipped]


class AgentFileImporter:
    def __init__(
        self, db: Database, models: ModelRegistry, archival: ArchivalStore, settings: Settings
    ) -> None:
        self.db = db
        self.models = models
        self.archival = archival
        self.settings = settings

    async def run(self, org_id: str, data: bytes | str, options: ImportOptions | None = None) -> ImportResult:
        agent_file = parse_agent_file(data)
        plan = plan_import(agent_file, options or ImportOptions(), self.models, self.settings)
        passages = [
            await self.archival.prepare(agent.embedding_handle, agent.passages, split=False)
            if agent.passages
            else []
            for agent in plan.agents
        ]
        await asyncio.to_thread(self._write, org_id, plan, passages)
        for item in plan.skipped:
            log.info("agent file import: %s %r not imported as is: %s", item.kind, item.name, item.reason)
        return ImportResult([a.id for a in plan.agents], plan.skipped)

    def _write(self, org_id: str, plan: ImportPlan, passages: list[list[NewPassage]]) -> None:
        with self.db.write() as conn:
            tool_ids = self._tools(conn, org_id, plan.tools, override=plan.override_existing_tools)
            blocks = {
                file_id: block_rows.insert_block(conn, org_id, new_id("block"), row)
                for file_id, row in plan.blocks.items()
            }
            builtins = tool_rows.tools_by_name(conn, org_id, list(BUILTIN_TOOLS))
            for agent, prepared in zip(plan.agents, passages, strict=True):
                agent_rows.insert_agent(conn, {"organization_id": org_id, **agent.values}, agent.tags)
                attached: list[Block] = [blocks[i] for i in agent.block_file_ids]
                attached += [
                    block_rows.insert_block(conn, org_id, new_id("block"), row) for row in agent.inline_blocks
                ]
                for block in attached:
                    block_rows.attach_block(conn, agent.id, block)
                wanted = [tool_ids[i] for i in agent.tool_file_ids if i in tool_ids]
                wanted += [builtins[name].id for name in agent.base_tools if name in builtins]
                for tool_id in dict.fromkeys(wanted):
                    tool_rows.attach_tool(conn, agent.id, tool_id)
                message_rows.insert_messages(conn, org_id, agent.messages)
                if prepared:
                    record = agent_rows.get_agent(conn, org_id, agent.id)
                    archive = self.archival.ensure_agent_archive(conn, org_id, record)
                    passage_rows.insert_passages(conn, org_id, archive.id, prepared)

    def _tools(
        self, conn: Connection, org_id: str, plans: list[ToolPlan], *, override: bool
    ) -> dict[str, str]:
        """The memfold tool id of each tool of the file: a built-in by name; a custom tool created,
        updated (`override_existing_tools`) or reused by name."""
        names = [p.name for p in plans]
        existing = tool_rows.tools_by_name(conn, org_id, names)
        ids: dict[str, str] = {}
        for p in plans:
            current = existing.get(p.name)
            reuse = p.action == "builtin" or not override
            if current is not None and reuse:
                ids[p.file_id] = current.id
            elif p.action == "custom":
                tool = tool_rows.upsert_tool(conn, org_id, new_id("tool"), p.values)
                existing[p.name] = tool
                ids[p.file_id] = tool.id
        return ids
