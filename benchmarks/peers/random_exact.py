"""Random sampling of exactly the budget: ``k`` stream positions drawn uniformly without
replacement before the stream starts."""

from __future__ import annotations

import numpy as np

from benchmarks.peers.base import Proba, SelectorBase


class RandomExact(SelectorBase):
    """Buys the items at ``k`` positions drawn uniformly from ``n``: exactly ``k`` labels.

    Not paced: the draw may put more purchases early than the accrued allowance would allow
    (that is what uniform sampling does); the harness caps it at ``k`` only.

    >>> selector = RandomExact(n=10, k=3, seed=0)
    >>> rows = np.arange(100, 110)
    >>> len(selector.propose_many(rows, np.zeros((10, 2)), None))
    3
    """

    name = "random"
    paced = False

    def __init__(self, n: int, k: int, seed: int = 0) -> None:
        if not 0 <= k <= n:
            raise ValueError(f"cannot draw {k} positions from a stream of {n}")
        self.positions = set(np.random.default_rng(seed).choice(n, size=k, replace=False).tolist())
        self.seen = 0

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        start, self.seen = self.seen, self.seen + len(rows)
        return [int(r) for i, r in enumerate(rows) if start + i in self.positions]
