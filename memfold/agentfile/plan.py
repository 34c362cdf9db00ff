"""What an import will store, decided before anything is written.

`plan_import` turns a parsed file into rows to insert: fresh memfold ids for every agent,
block and message (file-local ids and the references between them are rewritten), the model
and embedding each agent will use, what becomes of each tool, and what is left out (`Skipped`:
folders and their files, groups, MCP servers, Letta built-ins memfold lacks, approvals).
Everything here is pure but for asking the model registry what it can serve, so a plan that
fails leaves nothing behind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from memfold.agent.prompts import default_system, is_memgpt_mode
from memfold.agentfile.format import AgentEntry, AgentFile, BlockEntry, MessageEntry, ToolEntry, as_utc
from memfold.agentfile.messages import import_message, system_alert_text, tool_call_names
from memfold.agentfile.options import ImportOptions, Skipped
from memfold.agentfile.resolve import resolve_embedding, resolve_model
from memfold.config import Settings
from memfold.errors import InvalidValueError
from memfold.ids import new_id
from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import PassageInput
from memfold.memory.embedding import embedding_handle
from memfold.schemas.agents import DEFAULT_AGENT_TYPE, SUPPORTED_AGENT_TYPES
from memfold.schemas.base import utcnow
from memfold.schemas.blocks import DEFAULT_BLOCK_LIMIT, CreateBlock
from memfold.schemas.messages import Message
from memfold.schemas.tools import DEFAULT_RETURN_CHAR_LIMIT
from memfold.tools.builtin import BASE_TOOLS, BUILTIN_TOOLS
from memfold.tools.executor import HEARTBEAT_PARAM
from memfold.tools.schema import generate_tool_schema

__all__ = ["AgentPlan", "ImportPlan", "ToolPlan", "plan_import"]

COPY_SUFFIX = "_copy"


@dataclass(slots=True)
class ToolPlan:
    file_id: str
    name: str
    action: Literal["builtin", "custom"]
    values: dict[str, Any] = field(default_factory=dict)
    """The row of a custom tool (name, source, schema, ...)."""


@dataclass(slots=True)
class AgentPlan:
    id: str
    values: dict[str, Any]
    """The agents row (without organization)."""
    tags: list[str]
    block_file_ids: list[str]
    inline_blocks: list[dict[str, Any]]
    tool_file_ids: list[str]
    base_tools: list[str]
    messages: list[Message]
    passages: list[PassageInput]
    embedding_handle: str


@dataclass(slots=True)
class ImportPlan:
    blocks: dict[str, dict[str, Any]]
    """Rows of the file's blocks that some agent uses, by file-local id."""
    tools: list[ToolPlan]
    agents: list[AgentPlan]
    skipped: list[Skipped]
    override_existing_tools: bool = True


def plan_import(
    agent_file: AgentFile, options: ImportOptions, models: ModelRegistry, settings: Settings
) -> ImportPlan:
    skipped: list[Skipped] = []
    _skip_unsupported(agent_file, skipped)
    tools = {t.id: _tool_plan(t, skipped) for t in agent_file.tools}
    agent_ids = {a.id: new_id("agent") for a in agent_file.agents}
    used_blocks = {i for a in agent_file.agents for i in a.block_ids}
    blocks = {b.id: _block_row(b) for b in agent_file.blocks if b.id in used_blocks}
    agents = [
        _agent_plan(entry, agent_file, options, models, settings, agent_ids, tools, blocks, skipped)
        for entry in agent_file.agents
    ]
    return ImportPlan(
        blocks=blocks,
        tools=[p for p in tools.values() if p is not None],
        agents=agents,
        skipped=skipped,
        override_existing_tools=options.override_existing_tools,
    )


def _skip_unsupported(agent_file: AgentFile, skipped: list[Skipped]) -> None:
    for source in agent_file.sources:
        skipped.append(
            Skipped("source", str(source.get("name") or source.get("id")), "memfold has no folders yet")
        )
    for file in agent_file.files:
        name = file.get("original_file_name") or file.get("file_name") or file.get("id")
        skipped.append(Skipped("file", str(name), "memfold has no folders yet"))
    for group in agent_file.groups:
        skipped.append(Skipped("group", str(group.get("id") or "group"), "memfold has no multi-agent groups"))
    for server in agent_file.mcp_servers:
        name = server.get("server_name") or server.get("id")
        skipped.append(Skipped("mcp_server", str(name), "MCP servers are not imported; register them again"))


