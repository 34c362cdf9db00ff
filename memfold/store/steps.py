"""Steps: one row per LLM call, with token usage and timing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from memfold.schemas.base import utcnow
from memfold.store import tables as t


def insert_step(conn: Connection, org_id: str, step_id: str, values: dict[str, Any]) -> None:
    conn.execute(insert(t.steps).values(id=step_id, organization_id=org_id, created_at=utcnow(), **values))
