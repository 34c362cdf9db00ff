"""Sleep-time agents: a companion agent that shares a main agent's memory blocks and revises them in
the background, between the main agent's turns.

An agent created (or modified) with `enable_sleeptime=true` gets a companion of type
`sleeptime_agent` and a group (`manager_type` "sleeptime") linking the two. The companion has the
main agent's blocks attached (the same rows: an edit by one is seen by the other), the edit tools
`memory_rethink`, `memory_replace`, `memory_insert` and `memory_finish_edits`, and tool rules that
keep it editing until it calls `memory_finish_edits` (terminal) or runs out of steps. Its input is
the main agent's transcript since its previous run (`transcript`); the run queue starts it
(memfold/runs/sleeptime.py). This module holds what belongs to the agents themselves: creating and
removing the companion, its prompt, and the group as the API shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from memfold.config import Settings
from memfold.context.summarizer import transcript_lines
from memfold.ids import new_id
from memfold.schemas.groups import Group
from memfold.schemas.messages import Message
from memfold.schemas.tool_rules import ContinueToolRule, TerminalToolRule, ToolRule, dump_rules
from memfold.store import agents as agent_rows
from memfold.store import blocks as block_rows
from memfold.store import groups as group_rows
from memfold.store import tools as tool_rows
from memfold.store.agents import AgentRecord
from memfold.store.groups import GroupRecord
from memfold.tools.builtin import BASE_TOOLS

SLEEPTIME_AGENT_TYPE = "sleeptime_agent"
FINISH_TOOL = "memory_finish_edits"
EDIT_TOOLS = ("memory_rethink", "memory_replace", "memory_insert")

SLEEPTIME_SYSTEM = """\
You look after the long-term memory of another agent while it is not busy. You never talk to anyone: \
nobody reads your words, only your tool calls count.

The memory blocks below are that agent's core memory; it reads them before every reply, and you edit \
the very same blocks. Each time you run you are given the part of its conversation that happened since \
your last run. Use it to make the blocks more useful to the agent:
- record lasting facts, preferences and decisions that are not yet in the blocks;
- correct what the conversation shows to be outdated or wrong;
- merge duplicates, drop trivia, and keep each block well organised and well under its character limit.
Keep what is still true; do not invent anything the transcript does not support.

Edit with memory_replace (a small exact change), memory_insert (add lines) or memory_rethink (rewrite a \
whole block when it needs reorganising). Put brief reasoning in `thinking`. When the blocks are in \
order, or nothing needs changing, call memory_finish_edits; that ends your session."""


def sleeptime_rules() -> list[ToolRule]:
    """Editing keeps the session going; `memory_finish_edits` ends it."""
    rules: list[ToolRule] = [ContinueToolRule(tool_name=name) for name in EDIT_TOOLS]
    rules.append(TerminalToolRule(tool_name=FINISH_TOOL))
    return rules


def enable(conn: Connection, org_id: str, main: AgentRecord, settings: Settings) -> GroupRecord:
    """Give `main` a sleep-time companion and the group that links them (no-op if it has one)."""
    existing = group_rows.group_of_manager(conn, main.id)
    if existing is not None:
        return existing
    companion_id = new_id("agent")
    agent_rows.insert_agent(
        conn,
        {
            "id": companion_id,
            "organization_id": org_id,
            "name": f"{main.name}-sleeptime",
            "agent_type": SLEEPTIME_AGENT_TYPE,
            "description": f"Revises the memory of agent {main.id} in the background.",
            "system": SLEEPTIME_SYSTEM,
            "model": main.model,
            "context_window_limit": main.context_window_limit,
            "llm_config": main.llm_config,
            "embedding_config": main.embedding_config,
            "message_ids": [],
            "tool_rules": dump_rules(sleeptime_rules()),
            "metadata": None,
            "tool_exec_environment_variables": None,
            "timezone": main.timezone,
        },
        [],
    )
    share_blocks(conn, main.id, companion_id)
    tools = tool_rows.tools_by_name(conn, org_id, list(BASE_TOOLS[SLEEPTIME_AGENT_TYPE]))
    for name in BASE_TOOLS[SLEEPTIME_AGENT_TYPE]:
        tool_rows.attach_tool(conn, companion_id, tools[name].id)
    group_rows.insert_group(
        conn,
        {
            "id": new_id("group"),
            "organization_id": org_id,
            "manager_type": "sleeptime",
            "description": f"Sleep-time memory agent of {main.name}",
            "manager_agent_id": main.id,
            "sleeptime_agent_id": companion_id,
            "sleeptime_agent_frequency": settings.sleeptime_agent_frequency,
        },
    )
    found = group_rows.group_of_manager(conn, main.id)
    assert found is not None
    return found


def disable(conn: Connection, org_id: str, main_id: str) -> None:
    """Remove `main`'s sleep-time companion, if any (the group goes with it; the shared blocks stay)."""
    group = group_rows.group_of_manager(conn, main_id)
    if group is not None:
        agent_rows.delete_agent(conn, org_id, group.sleeptime_agent_id)


def share_blocks(conn: Connection, main_id: str, companion_id: str) -> None:
    """Make the companion's blocks the main agent's (attach new ones, detach those the main agent
    no longer has). Called at creation and before each run, so blocks attached later are shared too."""
    held = block_rows.blocks_of_agents(conn, [main_id, companion_id])
    wanted = {b.id for b in held[main_id]}
    for block in held[companion_id]:
        if block.id not in wanted:
            block_rows.detach_block(conn, companion_id, block.id)
    have = {b.id for b in held[companion_id]}
    for block in held[main_id]:
        if block.id not in have:
            block_rows.attach_block(conn, companion_id, block)


def transcript(main: AgentRecord, messages: Sequence[Message]) -> str:
    """The companion's input: what happened in the main agent's conversation since its last run."""
    header = (
        f"Conversation of agent {main.name} ({main.id}) since your last run, oldest first. Lines say "
        "who spoke: the user (with the sending agent's id when another agent wrote), the agent, or "
        "a tool's result. Update the memory blocks from it, then call memory_finish_edits."
    )
    return "\n".join([header, "", *transcript_lines(messages)])


def group_view(group: GroupRecord, shared_block_ids: list[str]) -> Group:
    return Group(
        id=group.id,
        manager_type="sleeptime",
        agent_ids=[group.sleeptime_agent_id],
        description=group.description,
        manager_agent_id=group.manager_agent_id,
        sleeptime_agent_frequency=group.sleeptime_agent_frequency,
        turns_counter=group.turns_counter,
        last_processed_message_id=group.last_processed_message_id,
        shared_block_ids=shared_block_ids,
    )


def group_views(conn: Connection, groups: list[GroupRecord]) -> list[Group]:
    blocks = block_rows.blocks_of_agents(conn, [g.sleeptime_agent_id for g in groups])
    return [group_view(g, [b.id for b in blocks[g.sleeptime_agent_id]]) for g in groups]