def _tool_plan(entry: ToolEntry, skipped: list[Skipped]) -> ToolPlan | None:
    if entry.name in BUILTIN_TOOLS and BUILTIN_TOOLS[entry.name].tool_type == "letta_files_core":
        # Sources are not imported, and the file tools come with an attached folder.
        skipped.append(Skipped("tool", entry.name, "a file tool: attach a folder to the agent to get it"))
        return None
    if entry.name in BUILTIN_TOOLS:
        return ToolPlan(entry.id, entry.name, "builtin")
    kind = entry.tool_type or "custom"
    if kind == "external_mcp":
        skipped.append(Skipped("tool", entry.name, "an MCP server's tool: register the server to use it"))
        return None
    if kind != "custom" or not (entry.source_code or "").strip():
        skipped.append(
            Skipped("tool", entry.name, f"a Letta built-in ({kind}) that memfold does not provide")
        )
        return None
    return ToolPlan(entry.id, entry.name, "custom", _custom_tool_row(entry))


def _custom_tool_row(entry: ToolEntry) -> dict[str, Any]:
    source = entry.source_code or ""
    schema = copy.deepcopy(entry.json_schema) if entry.json_schema else None
    if not schema or not isinstance(schema.get("parameters", {}), dict):
        try:
            schema = generate_tool_schema(source, name=entry.name)
        except InvalidValueError as e:
            raise InvalidValueError(
                f"invalid agent file: tool {entry.name!r} has no schema and {e.message}"
            ) from None
    schema["name"] = entry.name
    parameters = schema.get("parameters")
    if isinstance(parameters, dict):
        # Letta stores the heartbeat parameter in the schema; memfold adds its own in MemGPT mode.
        properties = parameters.get("properties")
        if isinstance(properties, dict):
            properties.pop(HEARTBEAT_PARAM, None)
        required = parameters.get("required")
        if isinstance(required, list):
            parameters["required"] = [r for r in required if r != HEARTBEAT_PARAM]
    return {
        "name": entry.name,
        "description": entry.description or schema.get("description"),
        "tool_type": "custom",
        "source_type": entry.source_type if entry.source_type in ("python", None) else "python",
        "source_code": source,
        "json_schema": schema,
        "tags": entry.tags or [],
        "return_char_limit": entry.return_char_limit or DEFAULT_RETURN_CHAR_LIMIT,
        "pip_requirements": entry.pip_requirements,
        "default_requires_approval": entry.default_requires_approval,
        "metadata": entry.metadata,
    }


def _block_row(entry: BlockEntry) -> dict[str, Any]:
    # A value over its limit (possible in a hand-edited file) raises the limit rather than losing text.
    limit = max(entry.limit or DEFAULT_BLOCK_LIMIT, len(entry.value))
    return {
        "label": entry.label,
        "value": entry.value,
        "limit": limit,
        "description": entry.description,
        "read_only": bool(entry.read_only),
        "hidden": entry.hidden,
        "is_template": False,
        "template_name": entry.template_name,
        "tags": entry.tags,
        "metadata": entry.metadata,
    }


def _inline_blocks(entry: AgentEntry) -> list[dict[str, Any]]:
    rows = []
    for i, spec in enumerate(entry.memory_blocks):
        try:
            rows.append(CreateBlock.model_validate(spec).model_dump())
        except ValidationError as e:
            problem = "; ".join(str(err.get("msg")) for err in e.errors()[:3])
            raise InvalidValueError(
                f"invalid agent file: agent {entry.id!r} memory_blocks.{i}: {problem}"
            ) from None
    return rows


