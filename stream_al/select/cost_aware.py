"""Expected gain per unit cost: any selector, fed informativeness divided by predicted cost.

Under a budget in annotator minutes or money, a label that takes twice as long must teach
twice as much to be worth buying. :class:`CostAware` rescales the batch's informativeness
(and novelty) by ``(min_cost / max(cost, min_cost)) ** exponent`` before the wrapped selector
sees it; costs are ledger units (1 = a typical label, see :class:`stream_al.select.cost.CostBudget`),
so the scores stay in [0, 1] and are proportional to gain per cost for items costing more
than ``min_cost``. Selectors that hold items and re-score them later (the diverse reservoir)
get the same rescaling through the rescorer :meth:`CostAware.of` hands them. Selections carry
the rescaled scores and the factor itself as ``scores["cost_factor"]``. With
``scores["annotators"]`` (k labels per item, all charged), the factor uses cost / k.

>>> from stream_al.select.random import RandomSelector
>>> aware = CostAware(RandomSelector(0.1), kind="margin")
>>> [round(float(v), 2) for v in aware.per_cost(np.array([0.8, 0.8]), np.array([0.5, 2.0]))]
[0.4, 0.1]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import (
    BudgetLike,
    Informativeness,
    Selection,
    Selector,
    reads_novelty,
)

ANNOTATORS = "annotators"
"""Optional score: labels asked per item. Costs are then for all of them, and items are ranked
by informativeness per *one* label's cost: asking an item of a gold fraction or of several
annotators for a low-confidence label is a quality decision, not a reason to buy it less."""


class CostAware:
    """Wrap ``inner`` so that it ranks items by informativeness per unit of cost."""

    def __init__(self, inner: Selector | None, kind: str = "margin", exponent: float = 1.0,
                 min_cost: float = 0.25, rescorer: Informativeness | None = None,
                 memory: int = 50_000) -> None:
        if exponent < 0:
            raise ValueError(f"cost exponent must be >= 0 (0 ignores cost), got {exponent}")
        if min_cost <= 0:
            raise ValueError(f"min_cost must be > 0 ledger units, got {min_cost}")
        self.inner: Selector = inner  # type: ignore[assignment]  # None only inside `of`
        self.kind = kind
        self.exponent = exponent
        self.min_cost = min_cost
        self.rescorer = rescorer
        self.memory = memory
        self._factor: OrderedDict[int, float] = OrderedDict()  # embedding row hash -> factor

    @classmethod
    def of(cls, make: Callable[[Informativeness], Selector], rescorer: Informativeness,
           **options: float | str) -> CostAware:
        """Build the inner selector with a cost-aware rescorer, e.g.
        ``CostAware.of(lambda r: make_selector(name, sel, bud, r), stage, kind="margin")``."""
        aware = cls(None, rescorer=rescorer, **options)  # type: ignore[arg-type]
        aware.inner = make(aware)
        return aware

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def reads_novelty(self) -> bool:
        return reads_novelty(self.inner)

    def per_cost(self, scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
        return (scores * self._factor_of(costs)).astype(np.float32)

    def _factor_of(self, costs: np.ndarray) -> np.ndarray:
        costs = np.asarray(costs, dtype=np.float64)
        return (self.min_cost / np.maximum(costs, self.min_cost)) ** self.exponent

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> list[Selection]:
        return self.inner.select_many(self._rescaled(batch), budget)

    def flush(self, budget: BudgetLike) -> list[Selection]:
        flush = getattr(self.inner, "flush", None)
        return flush(budget) if flush is not None else []

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        self.inner.reward_many(strategies, rewards, item_ids=item_ids)

    def _rescaled(self, batch: ScoredBatch) -> ScoredBatch:
        per_label = batch.costs
        if ANNOTATORS in batch.scores:  # rank by one label's price; the ledger charges all k
            per_label = batch.costs / np.maximum(batch.scores[ANNOTATORS], 1.0)
        factor = self._factor_of(per_label)
        scores = {**batch.scores, "cost_factor": factor.astype(np.float32)}
        for key in (self.kind, "novelty"):
            if key in scores:
                scores[key] = (scores[key] * factor).astype(np.float32)
        if self.rescorer is not None:
            self._remember(batch.X, factor)
        return ScoredBatch(batch.ids, batch.X, scores, batch.model_version, batch.costs,
                           batch.weights, batch.seen)

    def _remember(self, X: np.ndarray, factor: np.ndarray) -> None:
        for row, f in zip(X, factor.tolist(), strict=True):
            self._factor[hash(row.tobytes())] = f
        while len(self._factor) > self.memory:
            self._factor.popitem(last=False)

    def informativeness_many(self, X: np.ndarray) -> np.ndarray:
        """The base rescorer's informativeness times the cost factor remembered per item."""
        if self.rescorer is None:
            raise ValueError("CostAware was built without a rescorer; build it with CostAware.of")
        fresh = self.rescorer.informativeness_many(X)
        return (fresh * self.cost_factor_many(X)).astype(np.float32)

    def cost_factor_many(self, X: np.ndarray) -> np.ndarray:
        """The cost factor remembered for each row (1 for a row never seen): selectors that
        weigh items by something else than informativeness (coverage) multiply by it."""
        return np.array([self._factor.get(hash(row.tobytes()), 1.0) for row in X])

    @property
    def n_classes(self) -> int | None:
        """Classes the base rescorer's model knows (reservoirs size their batches by it)."""
        return getattr(self.rescorer, "n_classes", None)

    @property
    def snapshot(self) -> object | None:
        """The base rescorer's model (the balanced selector asks it for predicted classes)."""
        return getattr(self.rescorer, "snapshot", None)
