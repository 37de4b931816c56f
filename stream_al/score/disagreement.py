"""Committee disagreement: how much the members of a bagged committee disagree.

We use the Jensen-Shannon form (entropy of the mean prediction minus the mean entropy of the
members, i.e. the mutual information between prediction and member), divided by log(k).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def committee_disagreement(member_proba: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Scores in [0, 1] per item from member probabilities, each of shape (n, k) (or one
    (m, n, k) array, used as it is laid out)."""
    if len(member_proba) < 2:
        raise ValueError("committee disagreement needs at least two members")
    stack = np.asarray(member_proba)  # (m, n, k)
    n, k = stack.shape[1], stack.shape[2]
    if k < 2:
        return np.ones(n, dtype=np.float32)
    mean = stack.mean(axis=0)
    js = _entropy_rows(mean) - _entropy_rows(stack).mean(axis=0)
    return np.clip(js / np.log(k), 0.0, 1.0).astype(np.float32)


def vote_entropy(member_proba: Sequence[np.ndarray]) -> np.ndarray:
    """Entropy of the members' hard votes, divided by log(k)."""
    stack = np.stack(member_proba)
    m, n, k = stack.shape
    if k < 2:
        return np.ones(n, dtype=np.float32)
    votes = stack.argmax(axis=2)  # (m, n)
    counts = np.zeros((n, k))
    for row in votes:
        counts[np.arange(n), row] += 1
    return (_entropy_rows(counts / m) / np.log(k)).astype(np.float32)
