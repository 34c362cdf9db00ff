"""Ids with Letta's prefixes: `agent-<uuid4>`, `block-<uuid4>`, ..."""

from __future__ import annotations

import uuid
from typing import Literal

Prefix = Literal[
    "agent",
    "block",
    "message",
    "tool",
    "passage",
    "run",
    "step",
    "org",
    "user",
    "archive",
    "provider",
    "mcp_server",
    "process",
    "group",
]


def new_id(prefix: Prefix) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def has_prefix(value: str, prefix: Prefix) -> bool:
    return value.startswith(prefix + "-") and len(value) == len(prefix) + 37
