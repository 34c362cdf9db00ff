"""One settings object: explicit argument > environment variable (MEMFOLD_*) > default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    run_concurrency: int = Field(default=16, ge=1)
    """Background runs (async messages) this process executes at once; more wait in the queue."""

    run_lease_seconds: float = Field(default=30.0, gt=0)
    """A running run's lease; a process renews it while it works. When a process dies, its runs are
    picked up by another (or the restarted) process once their leases lapse."""

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
