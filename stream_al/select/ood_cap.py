"""The selection reason ``"ood"`` in front of any selector, capped at a share of the budget.

Items far from everything labelled (:class:`~stream_al.ood.OODDetector`) are bought first,
farthest first, while the share of the stream flagged is above its calibrated base rate
(:class:`~stream_al.ood.FlagRate`: a new domain, not the stream's own outliers) and an
:class:`OODCap` allows; the rest of the batch goes to the wrapped selector, which spends from
the same budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream_al.ood import FlagRate, OODDetector
from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, Selector, reads_novelty
from stream_al.select.budget import Spending
from stream_al.select.ood_check import forwarded
from stream_al.select.selections import Selections, selections_of

OOD_REASON = "ood"


@dataclass
class OODCap(Spending):
    """An allowance accruing ``rate`` per stream item, never above ``limit``.

    >>> cap = OODCap.of(rate=0.01, window_items=300)
    >>> cap.observe(1000); cap.allowance
    3.0
    >>> cap.spend(2.0); cap.observe(100); round(cap.allowance, 6)
    2.0
    """

    rate: float
    limit: float
    allowance: float = 0.0

    @classmethod
    def of(cls, rate: float, window_items: int) -> OODCap:
        """``window_items`` items' worth at most (at least one label); 0: no limit."""
        return cls(rate, max(1.0, rate * window_items) if window_items else float("inf"))

    def observe(self, n_items: int) -> None:
        self.allowance = min(self.limit, self.allowance + self.rate * n_items)

    def spend(self, cost: float = 1.0) -> None:
        self.allowance -= cost


class OODSelector:
    """Selection reason ``"ood"`` in front of any selector, capped at ``max_share`` of the budget.

    OOD items of each batch (farthest first) are bought only while the share of the last
    ``ood.burst_window`` stream items flagged is above ``1 - ood.quantile`` at
    ``ood.burst_confidence`` (:class:`~stream_al.ood.FlagRate`): about that share of any
    stationary stream is flagged, its ordinary outliers, which are not worth a reason of their
    own. They are bought while an :class:`OODCap` allows:
    it accrues ``max_share`` of the budget fraction per stream item, but never holds more
    than ``ood.cap_window_items`` items' worth, so over any ``n`` items OOD picks cost at most
    ``max_share * fraction * (n + cap_window_items)`` (a quiet stretch does not save up for a
    later burst). The rest of the batch goes to the wrapped selector, which spends from the
    same budget.

    With ``ood.sample`` below 1 only a seeded random sample of each batch is checked as it
    arrives (flags, the burst test, the threshold's reference and OOD purchases read that
    sample); an item another reason buys is measured then, so every purchase still carries
    ``scores["ood_distance"]``.

    With ``at_scorers`` (``scale.ood_at_scorers``) the candidates arrive checked: each
    carries the distance and flag its scorer forwarded (:mod:`stream_al.select.ood_check`),
    and this selector measures nothing itself.
    """

    def __init__(self, base: Selector, detector: OODDetector, fraction: float,
                 max_share: float | None = None, cap_window_items: int | None = None,
                 seed: int = 0, at_scorers: bool = False) -> None:
        share = detector.settings.max_share if max_share is None else max_share
        window = detector.settings.cap_window_items if cap_window_items is None \
            else cap_window_items
        if not 0 <= share <= 1:
            raise ValueError(f"ood.max_share must be in [0, 1], got {share}")
        self.base = base
        self.name = base.name
        self.detector = detector
        self.max_share = share
        self.cap = OODCap.of(fraction * share, window) if share > 0 else None
        s = detector.settings
        self.flag_rate = FlagRate(1 - s.quantile, s.burst_window, s.burst_confidence)
        self._sampling = np.random.default_rng([seed, 3])
        """Which candidates are checked as they arrive (``ood.sample``)."""
        self.at_scorers = at_scorers
        """``scale.ood_at_scorers``: the scorers checked the candidates (select/ood_check.py);
        :attr:`detector` then holds no labelled rows and only counts their flags."""

    @property
    def reads_novelty(self) -> bool:
        return reads_novelty(self.base)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        if self.at_scorers:
            dist, flags, checked = self._forwarded(batch)
        else:
            dist, flags, checked = self._check(batch.X)
            batch.scores["ood_distance"] = dist.astype(np.float32)
        picked: list[int] = []
        if self.detector.ready or self.at_scorers:
            self.flag_rate.add_many(flags[checked])
        if self.cap is not None:
            self.cap.observe(batch.represents)
        if self.cap is not None and self.flag_rate.exceeded:
            for i in np.flatnonzero(flags)[np.argsort(-dist[flags], kind="stable")]:
                cost = float(batch.costs[i])
                if not (self.cap.can_spend(cost) and budget.can_spend(cost)):
                    break
                self.cap.spend(cost)
                budget.spend(cost)
                picked.append(int(i))
        chosen = selections_of(batch, picked, self.name, OOD_REASON, dist[picked])
        batch = batch.without(chosen.item_ids)
        return Selections.joined([chosen, self._measured(self.base.select_many(batch, budget))])

    def flush(self, budget: BudgetLike) -> Sequence[Selection]:
        flush = getattr(self.base, "flush", None)
        return Selections.none() if flush is None else self._measured(flush(budget))

    def _forwarded(self, batch: ScoredBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``scale.ood_at_scorers``: the distances and flags the scorers forwarded
        (select/ood_check.py), counted into the detector's recent ratio (the OOD gauge). A
        batch without them (a scorer that does not check) has nothing flagged or checked."""
        got = forwarded(batch.scores)
        if got is None:
            return (np.zeros(len(batch), dtype=np.float32), np.zeros(len(batch), dtype=bool),
                    np.zeros(0, dtype=np.int64))
        self.detector.count_forwarded_many(got[1][got[2]])
        return got

    def _check(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, slice | np.ndarray]:
        """Distances and flags of ``X``'s rows, and which rows were checked: with
        ``ood.sample`` below 1 only a sample (which the detector also samples its reference
        from); the others get a NaN distance and no flag."""
        sample = self.detector.settings.sample
        if sample >= 1:
            return *self.detector.check_many(X), slice(None)
        rows = np.flatnonzero(self._sampling.random(len(X)) < sample)
        dist = np.full(len(X), np.nan, dtype=np.float32)
        flags = np.zeros(len(X), dtype=bool)
        if len(rows):
            dist[rows], flags[rows] = self.detector.check_many(X[rows])
        return dist, flags, rows

    def _measured(self, chosen: Sequence[Selection]) -> Sequence[Selection]:
        """``chosen`` with the OOD distance of items the sample skipped, measured now (not
        counted into the flags or the threshold's reference). (``ood.sample`` below 1 only,
        on selection objects.)"""
        if self.detector.settings.sample >= 1:
            return chosen
        chosen = list(chosen)
        missing = [s for s in chosen if s.embedding is not None
                   and math.isnan(s.scores.get("ood_distance", 0.0))]
        if missing:
            dist = self.detector.distance_many(np.stack([s.embedding for s in missing]))
            for s, d in zip(missing, dist.tolist(), strict=True):
                s.scores["ood_distance"] = round(d, 6)
        return chosen

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        self.base.reward_many(strategies, rewards, item_ids=item_ids)
