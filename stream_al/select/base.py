"""The selector contract: given scored stream items and a budget, decide which to label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from stream_al.score.batch import ScoredBatch


class BudgetLike(Protocol):
    """A ledger: ``can_spend(cost)`` is ``cost <= allowance + 1e-9``, and the allowance
    changes only when items are observed or costs are spent or released (selectors may
    keep it between two spends)."""

    @property
    def allowance(self) -> float: ...

    def observe(self, n_items: int) -> None: ...

    def can_spend(self, cost: float = 1.0) -> bool: ...

    def spend(self, cost: float = 1.0) -> None: ...

    def release(self, cost: float = 1.0) -> None: ...


@dataclass(frozen=True)
class Selection:
    """One item bought for labelling: which, by which strategy, why, and how urgently."""

    item_id: str
    strategy: str
    reason: str
    priority: float
    cost: float = 1.0
    group: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)


class Informativeness(Protocol):
    """Re-scores embeddings with the current model (selectors that hold items use it)."""

    def informativeness_many(self, X: np.ndarray) -> np.ndarray: ...


class Selector(Protocol):
    name: str

    @property
    def reads_novelty(self) -> bool:
        """Whether it reads ``scores["novelty"]`` of the batches it is given (the stage computes
        novelty, a distance to every item bought, for the whole batch only then)."""
        ...

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Sequence[Selection]:
        """Spend from ``budget`` on items of ``batch`` (or on items held from earlier): the
        picks as columns (:class:`~stream_al.select.selections.Selections`, made by
        :func:`~stream_al.select.selections.selections_of`), or a list of selections."""
        ...

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        """Feedback for labels that came back: the gain each bought label produced, and which
        items they were (the bandit weighs each by its probability when it was routed)."""
        ...


def reward_base(base: Selector, own: str, strategies: Sequence[str], rewards: Sequence[float],
                item_ids: Sequence[str] | None) -> None:
    """A wrapper's ``reward_many``: hand ``base`` the rewards of every purchase but the
    wrapper's own (strategy ``own``), which ``base`` did not make."""
    ids = [""] * len(strategies) if item_ids is None else list(item_ids)
    mine = [(s, r, i) for s, r, i in zip(strategies, rewards, ids, strict=True) if s != own]
    if mine:
        base.reward_many([s for s, _, _ in mine], [r for _, r, _ in mine],
                         item_ids=None if item_ids is None else [i for _, _, i in mine])


def reads_novelty(selector: object) -> bool:
    """``selector.reads_novelty``; True for a selector that does not say (novelty is computed)."""
    return bool(getattr(selector, "reads_novelty", True))


SCORE_DIGITS = 6
"""Decimals a selection's scores are rounded to (``round(score, 6)``)."""


def rounded_many(values: np.ndarray) -> list[float]:
    """``round(float(v), SCORE_DIGITS)`` of each value, without a ``round`` call per value
    (0.5 us each, 9 scores per purchase) for float32 and narrower: such a value times 10**6 is
    exact in float64 (24 + 14 significant bits), so ``rint`` rounds the exact product half to
    even as ``round`` does, and an integer divided by 10**6 is the double nearest the decimal,
    which is what ``round`` returns. Wider values take ``round`` itself.

    >>> rounded_many(np.array([0.0078125, 0.12345678, -0.5, np.inf], dtype=np.float32))
    [0.007812, 0.123457, -0.5, inf]
    """
    values = np.asarray(values)
    if values.dtype.kind == "f" and values.dtype.itemsize <= 4:
        scale = 10.0**SCORE_DIGITS
        return (np.rint(values.astype(np.float64) * scale) / scale).tolist()
    return [round(x, SCORE_DIGITS) for x in values.astype(np.float64).tolist()]


def selection_of(batch: ScoredBatch, i: int, strategy: str, reason: str, priority: float,
                 group: int = 0) -> Selection:
    """A :class:`Selection` for row ``i`` of ``batch``, carrying its scores (one object; the
    selectors make their picks as columns: :func:`stream_al.select.selections.selections_of`)."""
    return Selection(
        item_id=batch.ids[i],
        strategy=strategy,
        reason=reason,
        priority=float(priority),
        cost=float(batch.costs[i]),
        group=group,
        scores={k: round(float(v[i]), 6) for k, v in batch.scores.items()},
        embedding=batch.X[i],
    )


def informativeness(batch: ScoredBatch, kind: str, novelty_weight: float) -> np.ndarray:
    """Uncertainty of ``kind`` blended with novelty: (u + w * novelty) / (1 + w), in [0, 1]."""
    try:
        u = batch.scores[kind]
    except KeyError:
        raise ValueError(f"batch has no {kind!r} score; scores: {sorted(batch.scores)}") from None
    if novelty_weight <= 0 or "novelty" not in batch.scores:
        return u
    return (u + novelty_weight * batch.scores["novelty"]) / (1.0 + novelty_weight)
