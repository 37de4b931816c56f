"""EXP3 (Auer et al., 2002) sharing the label budget among strategies by the gain they buy.

Each stream item is routed to one arm drawn from the EXP3 distribution; an arm accrues budget
only on the items routed to it (a :class:`SubBudget` of the shared ledger), so routing
probabilities are budget shares. When a label bought by an arm comes back, its gain (by
default how surprised the model was: 1 - p(true label) before learning) updates that arm with
the importance-weighted estimate gain / p(arm), where p(arm) is the probability in force when
the item was *routed*: labels come back late, and by then the distribution has moved (dividing
by the current probability biases the estimate against an arm whose probability grew since).
The routing probability of the last :data:`ROUTE_MEMORY` routed items is kept (an arm that
holds items, a reservoir, buys an item routed to it batches ago), and that of the last
:data:`ROUTE_MEMORY` bought items until their labels come back: memory stays bounded (a label
that comes back later than that, or never, falls back to the current probability).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, Selector, reads_novelty
from stream_al.select.budget import Budget, SubBudget
from stream_al.select.selections import Selections

ROUTE_MEMORY = 8192
"""Routed items whose routing probability is kept for a later purchase: more than a reservoir
arm holds between two of its batches (``selection.batch_interval`` items at most)."""


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
        self.routed_p: dict[str, float] = {}  # bought item -> p(its arm) when it was routed
        self._route_of: dict[str, float] = {}  # recently routed item -> p(its arm) then

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

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        p = self.probabilities
        choice = self._rng.choice(len(self.names), size=len(batch), p=p)
        out: list[Selections] = []
        for a, name in enumerate(self.names):
            idx = np.flatnonzero(choice == a)
            sub = self._sub_budget(name, budget)
            sub.observe(len(idx) if batch.seen is None else batch.subset(idx).represents)
            self.pulls[name] += len(idx)
            self._route_of.update(zip([batch.ids[i] for i in idx.tolist()],
                                      [float(p[a])] * len(idx), strict=True))
            out.append(self._routed(self.arms[name].select_many(batch.subset(idx), sub), p[a]))
        _keep_newest(self._route_of, ROUTE_MEMORY)
        _keep_newest(self.routed_p, ROUTE_MEMORY)
        return Selections.joined(out)

    def flush(self, budget: BudgetLike) -> Selections:
        """Let arms that hold items (reservoirs) emit, each from its own share of the budget."""
        p, out = self.probabilities, []
        for a, name in enumerate(self.names):
            flush = getattr(self.arms[name], "flush", None)
            if flush is not None and name in self._sub:
                out.append(self._routed(flush(self._sub[name]), p[a]))
        return Selections.joined(out)

    def _routed(self, bought: Sequence[Selection], p_now: float) -> Selections:
        """Remember each bought item's routing probability (the one in force now stands in for
        an item routed longer ago than :data:`ROUTE_MEMORY` items)."""
        bought = Selections.of(bought)
        for item_id in bought.item_ids:
            self.routed_p[item_id] = self._route_of.pop(item_id, float(p_now))
        return bought

    def _sub_budget(self, name: str, budget: BudgetLike) -> SubBudget:
        if name not in self._sub:
            if not isinstance(budget, Budget) and not hasattr(budget, "fraction"):
                raise TypeError("the bandit shares a Budget ledger; nested bandits are not supported")
            self._sub[name] = SubBudget.of(budget)
        return self._sub[name]

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        """Importance-weighted EXP3 update: gain / p(arm when the item was routed). Without
        ``item_ids`` (or for an item not routed here) the current probability stands in."""
        p = self.probabilities
        k = len(self.names)
        ids = [None] * len(strategies) if item_ids is None else list(item_ids)
        for strategy, reward, item in zip(strategies, rewards, ids, strict=True):
            if strategy not in self.arms:
                continue
            a = self.names.index(strategy)
            p_routed = self.routed_p.pop(item, None) if item is not None else None
            r = float(np.clip(reward, 0.0, 1.0))
            self.gains[strategy] += r
            self._log_w[a] += self.gamma * (r / (p[a] if p_routed is None else p_routed)) / k
        for name, arm in self.arms.items():
            mine = [(s, r) for s, r in zip(strategies, rewards, strict=True) if s == name]
            if mine:
                arm.reward_many([s for s, _ in mine], [r for _, r in mine])


def _keep_newest(table: dict[str, float], n: int) -> None:
    """Drop the oldest entries of ``table`` beyond ``n`` (dicts keep insertion order)."""
    for item in list(table)[:max(0, len(table) - n)]:
        del table[item]
