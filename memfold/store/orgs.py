"""Organizations and users. A fresh database gets one default of each."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from memfold.schemas.base import utcnow
from memfold.store import tables as t

DEFAULT_ORG_ID = "org-00000000-0000-4000-8000-000000000000"
DEFAULT_USER_ID = "user-00000000-0000-4000-8000-000000000000"


def ensure_defaults(conn: Connection) -> None:
    if conn.execute(select(t.organizations.c.id).where(t.organizations.c.id == DEFAULT_ORG_ID)).first():
        return
    now = utcnow()
    conn.execute(insert(t.organizations).values(id=DEFAULT_ORG_ID, name="default", created_at=now))
    conn.execute(
        insert(t.users).values(
            id=DEFAULT_USER_ID, organization_id=DEFAULT_ORG_ID, name="default", created_at=now
        )
    )
