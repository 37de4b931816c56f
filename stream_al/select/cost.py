"""What a label costs: annotator seconds per item, and budgets in labels, minutes or money.

A cost model predicts the seconds an annotator needs for an item from its length and task
(``seconds = task_factor * (base_seconds + seconds_per_char * chars)``), and can learn both
coefficients from observed labelling times. :class:`CostBudget` puts a :class:`Budget` ledger
under a budget stated as labels, annotator minutes or money per period of stream items, and
prices items in ledger units that selectors spend (``ScoredBatch.costs``).

>>> model = LengthCostModel(CostSettings(base_seconds=5, seconds_per_char=0.05))
>>> model.seconds_many(np.array([100, 400])).tolist()
[10.0, 25.0]
>>> budget = CostBudget(CostSettings(unit="minutes", amount=60, period_items=1000,
...                                  base_seconds=5, seconds_per_char=0.05), model)
>>> budget.observe(1000)
>>> round(budget.allowance_units, 1), budget.unit_cost_many(np.array([100])).round(3).tolist()
(60.0, [0.167])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from stream_al.config import CostSettings, CostUnit
from stream_al.labels.base import Label
from stream_al.select.budget import Budget, BudgetError

__all__ = [
    "BucketCostModel", "CostBudget", "CostModel", "CostSettings", "CostUnit", "LengthCostModel",
    "LinearCostModel", "durations_from_labels", "lengths_of", "make_cost_model",
]

class CostModel(Protocol):
    def seconds_many(self, chars: np.ndarray, task: str = "") -> np.ndarray:
        """Predicted annotator seconds for items of ``chars`` characters."""
        ...

    def observe_many(self, chars: np.ndarray, seconds: np.ndarray, task: str = "") -> None:
        """Learn from labelling times that were observed (no-op for fixed models)."""
        ...


def lengths_of(texts: Sequence[str]) -> np.ndarray:
    return np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts))


class LengthCostModel:
    """Fixed: ``task_factor * (base_seconds + seconds_per_char * chars)``."""

    def __init__(self, settings: CostSettings) -> None:
        self.settings = settings

    def factor(self, task: str) -> float:
        return self.settings.task_factor.get(task, 1.0)

    def seconds_many(self, chars: np.ndarray, task: str = "") -> np.ndarray:
        s = self.settings
        chars = np.asarray(chars, dtype=np.float64)
        return self.factor(task) * (s.base_seconds + s.seconds_per_char * chars)

    def observe_many(self, chars: np.ndarray, seconds: np.ndarray, task: str = "") -> None:
        return None


_SCALE = 100.0  # chars are fitted per 100 characters, so both coefficients are O(1)


class LinearCostModel(LengthCostModel):
    """Online least squares of seconds on (1, chars) per task, shrunk to the configured prior.

    Normal equations accumulate one observation at a time; the prior enters as
    ``prior_weight`` pseudo-observations (a ridge penalty towards the configured coefficients),
    so the first few timings move the estimate only a little.
    """

    def __init__(self, settings: CostSettings) -> None:
        super().__init__(settings)
        self._A: dict[str, np.ndarray] = {}
        self._b: dict[str, np.ndarray] = {}
        self.n_observed: dict[str, int] = defaultdict(int)

    def _prior(self, task: str) -> np.ndarray:
        s = self.settings
        return self.factor(task) * np.array([s.base_seconds, s.seconds_per_char * _SCALE])

    def coefficients(self, task: str = "") -> tuple[float, float]:
        """(base seconds, seconds per char) currently believed for ``task``."""
        if task not in self._A:
            theta = self._prior(task)
        else:
            theta = np.linalg.solve(self._A[task], self._b[task])
        return float(theta[0]), float(theta[1] / _SCALE)

    def seconds_many(self, chars: np.ndarray, task: str = "") -> np.ndarray:
        base, per_char = self.coefficients(task)
        return np.maximum(base + per_char * np.asarray(chars, dtype=np.float64), 0.0)

    def observe_many(self, chars: np.ndarray, seconds: np.ndarray, task: str = "") -> None:
        chars, seconds = _checked(chars, seconds, self.settings.max_seconds)
        if task not in self._A:
            w = self.settings.prior_weight
            self._A[task] = w * np.eye(2)
            self._b[task] = w * self._prior(task)
        F = np.column_stack([np.ones_like(chars), chars / _SCALE])
        self._A[task] += F.T @ F
        self._b[task] += F.T @ seconds
        self.n_observed[task] += len(chars)


class BucketCostModel(LengthCostModel):
    """Running mean of seconds per (task, length bucket), started at the prior's prediction."""

    def __init__(self, settings: CostSettings) -> None:
        super().__init__(settings)
        self.edges = np.asarray(settings.bucket_edges, dtype=np.float64)
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, np.ndarray] = {}

    def _bucket(self, chars: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, chars, side="right")

    def seconds_many(self, chars: np.ndarray, task: str = "") -> np.ndarray:
        chars = np.asarray(chars, dtype=np.float64)
        prior = super().seconds_many(chars, task)
        if task not in self._sum:
            return prior
        b = self._bucket(chars)
        w = self.settings.prior_weight
        return (w * prior + self._sum[task][b]) / (w + self._count[task][b])

    def observe_many(self, chars: np.ndarray, seconds: np.ndarray, task: str = "") -> None:
        chars, seconds = _checked(chars, seconds, self.settings.max_seconds)
        n = len(self.edges) + 1
        total = self._sum.setdefault(task, np.zeros(n))
        count = self._count.setdefault(task, np.zeros(n))
        b = self._bucket(chars)
        np.add.at(total, b, seconds)
        np.add.at(count, b, 1.0)


