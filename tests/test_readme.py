"""The README's two commands, `make serve` and `make test`, are what they say and they work.

CI (`.ci/run`) runs `make test`, so that one is checked by CI itself; `make serve` is run
here for real: it must start a server on MEMFOLD_PORT with its data in MEMFOLD_HOME.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.server_process import (
    free_port,
    process_group_alive,
    server_environment,
    stop_process_group,
    wait_for_health,
)
from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
README_COMMANDS = ["make serve", "make test"]
_FENCE = re.compile(r"^(?P<fence>```|~~~)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)


def first_fenced_commands(markdown: str) -> list[str]:
    """The shell commands of the first fenced code block, normalised: comments, blank lines and
    a leading `$ ` prompt dropped."""
    match = _FENCE.search(markdown)
    if match is None:
        return []
    lines = [line.strip().removeprefix("$ ") for line in match.group("body").splitlines()]
    return [shlex.join(tokens) for tokens in script_commands("\n".join(lines))]


def script_commands(script: str) -> list[list[str]]:
    """The commands of a shell script, as token lists (comments and blank lines dropped)."""
    return [tokens for line in script.splitlines() if (tokens := shlex.split(line, comments=True))]


def test_first_fenced_commands_parser() -> None:
    markdown = "# x\n\nIntro.\n\n```sh\n$ make serve  # start\n# comment\n\nmake test\n```\n\n```\nls\n```\n"
    assert first_fenced_commands(markdown) == ["make serve", "make test"]
    assert first_fenced_commands("no code here") == []


def test_readme_starts_with_the_two_commands() -> None:
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    assert first_fenced_commands(readme.read_text()) == README_COMMANDS


def test_ci_runs_make_test() -> None:
    run = ROOT / ".ci" / "run"
    assert run.is_file() and run.stat().st_mode & 0o111, ".ci/run must exist and be executable"
    commands = [tokens[1:] if tokens[0] == "exec" else tokens for tokens in script_commands(run.read_text())]
    assert ["make", "test"] in commands


def test_makefile_defines_both_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"Makefile has no `{target}` target"


def _setup_is_a_no_op(env: dict[str, str]) -> bool:
    """`make serve` would not (re)install the venv, which needs the network."""
    dry = subprocess.run(
        ["make", "-n", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return dry.returncode == 0 and "pip" not in dry.stdout


@pytest.mark.timeout(90)
def test_make_serve_runs_a_server(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = free_port()
    home = tmp_path / "home"
    env = server_environment(home, {**fake_openai.env(), "MEMFOLD_PORT": str(port)})
    if not _setup_is_a_no_op(env):
        pytest.skip("the venv stamp is missing or stale, so `make serve` would reinstall: run `make` first")

    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "make-serve.log"
    name = f"readme-{uuid.uuid4().hex[:8]}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_health(base_url, process)
            with httpx.Client(base_url=base_url, timeout=20.0, trust_env=False) as http:
                created = http.post(
                    "/v1/agents/",
                    json={
                        "name": name,
                        "model": "openai/gpt-4o-mini",
                        "memory_blocks": [{"label": "human", "value": "Name: Ada"}],
                    },
                )
                assert created.status_code == 200, created.text
                agent = created.json()
                assert agent["id"].startswith("agent-")
                listed = http.get("/v1/agents/", params={"name": name})
                assert [a["id"] for a in listed.json()] == [agent["id"]]
        finally:
            stop_process_group(process)
            deadline = time.monotonic() + 10
            while process_group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            leftover = process_group_alive(process.pid)
            if leftover:  # fail below, but leave nothing running
                os.killpg(process.pid, signal.SIGKILL)
            print(log_path.read_text(errors="replace"))  # shown when the test fails

    assert not leftover, "a process of `make serve` outlived SIGTERM"
    assert (home / "memfold.db").is_file(), "the server did not keep its data in MEMFOLD_HOME"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/v1/health", timeout=2.0, trust_env=False)
