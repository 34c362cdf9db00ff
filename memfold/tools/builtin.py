"""The built-in tools. They run in the server process and act on the step's `ToolContext`
(`memfold/tools/context.py`; the agent-to-agent tools live in `multi_agent.py`, the file tools in
`files.py`).

Each is an ordinary Python function whose schema comes from its signature and docstring
through the same generator as a user's tool; `agent_state` is injected by the executor and
never shown to the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from memfold.errors import ToolError
from memfold.memory.search import parse_bound, timestamp, zone
from memfold.schemas.tools import ToolType
from memfold.tools.context import ToolContext as ToolContext  # (re-exported: its old home)
from memfold.tools.files import FILE_TOOL_PROPERTIES, grep_files, open_files, semantic_search_files
from memfold.tools.multi_agent import (
    send_message_to_agent_and_wait_for_reply,
    send_message_to_agent_async,
    send_message_to_agents_matching_tags,
)
from memfold.tools.schema import schema_from_function
from memfold.tools.sleeptime import memory_finish_edits

DEFAULT_SEARCH_RESULTS = 5
MAX_SEARCH_RESULTS = 100


def send_message(agent_state: ToolContext, message: str) -> str:
    """Send a message to the user. This is the only way the user sees what you say.

    Args:
        message: The message the user will read.
    """
    return "Sent message successfully."


def core_memory_append(agent_state: ToolContext, label: str, content: str) -> str:
    """Append text to the end of a core memory block.

    Args:
        label: Label of the memory block, e.g. 'human' or 'persona'.
        content: Text to append; it starts on a new line.
    """
    agent_state.memory.append(label, content)
    return f"Appended to memory block '{label}'."


def core_memory_replace(agent_state: ToolContext, label: str, old_content: str, new_content: str) -> str:
    """Replace text in a core memory block. Every occurrence of old_content is replaced.

    Args:
        label: Label of the memory block, e.g. 'human' or 'persona'.
        old_content: Exact text to find in the block.
        new_content: Text to put in its place; an empty string deletes it.
    """
    agent_state.memory.replace(label, old_content, new_content)
    return f"Replaced text in memory block '{label}'."


def memory_insert(agent_state: ToolContext, label: str, new_str: str, insert_line: int = -1) -> str:
    """Insert text into a memory block at a given line.

    Args:
        label: Label of the memory block to edit.
        new_str: Text to insert.
        insert_line: Line number to insert before (0 is the first line); -1 appends at the end.
    """
    agent_state.memory.insert(label, new_str, insert_line)
    return f"Inserted text into memory block '{label}'."


def memory_replace(agent_state: ToolContext, label: str, old_str: str, new_str: str) -> str:
    """Replace one exact, unique occurrence of text in a memory block.

    Args:
        label: Label of the memory block to edit.
        old_str: Exact text to replace; it must occur exactly once in the block.
        new_str: Replacement text; an empty string deletes old_str.
    """
    agent_state.memory.replace(label, old_str, new_str, require_unique=True)
    return f"Replaced text in memory block '{label}'."


def memory_rethink(agent_state: ToolContext, label: str, new_memory: str) -> str:
    """Rewrite a memory block completely, to reorganise or condense it.

    Args:
        label: Label of the memory block to rewrite.
        new_memory: The block's complete new content.
    """
    agent_state.memory.rewrite(label, new_memory)
    return f"Rewrote memory block '{label}'."


async def archival_memory_insert(
    agent_state: ToolContext, content: str, tags: list[str] | None = None
) -> str:
    """Store a self-contained passage in archival memory (unlimited, searched with archival_memory_search).

    Args:
        content: Text to store.
        tags: Optional labels for filtering searches.
    """
    if agent_state.archival is None:
        raise ToolError("archival memory is not available here")
    if not content.strip():
        raise ToolError("content is empty: give the text to store")
    pieces = await agent_state.archival.insert(content, tags)
    return "Stored in archival memory." if pieces == 1 else f"Stored in archival memory as {pieces} passages."


async def archival_memory_search(
    agent_state: ToolContext,
    query: str,
    tags: list[str] | None = None,
    tag_match_mode: Literal["any", "all"] = "any",
    top_k: int | None = None,
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> str:
    """Search archival memory by meaning and words.

    Args:
        query: What to look for.
        tags: Only passages with these tags.
        tag_match_mode: Match 'any' or 'all' tags.
        top_k: Results (default 5).
        start_datetime: ISO date/time lower bound.
        end_datetime: ISO date/time upper bound; a date includes the day.
    """
    archival = agent_state.archival
    if archival is None:
        raise ToolError("archival memory is not available here")
    tz = zone(archival.agent.timezone)
    hits = await archival.search(
        query,
        top_k=_count(top_k, "top_k"),
        tags=tags,
        match_all_tags=tag_match_mode == "all",
        start=parse_bound(start_datetime, end=False, tz=tz, field="start_datetime"),
        end=parse_bound(end_datetime, end=True, tz=tz, field="end_datetime"),
    )
    if not hits:
        return "No results found."
    results = []
    for hit in hits:
        result: dict[str, Any] = {
            "timestamp": timestamp(hit.passage.created_at, tz),
            "content": hit.passage.text,
        }
        if hit.passage.tags:
            result["tags"] = hit.passage.tags
        results.append(result)
    return json.dumps(results, ensure_ascii=False)


async def conversation_search(
    agent_state: ToolContext,
    query: str,
    roles: list[Literal["assistant", "user", "tool"]] | None = None,
    limit: int | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> str:
    """Search all past messages, including those no longer in context.

    Args:
        query: What to look for.
        roles: Only these roles (default user, assistant).
        limit: Results (default 5).
        start_date: ISO date/time lower bound.
        end_date: ISO date/time upper bound; a date includes the day.
    """
    recall = agent_state.recall
    if recall is None:
        raise ToolError("conversation history is not available here")
    tz = zone(recall.agent.timezone)
    hits = await recall.search(
        query,
        limit=_count(limit, "limit"),
        roles=list(roles) if roles else None,
        start=parse_bound(start_date, end=False, tz=tz, field="start_date"),
        end=parse_bound(end_date, end=True, tz=tz, field="end_date"),
    )
    if not hits:
        return "No results found."
    return json.dumps(
        [
            {
                "timestamp": timestamp(hit.entry.created_at, tz),
                "role": hit.entry.role,
                "content": hit.entry.text,
            }
            for hit in hits
        ],
        ensure_ascii=False,
    )


def _count(value: int | None, name: str) -> int:
    if value is None:
        return DEFAULT_SEARCH_RESULTS
    if value < 1:
        raise ToolError(f"{name} must be at least 1")
    return min(value, MAX_SEARCH_RESULTS)


@dataclass(frozen=True)
class BuiltinTool:
    function: Callable[..., Any]
    tool_type: ToolType
    properties: dict[str, dict[str, Any]] | None = None
    """Additions to the generated schema of some parameters (what a signature cannot say)."""

    @property
    def name(self) -> str:
        return self.function.__name__

    def schema(self) -> dict[str, Any]:
        """The tool's JSON schema: generated from its source like a user's tool, plus `properties`."""
        schema = schema_from_function(self.function)
        for name, extra in (self.properties or {}).items():
            properties = schema["parameters"]["properties"]
            properties[name] = {**properties[name], **extra}
        return schema


BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    t.name: t
    for t in (
        BuiltinTool(send_message, "letta_core"),
        BuiltinTool(core_memory_append, "letta_memory_core"),
        BuiltinTool(core_memory_replace, "letta_memory_core"),
        BuiltinTool(memory_insert, "letta_memory_core"),
        BuiltinTool(memory_replace, "letta_memory_core"),
        BuiltinTool(memory_rethink, "letta_memory_core"),
        BuiltinTool(conversation_search, "letta_core"),
        BuiltinTool(archival_memory_insert, "letta_core"),
        BuiltinTool(archival_memory_search, "letta_core"),
        BuiltinTool(send_message_to_agent_async, "letta_multi_agent_core"),
        BuiltinTool(send_message_to_agent_and_wait_for_reply, "letta_multi_agent_core"),
        BuiltinTool(send_message_to_agents_matching_tags, "letta_multi_agent_core"),
        BuiltinTool(open_files, "letta_files_core", FILE_TOOL_PROPERTIES),
        BuiltinTool(grep_files, "letta_files_core"),
        BuiltinTool(semantic_search_files, "letta_files_core"),
        BuiltinTool(memory_finish_edits, "letta_sleeptime_core"),
    )
}

# The tools each agent type gets when `include_base_tools` is true.
_EXTERNAL_MEMORY_TOOLS = ("conversation_search", "archival_memory_insert", "archival_memory_search")
BASE_TOOLS: dict[str, tuple[str, ...]] = {
    "memgpt_agent": ("send_message", "core_memory_append", "core_memory_replace", *_EXTERNAL_MEMORY_TOOLS),
    "memgpt_v2_agent": (
        "send_message",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
        *_EXTERNAL_MEMORY_TOOLS,
    ),
    "letta_v1_agent": ("memory_insert", "memory_replace", "memory_rethink", *_EXTERNAL_MEMORY_TOOLS),
    # the companion of an agent created with enable_sleeptime (memfold/agent/sleeptime.py)
    "sleeptime_agent": ("memory_rethink", "memory_replace", "memory_insert", "memory_finish_edits"),
}
