"""Breaking ties (margin sampling, Scheffer et al. 2001) top-k over a window of the stream,
as small-text's ``BreakingTies`` ranks a pool: the items with the smallest gap between their
two most probable classes first."""

from __future__ import annotations

import numpy as np

from benchmarks.peers.base import Proba, WindowedSelector


def margins(proba: np.ndarray) -> np.ndarray:
    """``p(first) - p(second)`` per row.

    >>> margins(np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])).round(2).tolist()
    [0.2, 0.85]
    """
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


class WindowedBreakingTies(WindowedSelector):
    """Holds ``window`` items, then proposes all of them, smallest margin first; the budget
    takes as many as the allowance accrued (about ``fraction x window``)."""

    name = "breaking_ties"

    def rank(self, X: np.ndarray, proba: Proba) -> np.ndarray:
        return np.argsort(margins(proba(X)), kind="stable")
