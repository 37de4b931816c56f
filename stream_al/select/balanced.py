"""Coverage first, then class-balanced margin: reservoirs that win at both ends of a budget.

Items are held as in :class:`~stream_al.select.diverse.DiverseReservoir` (A-Res reservoirs per
online k-means cluster), but a label is bought as soon as the budget affords one, and the
candidates not bought stay for the items the budget takes to buy one label per known class (as
many as a reservoir batch used to choose among, at most ``batch_interval``). Waiting for a batch
of one label per class delayed the first labels by hundreds of items: the area under the
learning curve at 1% was below random's on 7 of 8 development sets (benchmarks/README.md,
"Issue 14, item 4, second pass"). What a purchase is depends on whether the model can be
trusted yet:

- **cold** (it knows fewer than two classes, or has fewer than ``cold_labels`` bought labels per
  class it knows): coverage, density-weighted farthest-first from everything bought so far
  (:func:`~stream_al.select.coverage.farthest_first`), among the items offered since the last
  purchase (over the whole window it keeps picking the window's outliers). A model that has seen one class is
  confident everywhere, and ranking by its uncertainty once bought 81 labels of a binary
  stream without a single positive; coverage finds unseen classes as an uncertainty cannot.
- **trusted**: the batch's labels are shared among the classes the model predicts for the
  candidates, the rarest bought first (:func:`~stream_al.select.class_balance.balancing_quotas`;
  counts are the current model's predictions for the recent purchases, labelled or still in
  flight), and within a class the most informative (margin, weighted by typicality) are taken.

If the batches carry the text signals of :mod:`stream_al.score.linguistic` (rare terms, script
mixing, length extremes) and ``text_weight`` is positive, each candidate's weight is multiplied
by ``1 + text_weight * (their mean)`` (measured in benchmarks/README.md: it does not pay).

Either way a candidate within ``min_separation`` (cosine distance) of a recent purchase (one of
the last :data:`SEPARATION_PURCHASES`), whose label may still be in flight so that the model has
not learned from it yet, or of an item picked before it in the batch, is not bought:
near-duplicates are not bought twice in effect. Trusted, with the top of each class's ranking
taken, that test is decided for each class's leading candidates only (about a third of them,
with the same answers: :class:`~stream_al.select.separation.ApartFromRows`, issue 17,
seventeenth pass).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from stream_al.index.products import dot_rows
from stream_al.score.batch import ScoredBatch
from stream_al.score.linguistic import TEXT_SCORERS
from stream_al.select.base import BudgetLike, Informativeness
from stream_al.select.budget import spent_in_order
from stream_al.select.class_balance import balancing_quotas
from stream_al.select.coverage import farthest_first
from stream_al.select.diverse import MIN_BATCH_LABELS, DiverseReservoir, HeldCandidates
from stream_al.select.selections import Selections, selections_of
from stream_al.select.separation import (
    ROUNDING_SLACK,
    UNIT_ROUNDOFF,
    ApartFromRows,
    picked_apart,
)

RECENT_PURCHASES = 2048
"""Purchases whose embeddings are kept (for coverage, near-duplicates and class counts)."""
SEPARATION_PURCHASES = 512
"""The newest purchases a candidate must be ``min_separation`` from: the ones whose labels may
still be in flight (a near-duplicate of an older one is one the model has learned, and its
uncertainty says so). Against all 2,048 the test was ~7 us per candidate, the coordinator's
largest product after the OOD check's (issue 17, ninth pass)."""


class RecentPurchases:
    """The embeddings of the last ``capacity`` items bought, in a ring."""

    def __init__(self, capacity: int = RECENT_PURCHASES) -> None:
        self.capacity = capacity
        self._X: np.ndarray | None = None
        self.count = 0

    @property
    def X(self) -> np.ndarray:
        if self._X is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._X[: min(self.count, self.capacity)]

    def add_many(self, X: np.ndarray) -> None:
        for row in np.asarray(X, dtype=np.float32)[-self.capacity:]:
            if self._X is None:
                self._X = np.zeros((self.capacity, len(row)), dtype=np.float32)
            self._X[self.count % self.capacity] = row
            self.count += 1

    def slots_since(self, count: int) -> np.ndarray:
        """Ring slots written since the ring held ``count`` purchases (all, if it wrapped)."""
        held = min(self.count, self.capacity)
        if self.count - count >= held:
            return np.arange(held)
        return np.arange(count, self.count) % self.capacity

    def newest_rows(self, newest: int) -> list[np.ndarray]:
        """The rows of the ``newest`` purchases (all, if fewer are held), as the slices of the
        ring :meth:`nearest_distance_many` multiplies."""
        held = min(self.count, self.capacity)
        if newest >= held:
            return [self.X] if held else []
        if newest <= 0:
            return []
        assert self._X is not None
        end = (self.count - 1) % self.capacity + 1
        if end >= newest:
            return [self._X[end - newest : end]]
        return [self._X[:end], self._X[end - newest :]]

    def nearest_distance_many(self, X: np.ndarray, newest: int | None = None) -> np.ndarray:
        """Cosine distance of each row to the nearest recent purchase (2 if there is none);
        among the ``newest`` purchases only, if given."""
        X = np.asarray(X, dtype=np.float32)
        held = min(self.count, self.capacity)
        if newest is None or newest >= held:
            if not held:
                return np.full(len(X), 2.0, dtype=np.float32)
            return 1.0 - dot_rows(X, self.X, order_free=True).max(axis=1)
        if newest <= 0:
            return np.full(len(X), 2.0, dtype=np.float32)
        assert self._X is not None
        end = (self.count - 1) % self.capacity + 1  # after the newest slot
        if end >= newest:  # one slice of the ring
            return 1.0 - dot_rows(X, self._X[end - newest : end], order_free=True).max(axis=1)
        nearest = np.maximum(dot_rows(X, self._X[:end], order_free=True).max(axis=1),
                             dot_rows(X, self._X[end - newest :], order_free=True).max(axis=1))
        return 1.0 - nearest


