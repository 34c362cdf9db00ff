"""The built-in tools. They run in the server process and act on the step's `ToolContext`.

Each is an ordinary Python function whose schema comes from its signature and docstring
through the same generator as a user's tool; `agent_state` is injected by the executor and
never shown to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memfold.memory.core import CoreMemory
from memfold.schemas.tools import ToolType


class ToolContext:
    """What a built-in tool may touch during one step (checked by identity, never copied)."""

    __slots__ = ("agent_id", "extras", "memory")

    def __init__(self, agent_id: str, memory: CoreMemory, extras: dict[str, Any] | None = None) -> None:
        self.agent_id = agent_id
        self.memory = memory
        self.extras = extras or {}


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


@dataclass(frozen=True)
class BuiltinTool:
    function: Callable[..., str]
    tool_type: ToolType

    @property
    def name(self) -> str:
        return self.function.__name__


BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    t.name: t
    for t in (
        BuiltinTool(send_message, "letta_core"),
        BuiltinTool(core_memory_append, "letta_memory_core"),
        BuiltinTool(core_memory_replace, "letta_memory_core"),
        BuiltinTool(memory_insert, "letta_memory_core"),
        BuiltinTool(memory_replace, "letta_memory_core"),
        BuiltinTool(memory_rethink, "letta_memory_core"),
    )
}

# The tools each agent type gets when `include_base_tools` is true.
BASE_TOOLS: dict[str, tuple[str, ...]] = {
    "memgpt_agent": ("send_message", "core_memory_append", "core_memory_replace"),
    "memgpt_v2_agent": ("send_message", "memory_insert", "memory_replace", "memory_rethink"),
    "letta_v1_agent": ("memory_insert", "memory_replace", "memory_rethink"),
}
