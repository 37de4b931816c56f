"""A capped hnswlib index over unit vectors, with first-in-first-out eviction.

Used for novelty (distance to what was already labelled or selected), out-of-distribution
checks and k-center diversity. Memory is bounded by ``capacity`` however long the stream.

While it holds at most ``exact_below`` vectors, there is no graph: nearest distances are
computed exactly by one matrix product over the rows. On SST-2 embeddings (256 dims, one
thread) that is 2 ms for 512 queries against 1,000 vectors where hnswlib at ef=64 takes 12 ms,
and is still the faster of the two near 2,000. Past that the hnswlib graph is built from the
rows (one thread: a pool per call costs more than it saves) and answers from then on.
"""

from __future__ import annotations

from collections import deque

import hnswlib
import numpy as np

from stream_al.index.products import dot_rows


class BoundedIndex:
    """Cosine-distance ANN index holding at most ``capacity`` vectors.

    >>> import numpy as np
    >>> index = BoundedIndex(dim=2, capacity=2)
    >>> index.add_many(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    >>> len(index)
    2
    >>> round(float(index.nearest_distance_many(np.array([[0, 1]], dtype=np.float32))[0]), 3)
    0.0
    """

    def __init__(self, dim: int, capacity: int = 100_000, ef: int = 64, m: int = 16,
                 seed: int = 0, exact_below: int = 2048) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.dim = dim
        self.capacity = capacity
        self._ef, self._m, self._seed = ef, m, seed
        self._exact_below = exact_below
        self._exact: np.ndarray | None = np.zeros((0, dim), dtype=np.float32)
        """Unit rows while the index is small (None once it outgrew them): a view of a buffer
        that doubles as it fills and is a ring once it holds ``capacity`` rows, so an add
        copies only the new rows."""
        self._exact_ids = np.zeros(0, dtype=np.int64)
        self._head = 0
        """Where the next exact row goes once the rows fill ``capacity``."""
        self._index: hnswlib.Index | None = None
        """Built when the rows outgrow ``exact_below`` (adding to it costs ~0.5 ms a vector)."""
        self._allocated = 0
        self._order: deque[int] = deque()
        self._next = 0

    def __len__(self) -> int:
        return len(self._exact_ids) if self._exact is not None else len(self._order)

    @property
    def exact(self) -> bool:
        """True while answers are exact (the rows, no graph yet)."""
        return self._exact is not None

    @property
    def nbytes(self) -> int:
        """Memory held: the exact rows' buffer, or the graph's allocation (a vector, its
        links at level 0 and an id per element; estimated)."""
        if self._exact is not None:
            rows, ids = self._exact.base, self._exact_ids.base
            return (0 if rows is None else rows.nbytes) + (0 if ids is None else ids.nbytes)
        return self._allocated * (self.dim * 4 + 2 * self._m * 4 + 64)

    def add_many(self, X: np.ndarray) -> None:
        X = self._rows(X)
        for start in range(0, len(X), self.capacity):
            self._add_chunk(X[start : start + self.capacity])

    def _add_chunk(self, X: np.ndarray) -> None:
        ids = np.arange(self._next, self._next + len(X), dtype=np.int64)
        self._next += len(X)
        if self._exact is not None:
            if min(len(self._exact) + len(X), self.capacity) <= self._exact_below:
                self._append_exact(_unit(X), ids)
                return
            rows = np.concatenate([self._exact, _unit(X)])[-self.capacity :]
            kept = np.concatenate([self._exact_ids, ids])[-self.capacity :]
            self._exact, self._exact_ids = None, np.zeros(0, dtype=np.int64)
            self._build(len(rows))
            X, ids = rows, kept
        self._add_to_graph(X, ids)

    def _append_exact(self, rows: np.ndarray, ids: np.ndarray) -> None:
        """Add to the exact rows; at ``capacity`` they are a ring, the oldest overwritten."""
        assert self._exact is not None
        n, m = len(self._exact), len(rows)
        buffer, id_buffer = self._exact.base, self._exact_ids.base
        if buffer is None or id_buffer is None or (len(buffer) < n + m
                                                   and len(buffer) < self.capacity):
            size = min(max(2 * (n + m), 64), self.capacity, max(self._exact_below, n + m))
            buffer, id_buffer = np.empty((size, self.dim), dtype=np.float32), np.empty(
                size, dtype=np.int64)
            buffer[:n], id_buffer[:n] = self._exact, self._exact_ids
        if n + m <= len(buffer):
            buffer[n : n + m], id_buffer[n : n + m] = rows, ids
            self._exact, self._exact_ids = buffer[: n + m], id_buffer[: n + m]
            self._head = (n + m) % len(buffer)
            return
        start = self._head if n == len(buffer) else n
        at = (start + np.arange(m)) % len(buffer)
        buffer[at], id_buffer[at] = rows, ids
        self._head = int(at[-1] + 1) % len(buffer)
        self._exact, self._exact_ids = buffer[:], id_buffer[:]

    def _build(self, rows: int) -> None:
        self._allocated = min(self.capacity, max(rows, 1024))
        self._index = hnswlib.Index(space="cosine", dim=self.dim)
        self._index.init_index(max_elements=self._allocated, ef_construction=100, M=self._m,
                               random_seed=self._seed, allow_replace_deleted=True)
        self._index.set_ef(self._ef)

    def _add_to_graph(self, X: np.ndarray, ids: np.ndarray) -> None:
        assert self._index is not None
        n = len(X)
        need = len(self._order) + n
        if need > self._allocated and self._allocated < self.capacity:
            self._allocated = min(self.capacity, max(need, 2 * self._allocated))
            self._index.resize_index(self._allocated)
        overflow = max(0, need - self.capacity)
        for _ in range(overflow):
            self._index.mark_deleted(self._order.popleft())
        # one thread: a pool per call costs more than it saves on a few dozen vectors
        self._index.add_items(X, ids, num_threads=1, replace_deleted=overflow > 0)
        self._order.extend(ids.tolist())

    def query_many(self, X: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Internal ids and cosine distances of the ``k`` nearest stored vectors."""
        k = min(k, len(self))
        if k == 0:
            raise ValueError("the index is empty; add vectors before querying")
        X = self._rows(X)
        if self._exact is not None:
            distance = self.distances_many(X)
            nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
            dist = np.take_along_axis(distance, nearest, axis=1)
            order = np.argsort(dist, axis=1, kind="stable")
            nearest = np.take_along_axis(nearest, order, axis=1)
            return self._exact_ids[nearest], np.take_along_axis(dist, order, axis=1)
        assert self._index is not None
        self._index.set_ef(max(self._index.ef, k))
        return self._index.knn_query(X, k=k, num_threads=1)

    def distances_many(self, X: np.ndarray) -> np.ndarray:
        """While :attr:`exact`: the cosine distance of each row to every stored vector
        (columns in :attr:`exact_ids` order), computed as :meth:`query_many` computes it."""
        return 1.0 - self.similarities_many(X)

    def similarities_many(self, X: np.ndarray) -> np.ndarray:
        """While :attr:`exact`: the cosine similarity of each row to every stored vector
        (columns in :attr:`exact_ids` order), in either memory order: read it with order-free
        reductions (max, min, arg*), as :func:`~stream_al.index.products.dot_rows` says."""
        if self._exact is None:
            raise ValueError("similarities_many needs the exact rows (the index is a graph now)")
        return dot_rows(_unit(self._rows(X)), self._exact, order_free=True)

    @property
    def exact_ids(self) -> np.ndarray:
        """The internal id of each exact row (empty once the index is a graph)."""
        return self._exact_ids

    def nearest_distance_many(self, X: np.ndarray) -> np.ndarray:
        """Cosine distance to the nearest stored vector; 1.0 when the index is empty."""
        if len(self) == 0:
            return np.ones(len(X), dtype=np.float32)
        if self._exact is not None:
            return nearest_distance(self.similarities_many(X))
        _, dist = self.query_many(X, k=1)
        return np.clip(dist[:, 0], 0.0, 2.0).astype(np.float32)

    def _rows(self, X: np.ndarray) -> np.ndarray:
        """``X`` as contiguous float32 rows of this index's width (hnswlib aborts the whole
        process on another width instead of raising)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(
                f"vectors of shape {X.shape} do not fit an index of dim {self.dim}: "
                f"embed them with the embedder that built the index"
            )
        return X


def nearest_distance(similarity: np.ndarray) -> np.ndarray:
    """Per row of cosine similarities (:meth:`BoundedIndex.similarities_many`), the cosine
    distance to the nearest column."""
    return np.clip(1.0 - similarity.max(axis=1), 0.0, 2.0).astype(np.float32)


def _unit(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, as hnswlib's cosine space does (zero rows stay zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-30)
