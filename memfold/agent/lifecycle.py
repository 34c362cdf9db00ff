"""Creating, loading, changing and deleting agents, and assembling the `AgentState` the API returns."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

from sqlalchemy import Connection

from memfold.agent import sleeptime
from memfold.agent.prompts import default_system
from memfold.config import Settings
from memfold.errors import InvalidValueError, NotFoundError
from memfold.folders import agent_files
from memfold.ids import new_id
from memfold.llm.base import ModelHandle
from memfold.memory.embedding import embedding_config_for
from memfold.schemas.agents import (
    SUPPORTED_AGENT_TYPES,
    AgentState,
    CreateAgent,
    EmbeddingConfig,
    EnvironmentVariable,
    LLMConfig,
    Memory,
    UpdateAgent,
)
from memfold.schemas.blocks import Block
from memfold.schemas.tool_rules import dump_rules, load_rules, with_requires_approval
from memfold.store import agents as agent_rows
from memfold.store import blocks as block_rows
from memfold.store import groups as group_rows
from memfold.store import tools as tool_rows
from memfold.store.agents import AgentRecord
from memfold.tools.builtin import BASE_TOOLS, BUILTIN_TOOLS


def register_builtin_tools(conn: Connection, org_id: str) -> None:
    """Upsert the built-in tools into the organization's tool table, like any user tool."""
    existing = tool_rows.tools_by_name(conn, org_id, list(BUILTIN_TOOLS))
    for name, builtin in BUILTIN_TOOLS.items():
        schema = builtin.schema()
        source = textwrap.dedent(inspect.getsource(builtin.function))
        tool = existing.get(name)
        if tool is not None and tool.json_schema == schema and tool.source_code == source:
            continue
        tool_rows.upsert_tool(
            conn,
            org_id,
            new_id("tool"),
            {
                "name": name,
                "description": schema["description"],
                "tool_type": builtin.tool_type,
                "source_type": "python",
                "source_code": source,
                "json_schema": schema,
                "tags": ["builtin"],
                "return_char_limit": 6000,
            },
        )


def llm_config_for(
    handle: str, context_window: int, base: LLMConfig | None = None, endpoint: str | None = None
) -> dict[str, Any]:
    parsed = ModelHandle.parse(handle)
    config = base.model_copy() if base else None
    values: dict[str, Any] = config.model_dump(exclude_none=True) if config else {}
    values.update(
        model=parsed.model,
        model_endpoint_type=parsed.provider,
        handle=str(parsed),
        context_window=context_window,
    )
    if endpoint:
        values.setdefault("model_endpoint", endpoint)
    return LLMConfig.model_validate(values).model_dump(exclude_none=True)


def _resolve_model(
    req: CreateAgent | UpdateAgent, settings: Settings, default_handle: str | None
) -> str | None:
    if req.model:
        return req.model
    if req.llm_config is not None:
        return req.llm_config.handle or f"{req.llm_config.model_endpoint_type}/{req.llm_config.model}"
    return default_handle if isinstance(req, CreateAgent) else None


