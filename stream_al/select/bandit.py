"""EXP3 (Auer et al., 2002) sharing the label budget among strategies by the gain they buy.

Each stream item is routed to one arm drawn from the EXP3 distribution; an arm accrues budget
only on the items routed to it (a :class:`SubBudget` of the shared ledger), so routing
probabilities are budget shares. When a label bought by an arm comes back, its gain (by
default how surprised the model was: 1 - p(true label) before learning) updates that arm with
the importance-weighted estimate gain / p(arm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, Selector, reads_novelty
from stream_al.select.budget import Budget, SubBudget


class Exp3Bandit:
    name = "bandit"

    def __init__(self, arms: Mapping[str, Selector], gamma: float = 0.1, seed: int = 0) -> None:
        if not arms:
            raise ValueError("the bandit needs at least one arm (selection.bandit_arms)")
        if not 0 < gamma <= 1:
            raise ValueError(f"bandit gamma must be in (0, 1], got {gamma}")
        self.arms = dict(arms)
        self.names = list(self.arms)
        self.gamma = gamma
        self._log_w = np.zeros(len(self.names))
        self._rng = np.random.default_rng(seed)
        self._sub: dict[str, SubBudget] = {}
        self.pulls = dict.fromkeys(self.names, 0)
        self.gains = dict.fromkeys(self.names, 0.0)

    @property
    def reads_novelty(self) -> bool:
        return any(reads_novelty(arm) for arm in self.arms.values())

    @property
    def probabilities(self) -> np.ndarray:
        w = np.exp(self._log_w - self._log_w.max())
        k = len(self.names)
        return (1.0 - self.gamma) * w / w.sum() + self.gamma / k

    def weights(self) -> dict[str, float]:
        return dict(zip(self.names, self.probabilities.tolist(), strict=True))

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> list[Selection]:
        choice = self._rng.choice(len(self.names), size=len(batch), p=self.probabilities)
        out: list[Selection] = []
        for a, name in enumerate(self.names):
            idx = np.flatnonzero(choice == a)
            sub = self._sub_budget(name, budget)
            sub.observe(len(idx))
            self.pulls[name] += len(idx)
            out.extend(self.arms[name].select_many(batch.subset(idx), sub))
        return out

    def _sub_budget(self, name: str, budget: BudgetLike) -> SubBudget:
        if name not in self._sub:
            if not isinstance(budget, Budget) and not hasattr(budget, "fraction"):
                raise TypeError("the bandit shares a Budget ledger; nested bandits are not supported")
            self._sub[name] = SubBudget.of(budget)
        return self._sub[name]

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float]) -> None:
        p = self.probabilities
        k = len(self.names)
        for strategy, reward in zip(strategies, rewards, strict=True):
            if strategy not in self.arms:
                continue
            a = self.names.index(strategy)
            r = float(np.clip(reward, 0.0, 1.0))
            self.gains[strategy] += r
            self._log_w[a] += self.gamma * (r / p[a]) / k
        for name, arm in self.arms.items():
            mine = [(s, r) for s, r in zip(strategies, rewards, strict=True) if s == name]
            if mine:
                arm.reward_many([s for s, _ in mine], [r for _, r in mine])