class CoverThenBalance(DiverseReservoir):
    name = "balanced"

    def __init__(self, rescorer: Informativeness, kind: str = "margin", max_clusters: int = 64,
                 size: int = 32, batch_interval: int = 200, novelty_weight: float = 0.0,
                 min_separation: float = 0.05, density_weight: float = 0.5,
                 cold_labels: int = 2, text_weight: float = 0.0, seed: int = 0,
                 explore: float = 0.0, quotas: bool = True, margin_density: float | None = None,
                 sampling: str = "top") -> None:
        super().__init__(rescorer, kind, max_clusters, size, batch_interval, novelty_weight,
                         min_separation, density_weight, seed)
        self.cold_labels = cold_labels
        self.text_weight = text_weight
        self.explore = explore
        self.quotas = quotas
        self.margin_density = density_weight if margin_density is None else margin_density
        self.sampling = sampling
        self._explore_rng = np.random.default_rng([seed, 14])
        self.recent = RecentPurchases()
        self._bought_at: deque[int] = deque(maxlen=max(MIN_BATCH_LABELS, max_clusters // 2))
        """Offer count (``_seq``) at each of the last purchases: the candidates' window."""
        self._bought_classes: tuple[object, int, np.ndarray] | None = None
        """(snapshot, purchases, class index per ring slot): the recent purchases' predicted
        classes, computed once per model for each purchase (not for the whole ring per batch)."""

    def trusted(self) -> bool:
        """The model knows two classes or more and ``cold_labels`` purchases per class."""
        classes = getattr(self.rescorer, "n_classes", 0) or 0
        return classes >= 2 and self.recent.count >= self.cold_labels * classes

    def batch_labels(self) -> int:
        """A label is bought as soon as the budget affords one: a batch that waits for one
        label per class delays the first labels (and the learning curve) by hundreds of items;
        the candidates a batch chose among are kept instead (:meth:`_window_start`)."""
        return 1

    def _window_start(self) -> int:
        """The oldest candidate (offer order) still held: the items the budget took to buy one
        label per known class (at least 2, at most half the clusters, as a batch of
        :class:`DiverseReservoir` holds), and not more than ``batch_interval`` items."""
        k = int(np.clip(getattr(self.rescorer, "n_classes", 0) or 0, MIN_BATCH_LABELS,
                        max(MIN_BATCH_LABELS, self.clusters.k // 2)))
        since = self._bought_at[-k] if len(self._bought_at) >= k else 0
        return max(since, self._seq - self.batch_interval)

    def _emit(self, budget: BudgetLike) -> Selections:
        held, self._held = self._held, None
        self._mass = np.zeros_like(self._mass)
        if held is None or not len(held) or budget.allowance < 1.0 - 1e-9:
            self._held = self._kept(held, [])
            return Selections.none()
        X, groups = held.batch.X, held.clusters
        n = int(math.floor(budget.allowance + 1e-9))
        density, boost = self.clusters.typicality_many(X, groups), self._text_boost(held.batch)
        typical = density ** self.density_weight * boost
        apart = ApartFromRows(X, self.recent.newest_rows(SEPARATION_PURCHASES),
                              self.min_separation, lambda: self.recent.nearest_distance_many(
                                  X, SEPARATION_PURCHASES) >= self.min_separation)
        n_cover = 0 if self.trusted() else n
        # margin_density weighs the density in the margin's priority (the text boost stays)
        margin_typical = (typical if self.margin_density == self.density_weight
                          else density ** self.margin_density * boost)
        priority = (self.rescorer.informativeness_many(X) * margin_typical if n_cover < n
                    else typical)
        covering = exploring = np.zeros(0, dtype=np.int64)
        # trusted, top-ranked picks read the separation of each class's leading candidates
        # only; coverage, exploring and proportional draws read every candidate's
        balancing = (self._balanced(X, priority, n, np.arange(len(X)), apart)
                     if not n_cover and self.explore <= 0 and self.sampling == "top" else None)
        if balancing is None:
            fresh = np.flatnonzero(apart.everywhere())
            # coverage among the items offered since the last purchase: farthest-first over a
            # window of kept candidates would keep picking its outliers
            since = self._bought_at[-1] if self._bought_at else 0
            new = fresh[held.seq[fresh] >= since]
            pool = new if len(new) else fresh
            covering = pool[farthest_first(X[pool], (typical * self._cost_factor(X))[pool],
                                           self.recent.X, n_cover)]
            rest = np.setdiff1d(fresh, covering)
            if n_cover < n and self.explore > 0 and len(rest):
                k = int(self._explore_rng.binomial(n - len(covering), self.explore))
                exploring = self._explore_rng.permutation(rest)[:k]
                rest = np.setdiff1d(rest, exploring)
            balancing = self._balanced(X, priority, n - len(covering) - len(exploring), rest,
                                       apart)
            assert balancing is not None  # every candidate's separation is decided
        costs = held.batch.costs.tolist()
        out, spent = [], []
        for reason, picked in (("coverage", covering), ("explore", exploring),
                               ("balanced", balancing)):
            ranked = picked.tolist()
            bought = [ranked[n] for n in spent_in_order(budget, [costs[i] for i in ranked])]
            self.recent.add_many(X[bought])
            spent += bought
            out.append(selections_of(held.batch, bought, self.name, reason, priority[bought],
                                     groups[bought]))
        self._bought_at.extend([self._seq] * len(spent))
        self._held = self._kept(held, spent)
        return Selections.joined(out)

    def _kept(self, held: HeldCandidates | None, bought: list[int]) -> HeldCandidates | None:
        """The candidates of ``held`` not bought and still in the window."""
        if held is None:
            return None
        keep = held.seq >= self._window_start()
        keep[bought] = False
        return held.subset(np.flatnonzero(keep)) if keep.any() else None

    def _cost_factor(self, X: np.ndarray) -> np.ndarray:
        """Behind :class:`~stream_al.select.cost_aware.CostAware`, its factor per row (gain per
        unit of cost); 1 without it. Informativeness carries it already; coverage needs it."""
        factor_many = getattr(self.rescorer, "cost_factor_many", None)
        return np.ones(len(X)) if factor_many is None else factor_many(X)

    def _text_boost(self, batch: ScoredBatch) -> np.ndarray:
        """1 + text_weight x the mean of the text signals the batch carries (1 without)."""
        columns = [batch.scores[name] for name in TEXT_SCORERS if name in batch.scores]
        if self.text_weight <= 0 or not columns:
            return np.ones(len(batch), dtype=np.float32)
        return 1.0 + self.text_weight * np.mean(columns, axis=0)

    def _balanced(self, X: np.ndarray, priority: np.ndarray, n: int, rows: np.ndarray,
                  apart: ApartFromRows) -> np.ndarray | None:
        """Rows of ``X`` among ``rows`` and ``apart`` from the recent purchases:
        class-balancing quotas over the predicted classes, the most informative within each
        class, none within ``min_separation`` of another. With ``apart`` not yet decided,
        the separation of each class's leading candidates only (:func:`_leaders_apart`); None
        if that cannot decide as every candidate's would (the caller decides them all)."""
        if n <= 0 or not len(rows):
            return np.zeros(0, dtype=np.int64)
        lazy = not apart.decided
        if self.quotas:
            predicted = np.zeros(len(X), dtype=np.int64)
            predicted[rows], sure = self._classes(X[rows])
            if lazy and not sure:
                return None
            bought = self._predicted_recent()
            k = int(max(predicted[rows].max(initial=0), bought.max(initial=0))) + 1
            quota = balancing_quotas(n, np.bincount(bought, minlength=k),
                                     np.bincount(predicted[rows], minlength=k))
        else:
            predicted, quota = np.zeros(len(X), dtype=np.int64), np.array([n])
        ranked = ({c: self._ranked(rows, predicted, priority, c)
                   for c in np.unique(predicted[rows]).tolist()} if lazy else {})
        if lazy and not _leaders_apart(ranked, quota, apart):
            return None
        picked: list[int] = []
        taken = np.empty((min(int(quota.sum()), len(rows)), X.shape[1]), dtype=X.dtype)
        for c in np.flatnonzero(quota).tolist():
            ranking = ranked[c] if lazy else self._ranked(rows, predicted, priority, c)
            before = len(picked)
            order = ranking[apart.known[ranking]]  # lazily: the leading candidates decided
            chosen = picked_apart(X, order[apart.of(order)].tolist(), int(quota[c]), taken,
                                  before, self.min_separation)
            if len(chosen) < quota[c] and not apart.known[ranking].all():
                chosen = picked_apart(X, ranking[apart.of(ranking)].tolist(), int(quota[c]),
                                      taken, before, self.min_separation)
            picked += chosen
        return np.asarray(picked, dtype=np.int64)

    def _ranked(self, rows: np.ndarray, predicted: np.ndarray, priority: np.ndarray,
                c: int) -> np.ndarray:
        """The candidates of ``rows`` predicted ``c``, best first (ties: earlier first)."""
        members = rows[np.flatnonzero(predicted[rows] == c)]
        if self.sampling == "proportional":  # Efraimidis-Spirakis keys: draws ∝ priority
            keys = (np.log(self._explore_rng.random(len(members)))
                    / np.maximum(priority[members], 1e-12))
        else:
            keys = priority[members]
        return members[np.argsort(-keys, kind="stable")]

    def _predicted_recent(self) -> np.ndarray:
        """:meth:`_predicted` of the recent purchases (ring order), new ones only per model."""
        snapshot, recent = getattr(self.rescorer, "snapshot", None), self.recent
        cached = self._bought_classes
        if cached is None or cached[0] is not snapshot:
            classes = self._predicted(recent.X)
        else:
            classes = np.zeros(len(recent.X), dtype=np.int64)
            classes[: len(cached[2])] = cached[2]
            slots = recent.slots_since(cached[1])
            if len(slots):
                classes[slots] = self._predicted(recent.X[slots])
        self._bought_classes = (snapshot, recent.count, classes)
        return classes

    def _classes(self, X: np.ndarray) -> tuple[np.ndarray, bool]:
        """:meth:`_predicted`, and whether each row's class would be the same in a product
        of other rows: its top logit leads the next by more than two float32 evaluations of
        them can differ (the bound of :func:`~stream_al.select.separation.picked_apart`)."""
        snapshot = getattr(self.rescorer, "snapshot", None)
        if snapshot is None or not len(X) or len(snapshot.classes) < 2:
            return np.zeros(len(X), dtype=np.int64), True
        logits = snapshot.logits_many(X)
        top = np.partition(logits, -2, axis=1)[:, -2:]
        d = X.shape[1]
        gamma = d * UNIT_ROUNDOFF / (1.0 - d * UNIT_ROUNDOFF)
        norm = float(np.sqrt(np.einsum("ij,ij->i", X, X).max()))
        weight = float(np.sqrt(np.einsum("ij,ij->i", snapshot.weights, snapshot.weights)).max())
        slack = (4.0 * gamma * norm * weight + 8.0 * UNIT_ROUNDOFF * float(np.abs(logits).max())
                 + ROUNDING_SLACK)
        # NaN anywhere: not sure
        return logits.argmax(axis=1).astype(np.int64), bool((top[:, 1] - top[:, 0] > slack).all())

    def _predicted(self, X: np.ndarray) -> np.ndarray:
        """The current model's class index of each row (all 0 without a model to ask)."""
        snapshot = getattr(self.rescorer, "snapshot", None)
        if snapshot is None or not len(X) or len(snapshot.classes) < 2:
            return np.zeros(len(X), dtype=np.int64)
        return snapshot.logits_many(X).argmax(axis=1).astype(np.int64)


def _leaders_apart(ranked: dict[int, np.ndarray], quota: np.ndarray,
                   apart: ApartFromRows) -> bool:
    """Decide the separation of each class's leading candidates (``ranked``: each class's
    candidates, best first) until the class has one more apart than its ``quota``, or has no
    more; True if then the quotas are those every candidate's separation would give.

    The quotas (:func:`~stream_al.select.class_balance.balancing_quotas`) read how many
    candidates each class has only to drop a class that has no more: counted over all
    candidates they are the same as over those apart if each class has more apart than its
    quota (or all of its candidates apart)."""
    want = {c: int(quota[c]) + 1 if c < len(quota) else 1 for c in ranked}
    found = dict.fromkeys(ranked, 0)
    asked = dict.fromkeys(ranked, 0)
    while True:
        ask = {c: min(want[c] - found[c], len(order) - asked[c])
               for c, order in ranked.items()}
        ask = {c: k for c, k in ask.items() if k > 0}
        if not ask:
            break
        rows = [ranked[c][asked[c] : asked[c] + k] for c, k in ask.items()]
        answers = np.split(apart.of(np.concatenate(rows)), np.cumsum([len(r) for r in rows]))
        for (c, k), answer in zip(ask.items(), answers, strict=False):
            asked[c] += k
            found[c] += int(answer.sum())
    return all(found[c] >= want[c] or found[c] == len(order) for c, order in ranked.items())
