"""Coverage of the embedding space: density-weighted farthest-first (k-center greedy) picks.

Before the model can be trusted (no labels, or too few per class) its uncertainty says nothing,
so the first labels go to items that cover the space: each pick is the candidate farthest (in
cosine distance) from everything bought so far and picked before it, weighted by how typical
it is of its region so that outliers do not win by being far from everything (Sener & Savarese
2018's k-center greedy, with Settles & Craven 2008's information density as the weight).

>>> X = np.eye(3, dtype=np.float32)
>>> farthest_first(X, np.ones(3), anchors=X[:1], n=2)
[1, 2]
"""

from __future__ import annotations

import numpy as np

from stream_al.index.products import dot_rows


def farthest_first(X: np.ndarray, weights: np.ndarray, anchors: np.ndarray, n: int,
                   ) -> list[int]:
    """Rows of ``X`` (unit vectors) picked one by one, each maximising weight x (cosine
    distance to the nearest of ``anchors`` and the rows picked before); ties to the lower row."""
    n = min(n, len(X))
    if n <= 0:
        return []
    X = np.asarray(X, dtype=np.float32)
    if len(anchors):
        similarity = dot_rows(X, np.asarray(anchors, dtype=np.float32), order_free=True)
        distance = np.clip(1.0 - similarity.max(axis=1), 0.0, 2.0)
    else:
        distance = np.ones(len(X), dtype=np.float32)
    picked: list[int] = []
    for _ in range(n):
        score = weights * distance
        score[picked] = -1.0
        i = int(np.argmax(score))
        picked.append(i)
        distance = np.minimum(distance, np.clip(1.0 - X @ X[i], 0.0, 2.0))
    return picked
