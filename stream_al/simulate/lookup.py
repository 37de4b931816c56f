"""An embedder over a dataset's precomputed rows: the simulator never embeds a text twice.

The coordinator re-embeds the texts of labelled items whose vectors it no longer holds
(:meth:`~stream_al.loop.coordinator.Coordinator.embeddings_of`); in the simulator those texts
are rows of the replayed dataset, embedded once (``stream_al/simulate/features.py``).

>>> import numpy as np
>>> lookup = LookupEmbedder(["a", "b"], np.eye(2, dtype=np.float32))
>>> lookup.embed(["b", "a"]).tolist()
[[0.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class LookupEmbedder:
    """``texts[i]`` -> ``X[i]``; a text outside the dataset is an error that names it."""

    def __init__(self, texts: Sequence[str], X: np.ndarray, name: str = "lookup") -> None:
        if len(texts) != len(X):
            raise ValueError(f"{len(texts)} texts but {len(X)} embeddings")
        self.X = np.asarray(X, dtype=np.float32)
        self.dim = int(self.X.shape[1])
        self.name = f"{name}-{self.dim}"
        self._row = {t: i for i, t in enumerate(texts)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._row]
        if missing:
            raise KeyError(f"{len(missing)} texts are not rows of the replayed dataset, e.g. "
                           f"{missing[0][:60]!r}: embed them with the dataset's embedder")
        return self.X[[self._row[t] for t in texts]]
