"""The sandbox that runs users' Python tools: one fresh, isolated, resource-limited process per call.

- `isolation.py`: which Linux isolation works here (bwrap, unshare or none) and how to apply it;
- `process.py`: one child process, from spawn to cleanup;
- `pool.py`: warm one-shot workers;
- `venvs.py`: package directories for tools' pip requirements;
- `worker.py`: the child's own code (run with `python -I -c`, never imported by the server);
- `runner.py`: `ToolSandbox`, which puts them together.
"""

from memfold.tools.sandbox.runner import SandboxResult, ToolSandbox

__all__ = ["SandboxResult", "ToolSandbox"]
