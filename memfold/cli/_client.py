"""What the CLI's REST clients (`memfold chat`, `memfold agents`) send to a server that needs a key."""

from __future__ import annotations

import os

API_KEY_VARIABLE = "LETTA_API_KEY"
"""The variable `letta-client` reads too, so one setting serves the SDK and the CLI."""


def client_headers() -> dict[str, str]:
    """`Authorization: Bearer $LETTA_API_KEY` when the variable is set, else nothing."""
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    return {"Authorization": f"Bearer {key}"} if key else {}
