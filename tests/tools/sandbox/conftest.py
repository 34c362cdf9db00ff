"""Fixtures for the sandbox tests: small limits, every isolation mode this machine has, cleanup.

`mode` runs a test once per isolation (bwrap, unshare, none); a mode this machine cannot provide is
skipped with the reason detection gave. Limits are small so hostile tools cannot hurt the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memfold.config import Settings
from memfold.ids import new_id
from memfold.schemas.tools import Tool
from memfold.tools.sandbox import ToolSandbox
from memfold.tools.sandbox.isolation import detect
from tests.conftest import SCRIPTED

SMALL_LIMITS: dict[str, Any] = {
    "sandbox_timeout_seconds": 2.0,
    "sandbox_cpu_seconds": 10,
    "sandbox_memory_mb": 256,
    "sandbox_max_processes": 16,
    "sandbox_max_file_mb": 8,
    "sandbox_pool_size": 1,
}

SandboxFactory = Callable[..., ToolSandbox]


def tool(source: str, name: str = "f", **fields: Any) -> Tool:
    """A custom tool as the store would hold it."""
    return Tool(id=new_id("tool"), name=name, tool_type="custom", source_code=source, **fields)


@pytest.fixture(params=["bwrap", "unshare", "none"])
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    problem = detect(mode).problem
    if problem:
        pytest.skip(f"isolation {mode!r} is unavailable here: {problem}")
    return mode


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(exist_ok=True)
    (path / "secret.txt").write_text("the server's secret")
    return path


@pytest.fixture
def make_sandbox(home: Path) -> Iterator[SandboxFactory]:
    """Builds sandboxes with small limits (overridable) and closes them all after the test."""
    made: list[ToolSandbox] = []

    def make(mode: str = "auto", **overrides: Any) -> ToolSandbox:
        settings = Settings(home=home, sandbox_isolation=mode, **{**SMALL_LIMITS, **overrides})
        sandbox = ToolSandbox(settings)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The app's settings (overrides the suite's): small sandbox limits."""
    return Settings(home=tmp_path / "home", default_model=SCRIPTED, **SMALL_LIMITS)


def is_root() -> bool:
    return os.geteuid() == 0