def _agent_plan(
    entry: AgentEntry,
    agent_file: AgentFile,
    options: ImportOptions,
    models: ModelRegistry,
    settings: Settings,
    agent_ids: dict[str, str],
    tools: dict[str, ToolPlan | None],
    blocks: dict[str, dict[str, Any]],
    skipped: list[Skipped],
) -> AgentPlan:
    agent_id = agent_ids[entry.id]
    agent_type = entry.agent_type or DEFAULT_AGENT_TYPE
    if agent_type not in SUPPORTED_AGENT_TYPES:
        reason = f"memfold does not run {agent_type} agents; imported as {DEFAULT_AGENT_TYPE}"
        skipped.append(Skipped("agent_type", agent_type, reason))
        agent_type = DEFAULT_AGENT_TYPE
    inline = _inline_blocks(entry)
    labels = [blocks[i]["label"] for i in entry.block_ids] + [b["label"] for b in inline]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InvalidValueError(
            f"invalid agent file: agent {entry.id!r} has several blocks labelled {repeated}"
        )
    handle, window, llm_config = resolve_model(entry, options, models, settings, skipped)
    embedding = resolve_embedding(entry, options, models, skipped)
    attached = [tools[i] for i in entry.tool_ids]
    dropped = {t.name for t in agent_file.tools if t.id in entry.tool_ids and tools[t.id] is None}
    name = options.name or entry.name or f"agent-{agent_id[6:14]}"
    if options.append_copy_suffix:
        name += COPY_SUFFIX
    env = {
        k: v or ""
        for k, v in {**(entry.tool_exec_environment_variables or {}), **(entry.secrets or {})}.items()
    }
    env.update({str(k): str(v) for k, v in (options.env_vars or {}).items()})
    memgpt = is_memgpt_mode(agent_type)
    messages, message_ids = (
        ([], []) if options.strip_messages else _messages(entry, agent_id, agent_ids, memgpt, skipped)
    )
    values = {
        "id": agent_id,
        "name": name[:200],
        "agent_type": agent_type,
        "description": entry.description,
        "system": entry.system or default_system(agent_type),
        "model": handle,
        "context_window_limit": window,
        "llm_config": llm_config,
        "embedding_config": embedding,
        "message_ids": message_ids,
        "tool_rules": [r for r in entry.tool_rules or [] if r.get("tool_name") not in dropped],
        "metadata": entry.metadata,
        "tool_exec_environment_variables": env or None,
        "timezone": entry.timezone,
    }
    passages = [
        PassageInput(p.text, p.tags or [], p.metadata, as_utc(p.created_at))
        for p in agent_file.archival_passages
        if p.agent_id == entry.id
    ]
    return AgentPlan(
        id=agent_id,
        values=values,
        tags=[t for t in entry.tags or [] if t],
        block_file_ids=list(entry.block_ids),
        inline_blocks=inline,
        tool_file_ids=[p.file_id for p in attached if p is not None],
        base_tools=[*BASE_TOOLS[agent_type]] if entry.include_base_tools else [],
        messages=messages,
        passages=passages,
        embedding_handle=embedding_handle(embedding),
    )


def _messages(
    entry: AgentEntry, agent_id: str, agent_ids: dict[str, str], memgpt: bool, skipped: list[Skipped]
) -> tuple[list[Message], list[str]]:
    """The agent's messages with fresh ids, oldest first as in the file, and its in-context list."""
    call_names = tool_call_names(entry.messages)
    in_context = entry.in_context_message_ids
    mapped: dict[str, list[Message]] = {}
    now = utcnow()
    approvals = 0
    for message in entry.messages:
        if _is_compiled_prompt(message, entry):
            continue
        approvals += message.role == "approval"
        mapped[message.id] = import_message(
            message,
            agent_id=agent_id,
            memgpt=memgpt,
            new_id=lambda: new_id("message"),
            call_names=call_names,
            sender=lambda sender: agent_ids.get(sender or "", sender),
            now=now,
        )
    if approvals:
        skipped.append(
            Skipped("message", f"{approvals} approval messages", "tool approvals are not imported")
        )
    context = _paired([m for file_id in in_context for m in mapped.get(file_id, [])])
    if context and context[0].role == "user" and (summary := system_alert_text(context[0].content or "")):
        context[0].role, context[0].content = "summary", summary  # older files kept the summary as an alert
    return [m for file_id in mapped for m in mapped[file_id]], [m.id for m in context]


def _is_compiled_prompt(message: MessageEntry, entry: AgentEntry) -> bool:
    """A Letta system message holding the compiled system prompt: the first in-context message, or an
    earlier version of it (out of context, starting with the agent's system prompt)."""
    if message.role != "system":
        return False
    if entry.in_context_message_ids and message.id == entry.in_context_message_ids[0]:
        return True
    if message.id in entry.in_context_message_ids or not entry.system:
        return False
    content = message.content
    text = content if isinstance(content, str) else "".join(str(p.get("text") or "") for p in content or [])
    return text.startswith(entry.system.strip()[:500])


def _paired(context: list[Message]) -> list[Message]:
    """The in-context messages without unanswered tool calls and results whose call is not in context
    (providers reject both); those stay in the history (recall memory)."""
    answered = {m.tool_call_id for m in context if m.role == "tool"}
    complete = [
        m
        for m in context
        if not (m.role == "assistant" and any(c.id not in answered for c in m.tool_calls or []))
    ]
    called: set[str] = set()
    kept = []
    for m in complete:
        if m.role == "assistant":
            called.update(c.id for c in m.tool_calls or [])
        if m.role == "tool" and m.tool_call_id not in called:
            continue
        kept.append(m)
    return kept
