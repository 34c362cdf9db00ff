"""Shared bits of the API contract."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict


def utcnow() -> datetime:
    return datetime.now(UTC)


class RequestModel(BaseModel):
    """A request body. Unknown fields are ignored: `letta-client` sends fields memfold does not use."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