def create_agent(
    conn: Connection, org_id: str, req: CreateAgent, settings: Settings, default_handle: str | None
) -> str:
    if req.agent_type not in SUPPORTED_AGENT_TYPES:
        supported = ", ".join(sorted(SUPPORTED_AGENT_TYPES))
        raise InvalidValueError(f"agent_type {req.agent_type!r} is not supported; use one of: {supported}")
    handle = _resolve_model(req, settings, default_handle)
    if handle is None:
        raise InvalidValueError(
            "no model given and no default: pass model='provider/model' (e.g. 'openai/gpt-4o-mini') "
            "or set MEMFOLD_DEFAULT_MODEL"
        )
    window = req.context_window_limit or (req.llm_config.context_window if req.llm_config else None)
    window = window or settings.default_context_window
    agent_id = new_id("agent")
    env = {**(req.tool_exec_environment_variables or {}), **(req.secrets or {})}
    embedding = req.embedding_config.model_dump(exclude_none=True) if req.embedding_config else None
    if embedding is None:  # the handle given, else the local embedding (needs no provider)
        embedding = _embedding_from_handle(req.embedding)
    agent_rows.insert_agent(
        conn,
        {
            "id": agent_id,
            "organization_id": org_id,
            "name": req.name or _default_name(agent_id),
            "agent_type": req.agent_type,
            "description": req.description,
            "system": req.system or default_system(req.agent_type),
            "model": handle,
            "context_window_limit": window,
            "llm_config": llm_config_for(handle, window, req.llm_config),
            "embedding_config": embedding,
            "message_ids": [],
            "tool_rules": dump_rules(req.tool_rules or []),
            "metadata": req.metadata,
            "tool_exec_environment_variables": env or None,
            "timezone": req.timezone,
            "max_files_open": req.max_files_open,
            "per_file_view_window_char_limit": req.per_file_view_window_char_limit,
        },
        req.tags,
    )
    for spec in req.memory_blocks:
        block = block_rows.insert_block(conn, org_id, new_id("block"), spec.model_dump())
        block_rows.attach_block(conn, agent_id, block)
    for block_id in req.block_ids:
        block_rows.attach_block(conn, agent_id, block_rows.get_block(conn, org_id, block_id))
    names = list(dict.fromkeys([*(BASE_TOOLS[req.agent_type] if req.include_base_tools else ()), *req.tools]))
    _attach_tools(conn, org_id, agent_id, names, req.tool_ids)
    for folder_id in dict.fromkeys([*(req.folder_ids or []), *(req.source_ids or [])]):
        agent_files.attach_folder(conn, org_id, agent_id, folder_id)
    add_approval_defaults(conn, org_id, agent_id)
    if req.enable_sleeptime:
        set_sleeptime(conn, org_id, agent_id, True, settings)
    return agent_id


def _attach_tools(
    conn: Connection, org_id: str, agent_id: str, names: list[str], tool_ids: list[str]
) -> None:
    found = tool_rows.tools_by_name(conn, org_id, names)
    missing = [n for n in names if n not in found]
    if missing:
        raise NotFoundError(f"no tool named {', '.join(repr(n) for n in missing)}")
    for tool in found.values():
        tool_rows.attach_tool(conn, agent_id, tool.id)
    for tool_id in tool_ids:
        tool_rows.attach_tool(conn, agent_id, tool_rows.get_tool(conn, org_id, tool_id).id)


def add_approval_defaults(conn: Connection, org_id: str, agent_id: str) -> None:
    """Give each attached tool whose `default_requires_approval` is set a `RequiresApprovalToolRule`
    (as Letta does on attach), so approval is decided by the agent's rules alone and can be switched
    off per agent (`PATCH /v1/agents/{id}/tools/approval/{name}`)."""
    tools = tool_rows.tools_of_agents(conn, [agent_id])[agent_id]
    needing = [t.name for t in tools if t.default_requires_approval]
    if not needing:
        return
    rules = load_rules(agent_rows.get_agent(conn, org_id, agent_id).tool_rules)
    updated = rules
    for name in needing:
        updated = with_requires_approval(updated, name, True)
    if len(updated) != len(rules):
        agent_rows.update_agent(conn, agent_id, {"tool_rules": dump_rules(updated)})


def _embedding_from_handle(handle: str | None) -> dict[str, Any]:
    return embedding_config_for(handle)


def _default_name(agent_id: str) -> str:
    return f"agent-{agent_id[6:14]}"


def update_agent(conn: Connection, org_id: str, agent_id: str, req: UpdateAgent, settings: Settings) -> None:
    record = agent_rows.get_agent(conn, org_id, agent_id)
    fields = req.model_fields_set
    values: dict[str, Any] = {}
    for name in ("name", "system", "description", "metadata", "timezone", *agent_files.AGENT_SETTINGS):
        if name in fields and getattr(req, name) is not None:
            values[name] = getattr(req, name)
    if req.tool_rules is not None:
        values["tool_rules"] = dump_rules(req.tool_rules)
    handle = _resolve_model(req, settings, None)
    window = req.context_window_limit or (req.llm_config.context_window if req.llm_config else None)
    if handle is not None or window is not None:
        handle = handle or record.model
        window = window or record.context_window_limit
        values.update(
            model=handle,
            context_window_limit=window,
            llm_config=llm_config_for(handle, window, req.llm_config),
        )
    if req.embedding_config is not None:
        values["embedding_config"] = req.embedding_config.model_dump(exclude_none=True)
    elif req.embedding is not None:
        values["embedding_config"] = _embedding_from_handle(req.embedding)
    if req.tool_exec_environment_variables is not None or req.secrets is not None:
        values["tool_exec_environment_variables"] = {
            **(req.tool_exec_environment_variables or {}),
            **(req.secrets or {}),
        }
    if req.message_ids is not None:
        values["message_ids"] = req.message_ids
    agent_rows.update_agent(conn, agent_id, values)
    if req.tags is not None:
        agent_rows.set_tags(conn, agent_id, req.tags)
    if req.block_ids is not None:
        _replace_blocks(conn, org_id, agent_id, req.block_ids)
    if req.tool_ids is not None:
        for tool in tool_rows.tools_of_agents(conn, [agent_id])[agent_id]:
            tool_rows.detach_tool(conn, agent_id, tool.id)
        _attach_tools(conn, org_id, agent_id, [], req.tool_ids)
        add_approval_defaults(conn, org_id, agent_id)
    agent_files.replace_folders(conn, org_id, agent_id, req.folder_ids, req.source_ids)
    if req.enable_sleeptime is not None:
        set_sleeptime(conn, org_id, agent_id, req.enable_sleeptime, settings)


