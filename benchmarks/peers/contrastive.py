"""Contrastive active learning (CAL, Margatina et al. 2021) top-k over a window of the stream,
as small-text's ``ContrastiveActiveLearning`` ranks a pool: the items whose predicted class
probabilities differ most from those of their nearest *labelled* neighbours (mean KL
divergence from each neighbour's prediction to the item's), i.e. items that look like known
ones but on which the model disagrees with itself."""

from __future__ import annotations

import numpy as np

from benchmarks.peers.base import WINDOW, Proba, WindowedSelector
from benchmarks.peers.breaking_ties import margins

NEIGHBOURS = 10
"""Labelled neighbours per candidate (small-text's and the paper's ``k``)."""
EPS = 1e-12


def contrastive_scores(candidates: np.ndarray, proba: np.ndarray, labelled: np.ndarray,
                       labelled_proba: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Per candidate row: the mean over its ``k`` nearest labelled rows (cosine) of
    ``KL(p(neighbour) || p(candidate))``.

    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> p = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> L, pl = np.array([[1.0, 0.1], [0.1, 1.0]]), np.array([[0.9, 0.1], [0.9, 0.1]])
    >>> contrastive_scores(X, p, L, pl, k=1).round(3).tolist()
    [0.368, 0.0]
    """
    k = min(k, len(labelled))
    unit = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), EPS)
    known = labelled / np.maximum(np.linalg.norm(labelled, axis=1, keepdims=True), EPS)
    nearest = np.argpartition(-(unit @ known.T), k - 1, axis=1)[:, :k]
    p = np.clip(proba, EPS, 1.0)[:, None, :]
    q = np.clip(labelled_proba[nearest], EPS, 1.0)
    return (q * (np.log(q) - np.log(p))).sum(axis=2).mean(axis=1)


class WindowedContrastive(WindowedSelector):
    """Holds ``window`` items, then proposes all of them, the largest contrastive score first
    (by margin, smallest first, while nothing is labelled); the budget takes as many as the
    allowance accrued."""

    name = "contrastive"

    def __init__(self, window: int = WINDOW, k: int = NEIGHBOURS) -> None:
        super().__init__(window)
        self.k = k
        self.labelled: list[np.ndarray] = []

    def labelled_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        self.labelled.append(np.asarray(X))

    def rank(self, X: np.ndarray, proba: Proba) -> np.ndarray:
        p = proba(X)
        if not self.labelled:
            return np.argsort(margins(p), kind="stable")
        known = np.vstack(self.labelled)
        return np.argsort(-contrastive_scores(X, p, known, proba(known), self.k), kind="stable")
