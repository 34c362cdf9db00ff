"""External memory: what an agent keeps outside its context window (archival and recall).

One `ExternalMemory` serves the whole server: it owns the vector indexes (saved under
`<home>/vectors` when a data directory is given) and the two stores built on them.
"""

from __future__ import annotations

from pathlib import Path

from memfold.llm.providers import ModelRegistry
from memfold.memory.archival import ArchivalStore
from memfold.memory.recall import RecallStore
from memfold.memory.vectors import VectorCollections
from memfold.store.engine import Database

__all__ = ["ExternalMemory"]


class ExternalMemory:
    def __init__(
        self,
        db: Database,
        models: ModelRegistry,
        *,
        directory: Path | None = None,
        vectors: VectorCollections | None = None,
    ) -> None:
        self.vectors = vectors or VectorCollections(directory)
        self.archival = ArchivalStore(db, models, self.vectors)
        self.recall = RecallStore(db, models, self.vectors)

    def close(self) -> None:
        """Save the vector indexes that changed (so a restart does not rebuild them)."""
        self.vectors.save_all()
