"""In-process vector indexes over embeddings stored in the database.

The database is the source of truth: every passage and message row keeps its embedding.
An index here is a cache over one *collection* (an archive's passages, or an agent's
messages, for one embedding model), keyed by the rows' never-reused integer `seq`:

- small collections are searched exactly: one matrix product with numpy (about 2.5 ms per
  20,000 vectors of 384 dimensions);
- from `hnsw_threshold` vectors on, and when `usearch` is installed (`memfold[vector]`), an
  HNSW graph is built in a background thread (exact search serves meanwhile); its search cost
  grows with log(n), about 1 ms at 100,000 vectors. With a data directory the graph is saved
  there, so a restart does not rebuild it. The exact copy is then kept in float16 (half the
  memory) for restricted searches only.
- a restricted search (`among=`: the rows that pass tag, role or date filters in SQL) is
  always exact over just those rows.

A collection catches up with the database before each search (rows with `seq` above its
watermark: one indexed query); rows deleted in this process are removed at once, and
search results are checked against the database, so a stale entry can never be returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

_HnswIndex: Any
try:  # optional: memfold[vector]
    from usearch.index import Index as _HnswIndex
except ImportError:  # pragma: no cover - exercised only without the extra
    _HnswIndex = None

__all__ = ["HNSW_AVAILABLE", "Collection", "VectorCollections", "VectorIndex", "from_bytes", "to_bytes"]

HNSW_AVAILABLE = _HnswIndex is not None
HNSW_THRESHOLD = 20_000
"""Collections at least this large get an HNSW graph (when usearch is installed)."""

Vectors = npt.NDArray[np.float32]
Stored = npt.NDArray[np.floating[Any]]
"""float32, or float16 once an HNSW graph does the unrestricted searches."""
Keys = npt.NDArray[np.int64]


def to_bytes(vector: Sequence[float]) -> bytes:
    """A vector as stored in the database: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _unit(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = (vectors / norms).astype(np.float32)
    return result


def _dot(vectors: Stored, q: Vectors) -> npt.NDArray[np.floating[Any]]:
    """Similarities of every row with `q`. einsum, not `@`: BLAS would spread this small
    matrix-vector product over threads, which on a busy machine makes it 10-100x slower."""
    result: npt.NDArray[np.floating[Any]] = np.einsum("ij,j->i", vectors, q, dtype=np.float32)
    return result


def _top(keys: Keys, sims: npt.NDArray[np.floating[Any]], k: int) -> list[tuple[int, float]]:
    if k <= 0 or len(sims) == 0:
        return []
    part = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    order = part[np.lexsort((-keys[part], -sims[part]))]  # best first; ties: newest (larger key) first
    return [(int(keys[i]), float(sims[i])) for i in order]


class VectorIndex:
    """Cosine top-k over int keys; exact (numpy) or HNSW (usearch). Thread-safe."""

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = HNSW_THRESHOLD,
        use_hnsw: bool | None = None,
        background: bool = True,
        on_built: Callable[[VectorIndex], None] | None = None,
    ) -> None:
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.use_hnsw = HNSW_AVAILABLE if use_hnsw is None else (use_hnsw and HNSW_AVAILABLE)
        self.background = background
        self.on_built = on_built
        self.dirty = False
        """Changed since it was last saved."""
        self._lock = threading.RLock()
        self._keys: Keys = np.empty(0, dtype=np.int64)
        self._vectors: Stored = np.empty((0, dim), dtype=np.float32)
        self._size = 0
        self._pos: dict[int, int] = {}
        self._hnsw: Any = None
        self._building = False
        self._pending: list[tuple[Keys, Vectors | None]] = []

    @property
    def is_hnsw(self) -> bool:
        return self._hnsw is not None

    def __len__(self) -> int:
        with self._lock:
            return self._size

    def add(self, keys: Sequence[int] | Keys, vectors: Vectors) -> None:
        """Add (or replace) vectors; they are normalised here."""
        keys_array = np.asarray(keys, dtype=np.int64)
        if len(keys_array) == 0:
            return
        vectors = _unit(np.asarray(vectors, dtype=np.float32).reshape(len(keys_array), self.dim))
        with self._lock:
            self.dirty = True
            self._exact_remove(keys_array)
            self._exact_add(keys_array, vectors)
            if self._hnsw is not None:
                self._hnsw_remove(keys_array)
                self._hnsw.add(keys_array.astype(np.uint64), vectors)
            elif self._building:
                self._pending.append((keys_array, vectors))
            elif self.use_hnsw and self._size >= self.hnsw_threshold:
                self._start_build()

    def remove(self, keys: Sequence[int] | Keys) -> None:
        keys_array = np.asarray(keys, dtype=np.int64)
        with self._lock:
            self.dirty = True
            self._exact_remove(keys_array)
            if self._hnsw is not None:
                self._hnsw_remove(keys_array)
            elif self._building:
                self._pending.append((keys_array, None))

    def search(
        self, query: Sequence[float] | Vectors, k: int, *, among: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `k` nearest keys with their cosine similarity, best first; only keys in `among` if given."""
        q = _unit(np.asarray(query, dtype=np.float32).reshape(self.dim))
        with self._lock:
            if among is not None:
                return self._search_among(q, np.asarray(among, dtype=np.int64), k)
            if self._hnsw is not None:
                count = min(k, len(self._hnsw))
                if count <= 0:
                    return []
                matches = self._hnsw.search(q, count)
                return [
                    (int(key), 1.0 - float(distance))
                    for key, distance in zip(matches.keys, matches.distances, strict=True)
                ]
            return _top(self._keys[: self._size], _dot(self._vectors[: self._size], q), k)

    # -- exact storage --------------------------------------------------------------------

    def _exact_add(self, keys: Keys, vectors: Stored) -> None:
        needed = self._size + len(keys)
        if needed > len(self._keys):
            capacity = max(needed, 2 * len(self._keys), 64)
            grown_keys = np.empty(capacity, dtype=np.int64)
            grown_vectors = np.empty((capacity, self.dim), dtype=self._vectors.dtype)
            grown_keys[: self._size] = self._keys[: self._size]
            grown_vectors[: self._size] = self._vectors[: self._size]
            self._keys, self._vectors = grown_keys, grown_vectors
        self._keys[self._size : needed] = keys
        self._vectors[self._size : needed] = vectors
        for offset, key in enumerate(keys.tolist()):
            self._pos[key] = self._size + offset
        self._size = needed

    def _exact_remove(self, keys: Keys) -> None:
        for key in keys.tolist():
            position = self._pos.pop(key, None)
            if position is None:
                continue
            last = self._size - 1
            if position != last:  # move the last row into the hole
                moved = int(self._keys[last])
                self._keys[position] = moved
                self._vectors[position] = self._vectors[last]
                self._pos[moved] = position
            self._size = last

    def _search_among(self, q: Vectors, among: Keys, k: int) -> list[tuple[int, float]]:
        pos = self._pos
        rows = [pos[key] for key in among.tolist() if key in pos]
        if not rows:
            return []
        index = np.asarray(rows, dtype=np.int64)
        return _top(self._keys[index], _dot(self._vectors[index], q), k)

    # -- HNSW -----------------------------------------------------------------------------

    def _hnsw_remove(self, keys: Keys) -> None:
        for key in keys.tolist():
            if self._hnsw.contains(key):
                self._hnsw.remove(key)

    def _new_hnsw(self) -> Any:
        assert _HnswIndex is not None
        return _HnswIndex(
            ndim=self.dim, metric="cos", dtype="f16", connectivity=16, expansion_add=64, expansion_search=96
        )

    def _start_build(self) -> None:
        self._building = True
        self._pending = []
        keys = self._keys[: self._size].copy()
        vectors = self._vectors[: self._size].copy()
        if self.background:
            threading.Thread(
                target=self._build, args=(keys, vectors), name="memfold-hnsw", daemon=True
            ).start()
        else:
            self._build(keys, vectors)

    def _build(self, keys: Keys, vectors: Vectors) -> None:
        try:
            graph = self._new_hnsw()
            graph.add(keys.astype(np.uint64), vectors)
        except Exception:  # keep serving exactly; never lose the collection over the accelerator
            log.exception("building the HNSW index of %d vectors failed; exact search continues", len(keys))
            with self._lock:
                self._building = False
                self.use_hnsw = False
            return
        with self._lock:
            for pending_keys, pending_vectors in self._pending:
                for key in pending_keys.tolist():
                    if graph.contains(key):
                        graph.remove(key)
                if pending_vectors is not None:
                    graph.add(pending_keys.astype(np.uint64), pending_vectors)
            self._hnsw = graph
            self._pending = []
            self._building = False
            self._vectors = self._vectors.astype(np.float16)  # only restricted searches read it now
        log.info("built an HNSW index of %d vectors", len(graph))
        if self.on_built is not None:
            self.on_built(self)

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: Path) -> bool:
        """Write the HNSW graph to `path` (atomically). False when there is none to save."""
        with self._lock:
            if self._hnsw is None:
                return False
            tmp = path.with_name(path.name + ".tmp")
            self._hnsw.save(str(tmp))
            os.replace(tmp, path)
            self.dirty = False
            return True

    @classmethod
    def load(cls, path: Path, dim: int, **options: Any) -> VectorIndex | None:
        """The index saved at `path`, or None when there is none (or it does not fit `dim`)."""
        if _HnswIndex is None or not path.exists():
            return None
        try:
            graph = _HnswIndex.restore(str(path))
        except Exception:
            log.warning("ignoring the unreadable vector index %s", path, exc_info=True)
            return None
        if graph is None or graph.ndim != dim:
            return None
        index = cls(dim, **options)
        keys = np.asarray(graph.keys, dtype=np.int64)
        vectors = np.empty((len(keys), dim), dtype=np.float16)
        for start in range(0, len(keys), 10_000):  # the float16 copy for restricted searches
            chunk = keys[start : start + 10_000]
            found = graph.get(chunk.astype(np.uint64), dtype=np.float32)
            vectors[start : start + len(chunk)] = np.asarray(found, dtype=np.float32).reshape(-1, dim)
        index._vectors = vectors
        index._exact_add(keys, vectors)
        index._hnsw = graph
        return index


@dataclass
class Collection:
    """One cached index and how far it has caught up with the database (`watermark` = max seq)."""

    name: str
    index: VectorIndex | None = None
    watermark: int = 0
    loaded: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


Fetch = Callable[[int, int], list[tuple[int, bytes]]]
"""`(after_seq, limit) -> [(seq, embedding bytes)]`, ascending."""
Count = Callable[[int], int]
"""`up_to_seq -> number of embedded rows with seq <= up_to_seq`."""


class VectorCollections:
    """The process's vector indexes, least recently used dropped past `max_vectors` in all."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        max_vectors: int = 5_000_000,
        hnsw_threshold: int = HNSW_THRESHOLD,
        use_hnsw: bool | None = None,
        background: bool = True,
    ) -> None:
        self.directory = directory
        self.max_vectors = max_vectors
        self.options: dict[str, Any] = {
            "hnsw_threshold": hnsw_threshold,
            "use_hnsw": use_hnsw,
            "background": background,
        }
        self._lock = threading.Lock()
        self._collections: OrderedDict[str, Collection] = OrderedDict()

    @staticmethod
    def name(kind: str, owner: str, handle: str) -> str:
        digest = hashlib.sha1(handle.encode()).hexdigest()[:12]
        return f"{kind}-{owner}-{digest}"

    def synced(self, name: str, fetch: Fetch, count: Count) -> Collection:
        """The collection `name`, caught up with the database. Blocking: call it in a worker thread."""
        with self._lock:
            collection = self._collections.get(name)
            if collection is None:
                collection = self._collections[name] = Collection(name)
            self._collections.move_to_end(name)
        with collection.lock:
            if not collection.loaded:
                self._load(collection, fetch, count)
            self._catch_up(collection, fetch)
        self._evict()
        return collection

    def forget(self, prefix: str) -> None:
        """Drop the collections whose names start with `prefix` (and their saved files)."""
        with self._lock:
            names = [name for name in self._collections if name.startswith(prefix)]
            for name in names:
                del self._collections[name]
        if self.directory is not None and self.directory.exists():
            for path in self.directory.glob(f"{prefix}*"):
                path.unlink(missing_ok=True)

    def remove(self, name: str, keys: list[int]) -> None:
        with self._lock:
            collection = self._collections.get(name)
        if collection is not None and collection.index is not None:
            collection.index.remove(keys)

    def save_all(self) -> None:
        with self._lock:
            collections = list(self._collections.values())
        for collection in collections:
            self._save(collection)

    # -- internals ------------------------------------------------------------------------

    def _paths(self, name: str) -> tuple[Path, Path] | None:
        if self.directory is None:
            return None
        return self.directory / f"{name}.usearch", self.directory / f"{name}.json"

    def _load(self, collection: Collection, fetch: Fetch, count: Count) -> None:
        collection.loaded = True
        paths = self._paths(collection.name)
        if paths is None or not paths[1].exists():
            return
        try:
            meta = json.loads(paths[1].read_text())
            index = VectorIndex.load(paths[0], int(meta["dim"]), **self._index_options(collection))
            watermark = int(meta["watermark"])
        except (OSError, ValueError, KeyError):
            return
        if index is None or count(watermark) != len(index):  # rows were deleted meanwhile: rebuild
            return
        index.dirty = False
        collection.index, collection.watermark = index, watermark

    def _catch_up(self, collection: Collection, fetch: Fetch, batch: int = 5000) -> None:
        while True:
            rows = fetch(collection.watermark, batch)
            if not rows:
                return
            if collection.index is None:
                collection.index = VectorIndex(len(rows[0][1]) // 4, **self._index_options(collection))
            dim = collection.index.dim
            usable = [(seq, blob) for seq, blob in rows if len(blob) == dim * 4]
            # The watermark moves first: adding may finish an HNSW build, which saves it with the index.
            collection.watermark = rows[-1][0]
            if usable:
                keys = np.fromiter((seq for seq, _ in usable), dtype=np.int64, count=len(usable))
                vectors = np.frombuffer(b"".join(blob for _, blob in usable), dtype="<f4").reshape(-1, dim)
                try:
                    collection.index.add(keys, vectors.astype(np.float32))
                except BaseException:
                    collection.index, collection.watermark = None, 0  # start over on the next search
                    raise
            if len(rows) < batch:
                return

    def _index_options(self, collection: Collection) -> dict[str, Any]:
        def built(_: VectorIndex) -> None:
            self._save(collection)

        return {**self.options, "on_built": built}

    def _save(self, collection: Collection) -> None:
        paths = self._paths(collection.name)
        if paths is None:
            return
        with collection.lock:
            index = collection.index
            if index is None or not index.is_hnsw or not index.dirty:
                return
            try:
                paths[0].parent.mkdir(parents=True, exist_ok=True)
                if index.save(paths[0]):
                    meta = {"dim": index.dim, "watermark": collection.watermark}
                    paths[1].write_text(json.dumps(meta))
            except OSError:
                log.warning("cannot save the vector index %s", paths[0], exc_info=True)

    def _evict(self) -> None:
        with self._lock:
            total = sum(len(c.index) for c in self._collections.values() if c.index is not None)
            evicted: list[Collection] = []
            while total > self.max_vectors and len(self._collections) > 1:
                _, oldest = self._collections.popitem(last=False)
                total -= len(oldest.index) if oldest.index is not None else 0
                evicted.append(oldest)
        for collection in evicted:
            self._save(collection)
