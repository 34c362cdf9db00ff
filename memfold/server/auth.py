"""Who may call the server, and as which organization.

Keys come from `MEMFOLD_API_KEYS` (held in memory, compared in constant time) and from the `api_keys`
table (`memfold keys create`; looked up by SHA-256 hash). Once any key exists, every request except
`/v1/health` must carry one (`Authorization: Bearer <key>`, as `letta-client` sends it, or `X-API-Key`)
and runs in the key's organization; otherwise it gets 401. With no key anywhere the server is open and
every request runs in the default organization.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from memfold.agent.lifecycle import register_builtin_tools
from memfold.config import Settings
from memfold.errors import InvalidValueError
from memfold.server.errors import error_body
from memfold.store import api_keys as key_rows
from memfold.store.engine import Database
from memfold.store.orgs import DEFAULT_ORG_ID, ensure_org

log = logging.getLogger("memfold.server")

OPEN_PATHS = ("/v1/health",)
"""Paths anyone may call, keys or not (a load balancer's health check has no key)."""


def parse_env_keys(value: str | None) -> list[tuple[str | None, str]]:
    """`org_a:key1, key2` -> [("org_a", "key1"), (None, "key2")]; None means the default organization."""
    entries: list[tuple[str | None, str]] = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        org, sep, key = entry.partition(":")
        if not sep:
            org, key = "", entry
        org, key = org.strip(), key.strip()
        if not key or (sep and not org):
            raise InvalidValueError(f"MEMFOLD_API_KEYS: {entry[:12]!r}... is not `org_name:key` or `key`")
        if any(key == seen for _, seen in entries):
            raise InvalidValueError("MEMFOLD_API_KEYS: the same key is listed twice")
        entries.append((org or None, key))
    return entries


@dataclass
class ApiKeys:
    """The keys this server accepts: the environment's (SHA-256 of the key, organization id) and the
    database's."""

    db: Database
    env_keys: list[tuple[str, str]]
    _closed: bool = False
    """Set once a key was seen: keys never go away (revoked rows count), so it is not asked again."""

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> ApiKeys:
        """Resolve `MEMFOLD_API_KEYS`, creating named organizations (with the built-in tools) as needed."""
        resolved: list[tuple[str, str]] = []
        entries = parse_env_keys(settings.api_keys)
        if entries:
            with db.write() as conn:
                for org_name, key in entries:
                    org_id = DEFAULT_ORG_ID
                    if org_name is not None:
                        org_id, created = ensure_org(conn, org_name)
                        if created:
                            register_builtin_tools(conn, org_id)
                    resolved.append((key_rows.hash_key(key), org_id))
        return cls(db=db, env_keys=resolved)

    def configured(self) -> bool:
        """Whether requests need a key (any in the environment, or any ever created in the database)."""
        if self.env_keys or self._closed:
            return True
        with self.db.read() as conn:
            self._closed = key_rows.any_keys(conn)
        return self._closed

    def organization(self, key: str) -> str | None:
        """The organization the key belongs to, or None for an unknown or revoked key."""
        found: str | None = None
        given = key_rows.hash_key(key)
        for known, org_id in self.env_keys:
            # Compare fixed-length digests against every key: the time taken tells nothing about the keys.
            if hmac.compare_digest(given, known) and found is None:
                found = org_id
        if found is not None:
            return found
        with self.db.read() as conn:
            return key_rows.org_of_key(conn, key)

    def check(self, key: str | None) -> str | None:
        """The organization a request with this key (or none) runs in; None means 401."""
        if not self.configured():
            return DEFAULT_ORG_ID
        if not key:
            return None
        return self.organization(key)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>`, else `X-API-Key: <key>`."""
    bearer: str | None = None
    header_key: str | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif lowered == b"x-api-key" and value.strip():
            header_key = value.decode("latin-1").strip()
    return bearer or header_key


class ApiKeyMiddleware:
    """Puts the caller's organization into `request.state.org_id`, or answers 401 in the one error shape."""

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if any(path == p or path.startswith(p + "/") for p in OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        key = presented_key(list(scope.get("headers", [])))
        org_id = await anyio.to_thread.run_sync(self.keys.check, key)
        if org_id is None:
            detail = "an API key is required: send `Authorization: Bearer <key>`"
            if key:
                detail = "the API key is unknown or revoked"
            response = error_body(401, detail, "unauthorized")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["org_id"] = org_id
        await self.app(scope, receive, send)
