"""What an import may be told (`ImportOptions`) and what it reports back (`Skipped`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImportOptions", "Skipped"]


@dataclass(slots=True)
class ImportOptions:
    """The import options of Letta's API that mean something to memfold (the rest are accepted and
    ignored by the route)."""

    name: str | None = None
    append_copy_suffix: bool = False
    model: str | None = None
    embedding: str | None = None
    override_existing_tools: bool = True
    strip_messages: bool = False
    env_vars: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something of the file memfold did not import as it was (or at all), and why."""

    kind: str
    name: str
    reason: str
