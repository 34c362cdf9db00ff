"""Core memory blocks: labelled strings with a character limit, always in the agent's context."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from memfold.schemas.base import RequestModel, ResponseModel

DEFAULT_BLOCK_LIMIT = 5000


class Block(ResponseModel):
    id: str
    label: str
    value: str
    limit: int = DEFAULT_BLOCK_LIMIT
    description: str | None = None
    read_only: bool = False
    hidden: bool | None = None
    is_template: bool = False
    template_name: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CreateBlock(RequestModel):
    label: str = Field(min_length=1, max_length=200)
    value: str = ""
    limit: int = Field(default=DEFAULT_BLOCK_LIMIT, gt=0)
    description: str | None = None
    read_only: bool = False
    hidden: bool | None = None
    is_template: bool = False
    template_name: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> CreateBlock:
        check_fits(self.value, self.limit)
        return self


class UpdateBlock(RequestModel):
    label: str | None = Field(default=None, min_length=1, max_length=200)
    value: str | None = None
    limit: int | None = Field(default=None, gt=0)
    description: str | None = None
    read_only: bool | None = None
    hidden: bool | None = None
    is_template: bool | None = None
    template_name: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None


class BlockVersion(ResponseModel):
    """One saved version of a block (`GET /v1/blocks/{id}/history`), with who made it: `actor_type`
    is "user" (through the API) or "agent" (an agent's step; `actor_id` is the agent's id)."""

    id: str
    block_id: str
    version: int
    label: str
    value: str
    limit: int
    description: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    created_at: datetime


class RollbackBlock(RequestModel):
    version: int = Field(ge=1, description="The saved version whose value, limit and description to restore.")


def check_fits(value: str, limit: int) -> None:
    """Raise ValueError (a 422 at the API) when `value` is longer than `limit` characters."""
    if len(value) > limit:
        raise ValueError(f"value has {len(value)} characters, more than the block's limit of {limit}")
