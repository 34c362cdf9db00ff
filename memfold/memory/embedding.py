"""Which embedding model an agent or archive uses, in Letta's `EmbeddingConfig` shape."""

from __future__ import annotations

from typing import Any

from memfold.llm.base import ModelHandle
from memfold.llm.embeddings import DEFAULT_EMBEDDING, known_dimension
from memfold.schemas.agents import EmbeddingConfig

__all__ = ["DEFAULT_EMBEDDING", "embedding_config_for", "embedding_handle"]


def embedding_config_for(handle: str | None = None) -> dict[str, Any]:
    """The stored `embedding_config` of `provider/model` (default: the local embedding).

    `embedding_dim` is the model's known size; 0 for a model memfold does not know (the
    vectors' real size is recorded with every stored embedding)."""
    parsed = ModelHandle.parse(handle or DEFAULT_EMBEDDING)
    return EmbeddingConfig(
        embedding_model=parsed.model,
        embedding_endpoint_type=parsed.provider,
        embedding_dim=known_dimension(parsed) or 0,
        handle=str(parsed),
    ).model_dump(exclude_none=True)


def embedding_handle(config: dict[str, Any] | None) -> str:
    """The `provider/model` handle of a stored `embedding_config` (the default when there is none)."""
    if not config:
        return DEFAULT_EMBEDDING
    handle = config.get("handle")
    if handle:
        return str(ModelHandle.parse(str(handle)))
    return str(ModelHandle.parse(f"{config['embedding_endpoint_type']}/{config['embedding_model']}"))
