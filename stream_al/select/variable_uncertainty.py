"""Randomised variable-threshold uncertainty (Zliobaite, Bifet, Pfahringer & Holmes, 2014).

An item is labelled when the model's confidence falls below a threshold that is itself
randomised (multiplied by N(1, delta)); after a label the threshold tightens by a factor
(1 - step), otherwise it loosens by (1 + step), so the rule keeps labelling through drift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, informativeness
from stream_al.select.selections import Selections, selections_of


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

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        """One decision per item, in order (the threshold moves after each); the loop runs on
        Python floats, and asks the budget again only after spending (the allowance does not
        change in between)."""
        confidence = 1.0 - informativeness(batch, self.kind, self.novelty_weight)
        noise = (self._rng.normal(1.0, self.delta, size=len(batch)).tolist() if self.delta
                 else [1.0] * len(batch))
        tighten, loosen = 1.0 - self.step, 1.0 + self.step
        threshold, allowance = self.threshold, budget.allowance
        bought = []
        for i, (c, cost, z) in enumerate(zip(confidence.tolist(), batch.costs.tolist(), noise,
                                             strict=True)):
            if cost > allowance + 1e-9:
                continue  # no budget: neither label nor adapt (as in the paper)
            if c < threshold * z:
                budget.spend(cost)
                allowance = budget.allowance
                threshold *= tighten
                bought.append(i)
            else:
                threshold *= loosen
        self.threshold = threshold
        return selections_of(batch, bought, self.name, "uncertain", 1.0 - confidence[bought])

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        return None
