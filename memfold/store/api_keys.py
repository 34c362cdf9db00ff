"""API keys kept in the database. Only a SHA-256 hash of a key is stored, never the key.

A key is `mf-<prefix>-<secret>`: the prefix (8 hex digits) is stored in clear so a listing can tell keys
apart; the secret carries 256 random bits, so a plain (unsalted) hash cannot be reversed by guessing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, select, update

from memfold.errors import NotFoundError
from memfold.schemas.base import utcnow
from memfold.store import tables as t

KEY_PREFIX = "mf-"


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    organization_id: str
    name: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


def generate_key() -> str:
    return f"{KEY_PREFIX}{secrets.token_hex(4)}-{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shown_prefix(key: str) -> str:
    """What a listing shows of a key: `mf-1a2b3c4d` for generated keys, else its first 6 characters."""
    if key.startswith(KEY_PREFIX) and key.count("-") >= 2:
        return key[: len(KEY_PREFIX) + 8]
    return key[:6]


def create_key(conn: Connection, org_id: str, name: str) -> tuple[ApiKeyRecord, str]:
    """Store a new key for the organization; returns its record and the key (the only time it is seen)."""
    key = generate_key()
    record = ApiKeyRecord(
        id=f"apikey-{uuid.uuid4()}",
        organization_id=org_id,
        name=name,
        key_prefix=shown_prefix(key),
        created_at=utcnow(),
        revoked_at=None,
    )
    conn.execute(
        insert(t.api_keys).values(
            id=record.id,
            organization_id=org_id,
            name=name,
            key_hash=hash_key(key),
            key_prefix=record.key_prefix,
            created_at=record.created_at,
        )
    )
    return record, key


def _record(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        key_prefix=row["key_prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def list_keys(conn: Connection) -> list[ApiKeyRecord]:
    rows = conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)).mappings()
    return [_record(r) for r in rows]


def revoke_key(conn: Connection, key_id: str) -> ApiKeyRecord:
    """Mark the key revoked (idempotent); it stops working at once. Unknown id -> NotFoundError."""
    row = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no API key with id {key_id!r}")
    if row["revoked_at"] is None:
        conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=utcnow()))
        row = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).mappings().one()
    return _record(row)


def org_of_key(conn: Connection, key: str) -> str | None:
    """The organization of an active (not revoked) key, or None."""
    row = conn.execute(
        select(t.api_keys.c.organization_id).where(
            t.api_keys.c.key_hash == hash_key(key), t.api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else str(row.organization_id)


def any_keys(conn: Connection) -> bool:
    """Whether a key was ever created here (revoked ones count: revoking keys never opens a server)."""
    return conn.execute(select(t.api_keys.c.id).limit(1)).first() is not None
