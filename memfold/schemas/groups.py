"""Groups of agents, in Letta's shape. memfold has one kind: a main agent (`manager_agent_id`) and the
sleep-time agent (`agent_ids`) that revises its memory in the background."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from memfold.schemas.base import RequestModel, ResponseModel

ManagerType = Literal["round_robin", "supervisor", "dynamic", "sleeptime", "voice_sleeptime", "swarm"]


class Group(ResponseModel):
    id: str
    manager_type: ManagerType
    agent_ids: list[str]
    description: str
    manager_agent_id: str | None = None
    sleeptime_agent_frequency: int | None = None
    turns_counter: int | None = None
    last_processed_message_id: str | None = None
    shared_block_ids: list[str] = Field(default_factory=list)
    hidden: bool | None = None
    max_turns: int | None = None
    termination_token: str | None = None
    max_message_buffer_length: int | None = None
    min_message_buffer_length: int | None = None
    base_template_id: str | None = None
    template_id: str | None = None
    deployment_id: str | None = None
    project_id: str | None = None


class SleeptimeManagerUpdate(RequestModel):
    manager_type: Literal["sleeptime"] = "sleeptime"
    manager_agent_id: str | None = None
    sleeptime_agent_frequency: int | None = Field(default=None, ge=1)


class GroupUpdate(RequestModel):
    """`PATCH /v1/groups/{id}`. Only a sleep-time group's `description` and frequency can change; its
    agents are fixed (turn sleep-time off and on again on the agent to get a new companion)."""

    description: str | None = None
    manager_config: SleeptimeManagerUpdate | None = None
    agent_ids: list[str] | None = None
    shared_block_ids: list[str] | None = None
