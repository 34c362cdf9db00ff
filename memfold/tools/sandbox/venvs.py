"""Package environments for tools with `pip_requirements`, built once per set of requirements.

A tool's requirements (`[{"name": "requests", "version": "2.32.3"}, ...]`) become pip requirement
strings, checked so none can smuggle in a pip option. The environment for a set lives in
`<home>/sandbox/venvs/<hash>/site-packages` (the hash covers the requirements, the interpreter version
and the pip options) and is complete when `READY` exists beside it. Building it:

1. an exclusive `flock` on `<hash>.lock` (so two first calls, in one process or several, build it
   once; the second waits and then finds it ready);
2. `pip install --target` runs in the sandbox as the workers' user, with the network allowed and its
   own limits, into a fresh directory outside the data directory (installing runs package code);
3. the result is copied into the data directory by the server (owned by the server, read-only for
   everyone else), renamed into place and marked `READY`.

Workers for such a tool are started cold with `-S` and this directory added (`site.addsitedir`), so
they see the standard library and exactly the requested packages, not the server's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from memfold.errors import ToolError

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?$")
_BARE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.*+!_-]*$")
_SPECIFIER = re.compile(r"^(?:(?:===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)+$")

Installer = Callable[[list[str]], AbstractContextManager[Path]]
"""Installs the requirement strings into `<the directory it yields>/site-packages`, which exists until the
context ends; raises ToolError when the installation fails."""


def requirement_strings(requirements: list[dict[str, Any]] | None) -> list[str]:
    """pip requirement strings for a tool's `pip_requirements`, sorted and without duplicates."""
    specs: set[str] = set()
    for item in requirements or []:
        name = str(item.get("name") or "").strip() if isinstance(item, dict) else ""
        if not _NAME.match(name):
            raise ToolError(f"the tool's pip requirement {item!r} has no valid package name")
        version = str(item.get("version") or "").strip()
        if not version:
            specs.add(name)
        elif _BARE_VERSION.match(version):
            specs.add(f"{name}=={version}")
        elif _SPECIFIER.match(version):
            specs.add(f"{name}{version.replace(' ', '')}")
        else:
            raise ToolError(f"the tool's pip requirement {name!r} has an invalid version {version!r}")
    return sorted(specs)


class PackageCache:
    def __init__(self, root: Path, installer: Installer, *, key_parts: list[str]) -> None:
        self.root = root
        self.installer = installer
        self.key_parts = key_parts

    def key(self, specs: list[str]) -> str:
        payload = json.dumps({"requirements": specs, "environment": self.key_parts}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def path(self, specs: list[str]) -> Path:
        return self.root / self.key(specs)

    def ready(self, specs: list[str]) -> Path | None:
        path = self.path(specs)
        return path if (path / "READY").exists() else None

    def ensure(self, specs: list[str]) -> Path:
        """The environment's directory, building it first if needed (blocking: run it in a thread)."""
        found = self.ready(specs)
        if found is not None:
            return found
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.path(specs)
        with open(self.root / f"{final.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if (final / "READY").exists():  # built by whoever held the lock before us
                    return final
                with self.installer(specs) as staging:
                    self._settle(staging / "site-packages", final, specs)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return final

    def _settle(self, installed: Path, final: Path, specs: list[str]) -> None:
        if not installed.is_dir():
            raise ToolError("installing the tool's requirements produced no packages")
        temporary = self.root / f".{final.name}.{uuid.uuid4().hex[:8]}"
        try:
            # Copied by the server: the files belong to it, so a tool can read but never change them.
            shutil.copytree(installed, temporary / "site-packages", symlinks=True)
            (temporary / "requirements.txt").write_text("".join(f"{s}\n" for s in specs))
            for directory, _subdirs, files in os.walk(temporary):
                os.chmod(directory, 0o755)
                for name in files:
                    path = os.path.join(directory, name)
                    if not os.path.islink(path):
                        os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
            if final.exists():  # an earlier build that never finished
                shutil.rmtree(final)
            temporary.rename(final)
            (final / "READY").touch()
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
