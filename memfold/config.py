"""One settings object: explicit argument > environment variable (MEMFOLD_*) > default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting memfold reads. Each is documented in docs/configuration.md (checked by a test)."""

    model_config = SettingsConfigDict(env_prefix="MEMFOLD_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".memfold")
    """Data directory: the SQLite database and anything else memfold keeps on disk."""

    database_url: str | None = None
    """SQLAlchemy URL; when unset, SQLite at `<home>/memfold.db`."""

    host: str = "127.0.0.1"
    """Address `memfold serve` binds to."""

    port: int = 8283
    """Port `memfold serve` listens on (Letta's, so existing clients work unchanged)."""

    default_model: str | None = None
    """Model handle for agents created without one; when unset, the first configured provider's default."""

    default_context_window: int = 32_000
    """Context window (tokens) of agents created without `context_window_limit`."""

    max_steps: int = 50
    """Upper bound on LLM calls in one turn (heartbeat chains)."""

    compaction_threshold: float = Field(default=0.9, gt=0, le=1)
    """Fraction of an agent's context window a request may fill before the oldest messages are
    evicted and folded into the running summary."""

    compaction_target: float = Field(default=0.6, gt=0, le=1)
    """Fraction of the context window a request fills at most right after a compaction (lower
    means rarer, larger compactions)."""

    llm_timeout: float = 120.0
    """Seconds one LLM request may take before it counts as failed."""

    llm_max_retries: int = 3
    """Retries of a rate-limited, timed-out or 5xx LLM request, with exponential backoff."""

    stream_ping_seconds: float = Field(default=10.0, gt=0)
    """Seconds of silence in a streamed turn (a slow step) after which a keep-alive `ping` is sent."""

    db_pool_size: int = Field(default=10, ge=1)
    """PostgreSQL connections each server process keeps open (SQLAlchemy `pool_size`). Every process
    also holds one more for agent locks; size `workers x (pool size + max overflow + 1)` below the
    server's `max_connections` (`memfold serve --workers N` checks)."""

    db_max_overflow: int = Field(default=10, ge=0)
    """Extra PostgreSQL connections a process may open under load beyond `db_pool_size`, closed again
    when returned."""

    run_concurrency: int = Field(default=16, ge=1)
    """Background runs (async messages) this process executes at once; more wait in the queue."""

    run_lease_seconds: float = Field(default=30.0, gt=0)
    """A running run's lease; a process renews it while it works. When a process dies, its runs are
    picked up by another (or the restarted) process once their leases lapse."""

    multi_agent_max_depth: int = Field(default=3, ge=1)
    """Nested synchronous agent-to-agent sends allowed in one chain (A waits for B waits for C is 2);
    a deeper send is answered with a tool error."""

    multi_agent_max_fanout: int = Field(default=20, ge=1)
    """Agents one `send_message_to_agents_matching_tags` call may message; more matching is a tool error."""

    multi_agent_max_hops: int = Field(default=10, ge=1)
    """Messages queued from agent to agent in a row (`send_message_to_agent_async`, each run started by
    the one before) before the next is refused with a tool error: ends endless ping-pong."""

    multi_agent_reply_timeout: float = Field(default=300.0, gt=0)
    """Seconds a sender waits for another agent's reply before its tool call fails with a timeout."""

    sleeptime_agent_frequency: int = Field(default=5, ge=1)
    """Main-agent turns between two sleep-time runs, for groups created from now on (a group's own
    `sleeptime_agent_frequency` is changed with `PATCH /v1/groups/{id}`)."""

    sleeptime_max_steps: int = Field(default=10, ge=1)
    """Steps a sleep-time run may take before it ends without `memory_finish_edits`."""

    sleeptime_transcript_messages: int = Field(default=100, ge=1)
    """At most this many of the main agent's newest messages are handed to one sleep-time run."""

    mcp_connect_timeout: float = Field(default=30.0, gt=0)
    """Seconds to start or reach an MCP server and finish the MCP handshake."""

    mcp_call_timeout: float = Field(default=60.0, gt=0)
    """Seconds one request to an MCP server (a tool call, a tool listing) may take."""

    mcp_idle_timeout: float = Field(default=300.0, ge=0)
    """Seconds an MCP client session may stay unused before it is closed (a stdio server's process
    stops with it); 0 opens and closes a session for every request."""

    sandbox_isolation: Literal["auto", "bwrap", "unshare", "none"] = "auto"
    """How custom (Python source) tools are isolated: `bwrap` (bubblewrap), `unshare` (util-linux) or
    `none` (a plain child process); `auto` takes the strongest that works on this machine."""

    sandbox_timeout_seconds: float = Field(default=30.0, gt=0)
    """Wall-clock seconds one custom tool call may take; then its whole process group is killed."""

    sandbox_cpu_seconds: int = Field(default=30, ge=1)
    """CPU seconds a custom tool call may use (RLIMIT_CPU)."""

    sandbox_memory_mb: int = Field(default=512, ge=64)
    """Address space (RLIMIT_AS, MB) of a custom tool's process, the interpreter included."""

    sandbox_max_processes: int = Field(default=32, ge=4)
    """Processes (threads count too) a custom tool call may have at once (RLIMIT_NPROC of its user),
    the worker and the isolation helpers included."""

    sandbox_max_file_mb: int = Field(default=64, ge=1)
    """Largest file (MB) a custom tool may write (RLIMIT_FSIZE); also bounds its captured output."""

    sandbox_allow_network: bool = False
    """Whether custom tools may use the network (only enforceable with `bwrap` or `unshare`)."""

    sandbox_pool_size: int = Field(default=2, ge=0)
    """Warm one-shot workers kept ready for custom tools without pip requirements (0: start each cold)."""

    sandbox_python: str | None = None
    """Interpreter for custom tools; when unset, the server's own if the sandbox user can run it, else a
    system `python3.X`/`python3`."""

    sandbox_pip_args: list[str] = Field(default_factory=list)
    """Extra `pip install` arguments for tools' pip requirements (JSON list), e.g. an index URL."""

    sandbox_pip_timeout_seconds: float = Field(default=300.0, gt=0)
    """Seconds installing one set of pip requirements may take."""

    api_keys: str | None = None
    """Comma-separated API keys, each `org_name:key` (the key belongs to that organization, created on
    demand) or a bare `key` (the default organization). With any key configured, here or by
    `memfold keys create`, every request but `/v1/health` needs `Authorization: Bearer <key>`;
    without, the server is open."""

    allow_open: bool = False
    """Let `memfold serve` bind a non-loopback address although no API key is configured (anyone who can
    reach it gets the default organization)."""

    log_level: str = "info"
    """Log level of the server."""

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'memfold.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
