"""The labelled rows a learner refits on: one copy, shared by the main model and its committee.

Rows beyond ``capacity`` go through a uniform reservoir (each of the ``seen`` rows stays with
probability ``capacity / seen``). The class list lives here too, so every model that learns from
the memory numbers the classes the same way. Models keep only what differs between them: a
weight per row (the committee's Poisson(1) bootstrap counts), never a copy of the rows.

>>> import numpy as np
>>> memory = ReplayMemory(dim=2, capacity=2, seed=0)
>>> memory.add_many(np.eye(2, dtype=np.float32), ["a", "b"]).tolist()
[0, 1]
>>> memory.classes, len(memory), memory.seen
(['a', 'b'], 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ReplayMemory:
    """Up to ``capacity`` labelled float32 rows and their class indices."""

    def __init__(self, dim: int, capacity: int = 50_000, seed: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if capacity < 1:
            raise ValueError(f"replay memory capacity must be >= 1, got {capacity}")
        self.dim = dim
        self.capacity = capacity
        self._rng = np.random.default_rng(seed)
        self.classes: list[str] = []
        self._class_index: dict[str, int] = {}
        self._X = np.zeros((0, dim), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int64)
        self._uniform = np.zeros(0, dtype=bool)
        self._n = 0
        self.seen = 0
        """Rows ever added (the reservoir's denominator; the number of labels learned)."""

    def __len__(self) -> int:
        return self._n

    @property
    def X(self) -> np.ndarray:
        return self._X[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]

    @property
    def uniform(self) -> np.ndarray:
        """Per row: drawn uniformly from the stream (a validation purchase), so an unbiased
        sample of it whatever the selector bought around it (:meth:`add_many`'s ``uniform``)."""
        return self._uniform[: self._n]

    @property
    def nbytes(self) -> int:
        return self._X.nbytes + self._y.nbytes

    def index_of(self, label: str) -> int:
        """The class index of ``label``; a new class gets the next index."""
        idx = self._class_index.get(label)
        if idx is None:
            idx = len(self.classes)
            self.classes.append(label)
            self._class_index[label] = idx
        return idx

    def add_many(self, X: np.ndarray, labels: Sequence[str],
                 uniform: Sequence[bool] | None = None) -> np.ndarray:
        """Store labelled rows; returns the slot each row went to (-1: the reservoir dropped
        it). A slot that appears twice holds the later row. ``uniform``: per row, drawn
        uniformly from the stream (default: none is)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"expected features of shape (n, {self.dim}), got {X.shape}")
        if len(labels) != X.shape[0]:
            raise ValueError(f"{X.shape[0]} feature rows but {len(labels)} labels")
        y = np.array([self.index_of(str(label)) for label in labels], dtype=np.int64)
        slots = np.full(len(y), -1, dtype=np.int64)
        free = min(len(y), self.capacity - self._n)
        if free > 0:  # the memory is not full yet: append
            self._reserve(self._n + free)
            slots[:free] = np.arange(self._n, self._n + free)
            self._n += free
        for row in range(free, len(y)):  # full: a uniform reservoir
            slot = int(self._rng.integers(0, self.seen + row + 1))
            if slot < self.capacity:
                slots[row] = slot
        self.seen += len(y)
        kept = slots >= 0
        self._X[slots[kept]], self._y[slots[kept]] = X[kept], y[kept]
        flags = np.zeros(len(y), dtype=bool) if uniform is None else np.asarray(uniform, bool)
        self._uniform[slots[kept]] = flags[kept]
        return slots

    def reset(self, classes: Sequence[str], X: np.ndarray, labels: Sequence[str],
              uniform: Sequence[bool] | None = None) -> np.ndarray:
        """Forget every row and class; start again with ``classes`` (in that order) and the
        rows (``X``, ``labels``, ``uniform`` flags as :meth:`add_many`'s). Returns their slots,
        as :meth:`add_many`."""
        self.classes, self._class_index = [], {}
        self._X = np.zeros((0, self.dim), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int64)
        self._uniform = np.zeros(0, dtype=bool)
        self._n = self.seen = 0
        for c in classes:
            self.index_of(str(c))
        return self.add_many(np.asarray(X, dtype=np.float32).reshape(-1, self.dim), labels,
                             uniform)

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` rows, grown geometrically up to ``capacity``."""
        if rows <= len(self._y):
            return
        capacity = min(self.capacity, max(64, rows, 2 * len(self._y)))
        extra = capacity - len(self._y)
        self._X = np.concatenate([self._X, np.zeros((extra, self.dim), dtype=np.float32)])
        self._y = np.concatenate([self._y, np.zeros(extra, dtype=np.int64)])
        self._uniform = np.concatenate([self._uniform, np.zeros(extra, dtype=bool)])
