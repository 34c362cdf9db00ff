"""Organizations and users. A fresh database gets one default of each; others are made by name."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from memfold.ids import new_id
from memfold.schemas.base import utcnow
from memfold.store import tables as t

DEFAULT_ORG_ID = "org-00000000-0000-4000-8000-000000000000"
DEFAULT_USER_ID = "user-00000000-0000-4000-8000-000000000000"
DEFAULT_ORG_NAME = "default"


def ensure_defaults(conn: Connection) -> None:
    if conn.execute(select(t.organizations.c.id).where(t.organizations.c.id == DEFAULT_ORG_ID)).first():
        return
    now = utcnow()
    conn.execute(insert(t.organizations).values(id=DEFAULT_ORG_ID, name=DEFAULT_ORG_NAME, created_at=now))
    conn.execute(
        insert(t.users).values(
            id=DEFAULT_USER_ID, organization_id=DEFAULT_ORG_ID, name=DEFAULT_ORG_NAME, created_at=now
        )
    )


def find_org(conn: Connection, name: str) -> str | None:
    """The id of the organization called `name` (the oldest, should names repeat), or None."""
    row = conn.execute(
        select(t.organizations.c.id)
        .where(t.organizations.c.name == name)
        .order_by(t.organizations.c.created_at, t.organizations.c.id)
        .limit(1)
    ).first()
    return None if row is None else str(row.id)


def ensure_org(conn: Connection, name: str) -> tuple[str, bool]:
    """The id of the organization called `name`, created (with a user of the same name) if missing.

    Returns `(id, created)`. A new organization has no tools yet: the caller registers the built-ins.
    """
    found = find_org(conn, name)
    if found is not None:
        return found, False
    org_id, now = new_id("org"), utcnow()
    conn.execute(insert(t.organizations).values(id=org_id, name=name, created_at=now))
    conn.execute(insert(t.users).values(id=new_id("user"), organization_id=org_id, name=name, created_at=now))
    return org_id, True


def org_names(conn: Connection) -> dict[str, str]:
    """Every organization: id -> name."""
    rows = conn.execute(select(t.organizations.c.id, t.organizations.c.name)).all()
    return {str(r.id): str(r.name) for r in rows}