def set_sleeptime(conn: Connection, org_id: str, agent_id: str, enabled: bool, settings: Settings) -> None:
    """Give the agent a sleep-time companion, or remove it (memfold/agent/sleeptime.py)."""
    if enabled:
        sleeptime.enable(conn, org_id, agent_rows.get_agent(conn, org_id, agent_id), settings)
    else:
        sleeptime.disable(conn, org_id, agent_id)


def delete_agent(conn: Connection, org_id: str, agent_id: str) -> None:
    """Delete the agent, and its sleep-time companion if it has one."""
    agent_rows.get_agent(conn, org_id, agent_id)  # NotFoundError first
    sleeptime.disable(conn, org_id, agent_id)
    agent_rows.delete_agent(conn, org_id, agent_id)


def _replace_blocks(conn: Connection, org_id: str, agent_id: str, block_ids: list[str]) -> None:
    wanted = [block_rows.get_block(conn, org_id, b) for b in block_ids]
    for block in block_rows.blocks_of_agents(conn, [agent_id])[agent_id]:
        block_rows.detach_block(conn, agent_id, block.id)
    for block in wanted:
        block_rows.attach_block(conn, agent_id, block)


def agent_states(conn: Connection, records: list[AgentRecord]) -> list[AgentState]:
    """`AgentState`s of `records`, loading blocks, tools and tags for all of them in three queries."""
    ids = [r.id for r in records]
    blocks = block_rows.blocks_of_agents(conn, ids)
    tools = tool_rows.tools_of_agents(conn, ids)
    tags = agent_rows.tags_of_agents(conn, ids)
    found = group_rows.groups_of_managers(conn, ids)
    groups = dict(zip(found, sleeptime.group_views(conn, list(found.values())), strict=True))
    states = [_state(r, blocks[r.id], tools[r.id], tags[r.id]) for r in records]
    agent_files.add_folder_fields(conn, records, states)
    for state in states:
        group = groups.get(state.id)
        state.enable_sleeptime = group is not None
        state.managed_group = state.multi_agent_group = group
    return states


def agent_state(conn: Connection, org_id: str, agent_id: str) -> AgentState:
    return agent_states(conn, [agent_rows.get_agent(conn, org_id, agent_id)])[0]


def _state(record: AgentRecord, blocks: list[Block], tools: list[Any], tags: list[str]) -> AgentState:
    env = record.tool_exec_environment_variables or {}
    embedding = EmbeddingConfig.model_validate(record.embedding_config) if record.embedding_config else None
    return AgentState(
        id=record.id,
        name=record.name,
        agent_type=record.agent_type,
        system=record.system,
        description=record.description,
        model=record.model,
        embedding=embedding.handle if embedding else None,
        llm_config=LLMConfig.model_validate(record.llm_config),
        embedding_config=embedding,
        blocks=blocks,
        memory=Memory(blocks=blocks, agent_type=record.agent_type),
        tools=tools,
        tags=tags,
        tool_rules=load_rules(record.tool_rules),
        message_ids=record.message_ids,
        metadata=record.metadata,
        timezone=record.timezone,
        # Values are secrets: the API shows which variables are set, never their values.
        tool_exec_environment_variables=[EnvironmentVariable(key=k, value="") for k in sorted(env)],
        last_stop_reason=record.last_stop_reason,
        last_run_completion=record.last_run_completion,
        last_run_duration_ms=record.last_run_duration_ms,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
