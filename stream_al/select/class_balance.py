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

import numpy as np


def balancing_quotas(n: int, bought: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Labels per class (summing to ``min(n, available.sum())``): each next label to the class
    with the fewest bought + given so far that still has an available candidate; ties to the
    lower class index."""
    bought = np.asarray(bought, dtype=np.int64)
    available = np.asarray(available, dtype=np.int64)
    quota = np.zeros(len(available), dtype=np.int64)
    for _ in range(min(n, int(available.sum()))):
        total = np.where(quota < available, bought + quota, np.iinfo(np.int64).max)
        quota[int(np.argmin(total))] += 1
    return quota
