"""Which model and embedding an imported agent gets on this server.

A file names the models of the server that wrote it (`openai/gpt-4.1-mini`,
`openai/text-embedding-3-small`); this server may serve them or not. What it cannot serve is
replaced by what it can, and the replacement is reported (`Skipped`), so an imported agent
always answers and searches.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from memfold.agent.lifecycle import llm_config_for
from memfold.agentfile.format import AgentEntry
from memfold.agentfile.options import ImportOptions, Skipped
from memfold.config import Settings
from memfold.errors import ConfigurationError, InvalidValueError
from memfold.llm.base import ModelHandle
from memfold.llm.providers import ModelRegistry, guess_context_window
from memfold.memory.embedding import embedding_config_for, embedding_handle
from memfold.schemas.agents import EmbeddingConfig, LLMConfig

__all__ = ["MIN_CONTEXT_WINDOW", "resolve_embedding", "resolve_model"]

MIN_CONTEXT_WINDOW = 256


def _requested_model(entry: AgentEntry) -> str | None:
    if entry.model:
        return entry.model
    config = entry.llm_config or {}
    if config.get("handle"):
        return str(config["handle"])
    if config.get("model_endpoint_type") and config.get("model"):
        return f"{config['model_endpoint_type']}/{config['model']}"
    return None


def _serves(models: ModelRegistry, handle: str) -> bool:
    try:
        models.get(handle)
    except (ConfigurationError, InvalidValueError):
        return False
    return True


def resolve_model(
    entry: AgentEntry,
    options: ImportOptions,
    models: ModelRegistry,
    settings: Settings,
    skipped: list[Skipped],
) -> tuple[str, int, dict[str, Any]]:
    """The agent's model handle, context window and `llm_config`.

    An explicit `model` option wins (with the file's context window, as Letta does). Otherwise
    the file's handle is kept when this server can serve it; if not, the agent gets the server's
    default model (MEMFOLD_DEFAULT_MODEL, else the first configured provider's default) and the
    file's handle is reported. With no default at all, the file's handle is kept: the agent
    answers once a provider for it is configured. A replaced model gets the file's context
    window at most, and no more than the replacement's known window (else
    MEMFOLD_DEFAULT_CONTEXT_WINDOW).
    """
    requested = _requested_model(entry)
    handle = options.model or requested
    replaced = False
    if options.model is None and (handle is None or not _serves(models, handle)):
        default = models.default_handle()
        if default is not None:
            shown = requested or "(none)"
            skipped.append(Skipped("model", shown, f"not available on this server; the agent uses {default}"))
            handle, replaced = default, True
    if handle is None:
        raise InvalidValueError(
            f"agent {entry.id!r} names no model and this server has no default: pass model='provider/model' "
            "or set MEMFOLD_DEFAULT_MODEL"
        )
    handle = str(ModelHandle.parse(handle))
    file_config = dict(entry.llm_config or {})
    window = (
        entry.context_window_limit or file_config.get("context_window") or settings.default_context_window
    )
    if not isinstance(window, int) or window < MIN_CONTEXT_WINDOW:
        window = settings.default_context_window
    if replaced:  # the file's window was another model's: no larger than the default model's
        window = min(window, guess_context_window(handle, settings.default_context_window))
    if handle != requested:  # a different model: keep the file's sampling settings, not its endpoint
        file_config.pop("model_endpoint", None)
    try:
        base = LLMConfig.model_validate(file_config) if file_config else None
    except ValidationError:
        base = None
    return handle, window, llm_config_for(handle, window, base)


def resolve_embedding(
    entry: AgentEntry, options: ImportOptions, models: ModelRegistry, skipped: list[Skipped]
) -> dict[str, Any]:
    """The agent's `embedding_config`: the option's handle, else the file's when this server can
    embed with it, else memfold's local embedding (reported)."""
    if options.embedding:
        return embedding_config_for(options.embedding)
    config = entry.embedding_config
    requested = entry.embedding
    if config is None and not requested:
        return embedding_config_for(None)
    try:
        config = config or embedding_config_for(requested)
        handle = embedding_handle(config)
        models.embedder(handle)
        stored = EmbeddingConfig.model_validate({**config, "handle": handle}).model_dump(exclude_none=True)
    except (ConfigurationError, InvalidValueError, ValidationError, KeyError):
        fallback = embedding_config_for(None)
        reason = f"not available on this server; the agent uses {fallback['handle']}"
        shown = (config or {}).get("handle") or requested or "(none)"
        skipped.append(Skipped("embedding", str(shown), reason))
        return fallback
    return stored
