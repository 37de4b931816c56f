"""k-means++ seeding (Arthur & Vassilvitskii 2007, greedy variant) for the diverse selector's
online clusters.

The same draws and the same arithmetic as scikit-learn's ``kmeans_plusplus`` (``RandomState``
from the seed, ``2 + log k`` candidates per centre, squared distances computed in float64 and
kept in the data's float32), so it picks the same seeds; but the squared distances between
all pooled items are computed once, in one product, instead of a validated distance call per
centre. On 256 SST-2 embeddings and 64 centres: ~1.5 ms instead of 8-13 ms, paid once per
stream, which is what a 20,000-item benchmark run would otherwise spend 0.5 us/item on.

>>> import numpy as np
>>> X = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.float32)
>>> sorted(kmeans_plusplus(X, 2, seed=0)[1].tolist()) in ([0, 2], [0, 3], [1, 2], [1, 3])
True
"""

from __future__ import annotations

import numpy as np


def kmeans_plusplus(X: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` seeds among the rows of ``X`` (float32): the centres and their row indices."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if not 0 < k <= n:
        raise ValueError(f"k-means++ needs 0 < k <= {n} rows, got k={k}")
    rng = np.random.RandomState(seed)
    weight = np.ones(n, dtype=np.float32)
    trials = 2 + int(np.log(k))
    distance = _squared_distances(X)
    chosen = np.full(k, -1, dtype=np.int64)
    chosen[0] = rng.choice(n, p=weight / weight.sum())
    closest = distance[chosen[0]][None, :]
    potential = closest @ weight
    for c in range(1, k):
        draws = rng.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(weight * closest), draws)
        np.clip(candidates, None, closest.size - 1, out=candidates)
        to_candidates = np.minimum(closest, distance[candidates])
        candidate_potential = to_candidates @ weight.reshape(-1, 1)
        best = np.argmin(candidate_potential)
        potential = candidate_potential[best]
        closest = to_candidates[best]
        chosen[c] = candidates[best]
    return X[chosen].copy(), chosen


def _squared_distances(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all rows: in float64, stored as float32."""
    X64 = X.astype(np.float64)
    norms = np.einsum("ij,ij->i", X64, X64)
    distance = -2 * (X64 @ X64.T)
    distance += norms[:, None]
    distance += norms[None, :]
    np.maximum(distance, 0, out=distance)
    return distance.astype(np.float32)