def _checked(chars: np.ndarray, seconds: np.ndarray,
             max_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    chars = np.asarray(chars, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    if chars.shape != seconds.shape:
        raise ValueError(f"{len(chars)} lengths but {len(seconds)} timings")
    keep = np.isfinite(seconds) & (seconds > 0)  # a zero or negative duration is a clock error
    return chars[keep], np.minimum(seconds[keep], max_seconds)


def make_cost_model(settings: CostSettings) -> LengthCostModel:
    """The cost model ``settings.learn`` names."""
    models = {"off": LengthCostModel, "linear": LinearCostModel, "buckets": BucketCostModel}
    return models[settings.learn](settings)


def durations_from_labels(labels: Iterable[Label], max_gap_s: float = 300.0) -> dict[str, float]:
    """Seconds each item took, read from one annotator's consecutive label timestamps.

    An annotator working through a batch labels items one after another, so the time between
    two of their labels is the time spent on the second. Gaps longer than ``max_gap_s`` (a
    break) and each annotator's first label (no start time) are left out.
    """
    by_annotator: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        by_annotator[label.annotator_id].append(label)
    out: dict[str, float] = {}
    for items in by_annotator.values():
        items.sort(key=lambda x: x.timestamp)
        for before, after in zip(items, items[1:], strict=False):
            gap = after.timestamp - before.timestamp
            if 0 < gap <= max_gap_s:
                out[after.item_id] = gap
    return out


class CostBudget:
    """A :class:`Budget` whose allowance is stated in labels, annotator minutes or money.

    The ledger counts in units of one *typical* label (an item of ``reference_chars``), so a
    selector that buys whole labels (the diverse reservoir allots ``floor(allowance)`` slots)
    sees about one unit per item, and ``fraction = amount / (period_items * typical cost)``.
    Costs of ``annotators`` labels per item multiply; ``warmup`` ledger units may be spent
    before any item is seen. It is a :class:`BudgetLike`: pass it to
    selectors as is, with ``ScoredBatch.costs = budget.cost_many(lengths)``.
    """

    def __init__(self, settings: CostSettings, model: CostModel, task: str = "",
                 warmup: float = 0.0) -> None:
        self.settings = settings
        self.model = model
        self.task = task
        ref = np.array([float(settings.reference_chars)])
        self.reference = float(self.unit_cost_many(ref)[0])  # fixed: the ledger depends on it
        if self.reference <= 0:
            raise BudgetError(f"a typical {settings.reference_chars}-char label costs nothing in "
                              f"{settings.unit}; set cost.base_seconds or cost.seconds_per_char > 0")
        fraction = settings.amount / (settings.period_items * self.reference)
        if fraction > 1:
            raise BudgetError(
                f"{settings.amount} {settings.unit} per {settings.period_items} items buys "
                f"{fraction:.2f} typical labels per item; lower cost.amount below "
                f"{settings.period_items * self.reference:.4g} or label everything")
        window = 0 if settings.carry_over else settings.period_items
        self.ledger = Budget(fraction, window_items=window, warmup=warmup)

    def unit_cost_many(self, chars: np.ndarray, annotators: int | np.ndarray = 1) -> np.ndarray:
        """What labelling each item costs in the budget's unit (labels, minutes or money)."""
        s = self.settings
        chars = np.asarray(chars, dtype=np.float64)
        if s.unit == "labels":
            one = np.ones_like(chars)
        else:
            minutes = self.model.seconds_many(chars, self.task) / 60.0
            one = minutes if s.unit == "minutes" else minutes * s.hourly_rate / 60 + s.fee_per_label
        return one * np.asarray(annotators, dtype=np.float64)

    def cost_many(self, chars: np.ndarray, annotators: int | np.ndarray = 1) -> np.ndarray:
        """Ledger units (typical labels) per item: what ``ScoredBatch.costs`` should hold."""
        return (self.unit_cost_many(chars, annotators) / self.reference).astype(np.float32)

    def to_units(self, ledger_cost: float) -> float:
        return ledger_cost * self.reference

    # ---- BudgetLike: the ledger, in ledger units ----------------------------------------------
    @property
    def allowance(self) -> float:
        return self.ledger.allowance

    def observe(self, n_items: int) -> None:
        self.ledger.observe(n_items)

    def can_spend(self, cost: float = 1.0) -> bool:
        return self.ledger.can_spend(cost)

    def spend(self, cost: float = 1.0) -> None:
        self.ledger.spend(cost)

    def release(self, cost: float = 1.0) -> None:
        self.ledger.release(cost)

    # ---- in the budget's own unit ---------------------------------------------------------------
    @property
    def allowance_units(self) -> float:
        return self.to_units(self.ledger.allowance)

    @property
    def spent_units(self) -> float:
        return self.to_units(self.ledger.spent)
