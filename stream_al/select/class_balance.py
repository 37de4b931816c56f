"""Class-balancing quotas (small-text's ``query_strategies/class_balancing.py``, for a stream).

The labels of a batch are shared among the classes the model predicts for the candidates so that
the classes bought so far move towards balance: one label at a time goes to the class with the
fewest labels (bought so far plus given in this batch), among the classes that still have a
candidate. Rare classes, which uncertainty alone starves (a model that predicts the majority
everywhere is confident everywhere), are asked for first.

>>> balancing_quotas(4, bought=np.array([10, 1, 0]), available=np.array([5, 5, 1]))
array([0, 3, 1])
"""

from __future__ import annotations

import heapq

import numpy as np


def balancing_quotas(n: int, bought: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Labels per class (summing to ``min(n, available.sum())``): each next label to the class
    with the fewest bought + given so far that still has an available candidate; ties to the
    lower class index. A heap of (bought + given, class) over the classes with a candidate
    left: one push and pop per label, not a pass over every class (it runs at every purchase
    step of the coordinator)."""
    bought_of = np.asarray(bought, dtype=np.int64).tolist()
    left = np.asarray(available, dtype=np.int64).tolist()
    quota = [0] * len(left)
    heap = [(bought_of[c], c) for c in range(len(left)) if left[c] > 0]
    heapq.heapify(heap)
    for _ in range(min(n, sum(left))):
        total, c = heapq.heappop(heap)
        quota[c] += 1
        if quota[c] < left[c]:
            heapq.heappush(heap, (total + 1, c))
    return np.asarray(quota, dtype=np.int64)
