"""Random sampling: the control every strategy is measured against."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, selection_of


class RandomSelector:
    """Label each item with probability ``fraction`` while the budget allows."""

    name = "random"

    def __init__(self, fraction: float, seed: int = 0) -> None:
        self.fraction = fraction
        self._rng = np.random.default_rng(seed)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> list[Selection]:
        draws = self._rng.random(len(batch))
        out = []
        for i in np.flatnonzero(draws < self.fraction):
            cost = float(batch.costs[i])
            if budget.can_spend(cost):
                budget.spend(cost)
                out.append(selection_of(batch, int(i), self.name, "random", 1.0 - draws[i]))
        return out

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float]) -> None:
        return None
