"""Randomised variable-threshold uncertainty (Zliobaite, Bifet, Pfahringer & Holmes, 2014).

An item is labelled when the model's confidence falls below a threshold that is itself
randomised (multiplied by N(1, delta)); after a label the threshold tightens by a factor
(1 - step), otherwise it loosens by (1 + step), so the rule keeps labelling through drift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, informativeness, selection_of


class VariableUncertainty:
    name = "uncertainty"

    def __init__(self, kind: str = "margin", threshold: float = 0.9, step: float = 0.01,
                 delta: float = 1.0, novelty_weight: float = 0.0, seed: int = 0) -> None:
        self.kind = kind
        self.threshold = threshold
        self.step = step
        self.delta = delta
        self.novelty_weight = novelty_weight
        self._rng = np.random.default_rng(seed)

    @property
    def reads_novelty(self) -> bool:
        return self.novelty_weight > 0

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> list[Selection]:
        confidence = 1.0 - informativeness(batch, self.kind, self.novelty_weight)
        noise = self._rng.normal(1.0, self.delta, size=len(batch)) if self.delta else None
        out = []
        for i in range(len(batch)):
            cost = float(batch.costs[i])
            if not budget.can_spend(cost):
                continue  # no budget: neither label nor adapt (as in the paper)
            limit = self.threshold * (noise[i] if noise is not None else 1.0)
            if confidence[i] < limit:
                budget.spend(cost)
                self.threshold *= 1.0 - self.step
                out.append(selection_of(batch, i, self.name, "uncertain", 1.0 - confidence[i]))
            else:
                self.threshold *= 1.0 + self.step
        return out

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float]) -> None:
        return None
