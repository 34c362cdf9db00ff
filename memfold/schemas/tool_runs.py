"""Running one of an agent's tools directly: `POST /v1/agents/{id}/tools/{name}/run`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from memfold.schemas.agents import AgentState
from memfold.schemas.base import RequestModel, ResponseModel


class RunToolRequest(RequestModel):
    args: dict[str, Any] = Field(default_factory=dict)


class ToolExecutionResult(ResponseModel):
    """Letta's result shape. `func_return` is what the tool returned (as the model would read it), or
    the error; `agent_state` is the agent after the run (memory edits included)."""

    status: Literal["success", "error"]
    func_return: Any = None
    agent_state: AgentState | None = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None
    sandbox_config_fingerprint: str | None = None
