"""What a built-in tool may touch during one step: the `ToolContext` (its own module so that tool
modules beside `builtin.py`, such as `multi_agent.py`, can use it without an import cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfold.memory.archival import ArchivalMemory
from memfold.memory.core import CoreMemory
from memfold.memory.recall import RecallMemory

if TYPE_CHECKING:
    from memfold.folders.agent_files import AgentFiles
    from memfold.tools.runtime import ToolRuntime


class ToolContext:
    """What a built-in tool may touch during one step (checked by identity, never copied).

    `archival` and `recall` are the agent's external memory; None where a step has none
    (the tools that need them then answer with an error the model can read). `env` holds the
    environment variables configured for the agent's tools; `runtime` runs non-built-in tools.
    `org_id` is the agent's organization (the multi-agent tools look other agents up in it).
    `files` is the agent's view of its folders' files (the file tools); None where a step has none."""

    __slots__ = ("agent_id", "archival", "env", "extras", "files", "memory", "org_id", "recall", "runtime")

    def __init__(
        self,
        agent_id: str,
        memory: CoreMemory,
        extras: dict[str, Any] | None = None,
        *,
        archival: ArchivalMemory | None = None,
        recall: RecallMemory | None = None,
        env: dict[str, str] | None = None,
        runtime: ToolRuntime | None = None,
        org_id: str | None = None,
        files: AgentFiles | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.memory = memory
        self.extras = extras or {}
        self.archival = archival
        self.recall = recall
        self.env = env or {}
        self.runtime = runtime
        self.org_id = org_id
        self.files = files
