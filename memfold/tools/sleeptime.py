"""The tool that ends a sleep-time agent's memory session (memfold/agent/sleeptime.py).

Its edits are made with the ordinary memory tools (`memory_rethink`, `memory_replace`,
`memory_insert`, in `builtin.py`); this one only marks the end. The sleep-time agent's tool rules
make it terminal, so calling it ends the run.
"""

from __future__ import annotations

from memfold.tools.context import ToolContext


def memory_finish_edits(agent_state: ToolContext) -> str:
    """Call this when the memory blocks are in order; it ends your memory session."""
    return "Memory edits finished."
