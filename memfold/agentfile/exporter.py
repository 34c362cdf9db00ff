"""Export one agent as an `.af` file in the current (multi-entity) generation of the format.

What goes in: the agent (configuration, tags, tool rules, the names of its tool environment
variables), its blocks, its tools (a user tool with its source; memfold's built-ins by name
and schema only: Letta and memfold each bring their own), every message it ever exchanged
with the in-context list, and (memfold's extension) its archival passages.

Ids are file-local (`agent-0`, `block-N`, `tool-N`, `message-N`), as Letta writes them. The
in-context list starts with a system message holding the compiled prompt, as Letta expects;
memfold itself stores no system prompt message and drops it again on import.

Secrets never leave: tool environment variable values are blank, and any key of the model
or embedding configuration that looks like a credential is removed.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from memfold import __version__
from memfold.agent.prompts import is_memgpt_mode
from memfold.agentfile.format import PASSAGES_KEY
from memfold.agentfile.messages import export_message
from memfold.context.compiler import system_text
from memfold.memory.core import CoreMemory
from memfold.schemas.base import utcnow
from memfold.schemas.blocks import Block
from memfold.schemas.messages import Message
from memfold.schemas.tools import Tool
from memfold.store import agents as agent_rows
from memfold.store import archives as archive_rows
from memfold.store import blocks as block_rows
from memfold.store import messages as message_rows
from memfold.store import passages as passage_rows
from memfold.store import tools as tool_rows
from memfold.store.agents import AgentRecord
from memfold.tools.builtin import BUILTIN_TOOLS

__all__ = ["export_agent", "scrub_config"]

AGENT_FILE_ID = "agent-0"
_CREDENTIAL = re.compile(r"api_?key|secret|token|password|authorization|credential", re.IGNORECASE)


def scrub_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """`config` without any key that looks like a credential."""
    if config is None:
        return None
    return {k: v for k, v in config.items() if not _CREDENTIAL.search(k)}


def export_agent(
    conn: Connection, org_id: str, agent_id: str, *, scrub_messages: bool = False
) -> dict[str, Any]:
    """The agent as an `.af` document (a JSON-ready dict)."""
    record = agent_rows.get_agent(conn, org_id, agent_id)
    blocks = block_rows.blocks_of_agents(conn, [agent_id])[agent_id]
    tools = tool_rows.tools_of_agents(conn, [agent_id])[agent_id]
    tags = agent_rows.tags_of_agents(conn, [agent_id])[agent_id]
    block_ids = {b.id: f"block-{i}" for i, b in enumerate(blocks)}
    tool_ids = {t.id: f"tool-{i}" for i, t in enumerate(tools)}
    messages, in_context = ([], []) if scrub_messages else _messages(conn, record, blocks)
    archive_ids = [a.id for a in archive_rows.archives_of_agent(conn, agent_id)]
    passages = passage_rows.list_passages(conn, archive_ids, limit=None, order="asc") if archive_ids else []
    env = record.tool_exec_environment_variables or {}
    handle = record.llm_config.get("handle") or record.model
    embedding = scrub_config(record.embedding_config)
    agent = {
        "id": AGENT_FILE_ID,
        "name": record.name,
        "agent_type": record.agent_type,
        "system": record.system,
        "description": record.description,
        "tags": tags,
        "metadata": record.metadata,
        "llm_config": scrub_config(record.llm_config),
        "embedding_config": embedding,
        "model": handle,
        "embedding": (embedding or {}).get("handle"),
        "context_window_limit": record.context_window_limit,
        "tool_rules": record.tool_rules,
        "tool_exec_environment_variables": {key: "" for key in sorted(env)},
        "secrets": None,
        "timezone": record.timezone,
        "memory_blocks": [],
        "tools": [],
        "block_ids": list(block_ids.values()),
        "tool_ids": list(tool_ids.values()),
        "source_ids": [],
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "message_buffer_autoclear": False,
        "enable_sleeptime": False,
        "in_context_message_ids": in_context,
        "messages": messages,
        "files_agents": [],
        "group_ids": [],
    }
    return {
        "agents": [agent],
        "groups": [],
        "blocks": [_block(b, block_ids[b.id]) for b in blocks],
        "files": [],
        "sources": [],
        "tools": [_tool(t, tool_ids[t.id]) for t in tools],
        "mcp_servers": [],
        "metadata": {"exported_by": f"memfold {__version__}"},
        "created_at": utcnow().isoformat(),
        PASSAGES_KEY: [
            {
                "agent_id": AGENT_FILE_ID,
                "text": p.text,
                "tags": p.tags,
                "metadata": p.metadata,
                "created_at": p.created_at.isoformat(),
            }
            for p in passages
        ],
    }


def _messages(
    conn: Connection, record: AgentRecord, blocks: list[Block]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every message of the agent, oldest first, after a system message with the compiled prompt;
    and the in-context list (the system message, then the agent's `message_ids`)."""
    history = message_rows.list_messages(conn, record.id, limit=None, order="asc")
    file_ids = {m.id: f"message-{i + 1}" for i, m in enumerate(history)}
    memgpt = is_memgpt_mode(record.agent_type)
    system = Message(
        id="system",
        agent_id=record.id,
        role="system",
        content=system_text(record.system, CoreMemory(blocks)),
        created_at=record.created_at,
    )
    entries = [
        export_message(
            system, file_id="message-0", agent_file_id=AGENT_FILE_ID, memgpt=memgpt, model=record.model
        )
    ]
    entries += [
        export_message(
            m, file_id=file_ids[m.id], agent_file_id=AGENT_FILE_ID, memgpt=memgpt, model=record.model
        )
        for m in history
    ]
    in_context = ["message-0", *(file_ids[i] for i in record.message_ids if i in file_ids)]
    return entries, in_context


def _block(block: Block, file_id: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "label": block.label,
        "value": block.value,
        "limit": block.limit,
        "description": block.description,
        "read_only": block.read_only,
        "hidden": block.hidden,
        "is_template": False,
        "template_name": block.template_name,
        "tags": block.tags,
        "metadata": block.metadata or {},
    }


def _tool(tool: Tool, file_id: str) -> dict[str, Any]:
    builtin = tool.name in BUILTIN_TOOLS and tool.tool_type != "custom"
    return {
        "id": file_id,
        "name": tool.name,
        "tool_type": tool.tool_type,
        "description": tool.description,
        "source_type": tool.source_type,
        # A built-in's source is memfold's own code (it acts on memfold's internals); the name says it all.
        "source_code": None if builtin else tool.source_code,
        "json_schema": tool.json_schema,
        "args_json_schema": None,
        "tags": tool.tags,
        "return_char_limit": tool.return_char_limit,
        "pip_requirements": tool.pip_requirements,
        "npm_requirements": None,
        "default_requires_approval": tool.default_requires_approval,
        "metadata_": tool.metadata or {},
    }
