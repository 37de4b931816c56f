"""Random sampling: the control every strategy is measured against."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike
from stream_al.select.selections import Selections, selections_of

MAX_OWED = 16
"""Purchases the budget could not pay when they came due, bought from the next items it can."""


class RandomSelector:
    """Uniform random sampling that spends the whole budget: stratified by stream position.

    The stream is cut into blocks of ``1 / fraction`` items and one position is drawn
    uniformly in each, so every item is bought with probability ``fraction``, independently
    of its content, and the purchases match the budget. (A Bernoulli draw per item spends
    ``min(Binomial(n, fraction), budget)``: 4-7% short of the budget on a few thousand items,
    which would flatter every strategy compared against it.) A purchase the budget cannot pay
    when it comes due (costs above 1) is owed and made on the next item it can pay for.
    """

    name = "random"
    reads_novelty = False

    def __init__(self, fraction: float, seed: int = 0) -> None:
        self.fraction = fraction
        self._rng = np.random.default_rng(seed)
        self.seen = 0
        self.owed = 0
        self._block = 0
        self._due = self._draw(0)

    def _draw(self, block: int) -> int:
        """A uniform position in ``block`` (blocks are ``1 / fraction`` items long)."""
        return math.floor((block + self._rng.random()) / self.fraction)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        start, n = self.seen, len(batch)
        self.seen += n
        out: list[int] = []
        i = 0 if self.owed else self._due - start
        while i < n:
            while self._due <= start + i:  # purchases that have come due by item i
                self.owed = min(self.owed + 1, MAX_OWED)
                self._block += 1
                self._due = self._draw(self._block)
            cost = float(batch.costs[i])
            if budget.can_spend(cost):
                budget.spend(cost)
                self.owed -= 1
                out.append(i)
            i = i + 1 if self.owed else self._due - start
        return selections_of(batch, out, self.name, "random", [0.5] * len(out))

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        return None
