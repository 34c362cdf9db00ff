"""Tools with pip requirements: installed once per set of requirements, offline from a wheel the test
builds (`--no-index --find-links`), so the suite does not depend on PyPI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from memfold.errors import ToolError
from memfold.tools.sandbox import ToolSandbox
from memfold.tools.sandbox.venvs import PackageCache, requirement_strings
from tests.tools.sandbox.conftest import SandboxFactory, is_root, tool

PROBE = "def f() -> str:\n    import memfoldprobe\n    return memfoldprobe.VALUE\n"


def build_wheel(directory: Path, name: str, version: str, body: str) -> Path:
    """A minimal pure-Python wheel, written by hand (no build backend, no network)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    wheel.chmod(0o644)
    return wheel


@pytest.fixture
def wheels() -> Iterator[Path]:
    """A wheel directory the sandbox user can read: not under /tmp (bwrap gives the installer a private
    /tmp) nor under pytest's 0700 temporary root."""
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else None
    directory = Path(tempfile.mkdtemp(prefix="memfold-wheels-", dir=base))
    directory.chmod(0o755)
    build_wheel(directory, "memfoldprobe", "1.0", "VALUE = 'one point oh'\n")
    build_wheel(directory, "memfoldprobe", "2.0", "VALUE = 'two point oh'\n")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def offline(make_sandbox: SandboxFactory, wheels: Path, mode: str) -> ToolSandbox:
    return make_sandbox(mode, sandbox_pip_args=["--no-index", "--find-links", str(wheels)])


def count_installs(sandbox: ToolSandbox) -> list[list[str]]:
    calls: list[list[str]] = []
    install = sandbox.packages.installer

    def counting(specs: list[str]) -> AbstractContextManager[Path]:
        calls.append(specs)
        return install(specs)

    sandbox.packages.installer = counting
    return calls


async def test_requirements_are_installed_once_and_used(offline: ToolSandbox, home: Path) -> None:
    installs = count_installs(offline)
    probe = tool(PROBE, pip_requirements=[{"name": "memfoldprobe", "version": "1.0"}])
    first = await asyncio.gather(*(offline.run(probe, {}, env={}, agent_id="a") for _ in range(2)))
    assert [r.content for r in first] == ["one point oh", "one point oh"], first
    again = await offline.run(probe, {}, env={}, agent_id="a")
    assert again.content == "one point oh"
    assert installs == [["memfoldprobe==1.0"]]  # two concurrent first calls, one build
    built = offline.packages.ready(["memfoldprobe==1.0"])
    assert built is not None and built.parent == home / "sandbox" / "venvs"
    assert (built / "requirements.txt").read_text() == "memfoldprobe==1.0\n"

    newer = tool(PROBE, pip_requirements=[{"name": "memfoldprobe", "version": "2.0"}])
    assert (await offline.run(newer, {}, env={}, agent_id="a")).content == "two point oh"
    without = await offline.run(tool(PROBE), {}, env={}, agent_id="a")
    assert not without.ok and "No module named 'memfoldprobe'" in without.content


async def test_tools_cannot_change_the_installed_packages(offline: ToolSandbox) -> None:
    if not is_root():
        pytest.skip("not root: tools run as the server's user, who owns the package directory")
    source = (
        "import memfoldprobe\n"
        "def f() -> str:\n"
        "    try:\n"
        "        open(memfoldprobe.__file__, 'a').write('VALUE = 1')\n"
        "        return 'changed'\n"
        "    except OSError as e:\n"
        "        return type(e).__name__\n"
    )
    probe = tool(source, pip_requirements=[{"name": "memfoldprobe"}])
    result = await offline.run(probe, {}, env={}, agent_id="a")
    assert result.content in ("PermissionError", "OSError"), result.content


async def test_a_failed_install_is_a_clear_tool_error(offline: ToolSandbox) -> None:
    missing = tool(PROBE, pip_requirements=[{"name": "memfold-no-such-package", "version": "9.9"}])
    result = await offline.run(missing, {}, env={}, agent_id="a")
    assert not result.ok
    assert result.content.startswith("Error: installing the tool's requirements (memfold-no-such-package")
    assert "No matching distribution" in result.content
    assert offline.packages.ready(["memfold-no-such-package==9.9"]) is None


def test_requirement_strings_accept_pins_and_specifiers_and_refuse_options() -> None:
    given: list[dict[str, Any]] = [
        {"name": "requests", "version": "2.32.3"},
        {"name": "numpy", "version": ">=1.26,<3"},
        {"name": "rich"},
        {"name": "pydantic[email]", "version": "~=2.7"},
        {"name": "rich", "version": None},
    ]
    expected = ["numpy>=1.26,<3", "pydantic[email]~=2.7", "requests==2.32.3", "rich"]
    assert requirement_strings(given) == expected
    bad_ones: list[dict[str, Any]] = [
        {"name": "--index-url=http://evil"},
        {"name": "x y"},
        {"name": "ok", "version": "1.0 --pre"},
        {"name": "ok", "version": "; rm -rf /"},
        {"name": ""},
    ]
    for bad in bad_ones:
        with pytest.raises(ToolError):
            requirement_strings([bad])


def test_concurrent_first_builds_wait_for_one_another(tmp_path: Path) -> None:
    built: list[str] = []
    gate = threading.Event()

    @contextmanager
    def slow_install(specs: list[str]) -> Iterator[Path]:
        built.append(",".join(specs))
        gate.wait(5)
        staging = tmp_path / f"staging-{len(built)}"
        (staging / "site-packages" / "pkg").mkdir(parents=True)
        yield staging

    cache = PackageCache(tmp_path / "venvs", slow_install, key_parts=["3.11"])
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cache.ensure(["pkg==1"]))) for _ in range(3)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    assert built == ["pkg==1"]
    assert len(set(results)) == 1 and (results[0] / "READY").exists()
    assert (results[0] / "site-packages" / "pkg").is_dir()


PYPI = os.environ.get("MEMFOLD_TEST_PYPI") == "1"


@pytest.mark.skipif(not PYPI, reason="needs PyPI: MEMFOLD_TEST_PYPI=1 runs it")
async def test_a_real_package_from_pypi(make_sandbox: SandboxFactory) -> None:  # PyPI-dependent
    sandbox = make_sandbox("auto", sandbox_allow_network=False, sandbox_timeout_seconds=10)
    source = "import six\ndef f() -> str:\n    return six.__version__\n"
    result = await sandbox.run(
        tool(source, pip_requirements=[{"name": "six", "version": "1.16.0"}]), {}, env={}, agent_id="a"
    )
    assert result.ok and result.content == "1.16.0", result.content
