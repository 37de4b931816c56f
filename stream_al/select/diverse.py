"""Reservoir-style diverse selection: weighted reservoirs per cluster, batches that cover space.

Each arriving item joins the reservoir of its cluster (an online mini-batch k-means over the
embeddings) by Efraimidis-Spirakis A-Res: key = u^(1/w), w its informativeness, the ``size``
largest keys kept. Once the budget accrued buys one label per class the model knows (at least
2, at most half the clusters: a batch that can cover the classes, and early batches small
enough for the first labels to come soon), or every ``batch_interval`` items at the latest,
the accrued budget is spent on one batch: slots go to clusters in proportion to (items seen) x (mean informativeness), items are
re-scored with the current model, and within a cluster the most informative are taken while
skipping near-duplicates of anything already picked (greedy coverage). Reservoirs are then
emptied, so memory stays at most ``max_clusters * size`` items.

The reservoirs are kept as arrays (:class:`HeldCandidates`, which :mod:`stream_al.select.balanced`
holds too): a batch is offered in one vectorised pass (keys, clusters, then the ``size`` largest
keys per cluster, earlier items first on ties, as a heap per cluster would keep them), and
only the items bought become picks (:class:`~stream_al.select.selections.Selections`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Informativeness, informativeness
from stream_al.select.budget import spent_in_order
from stream_al.select.seeding import kmeans_plusplus
from stream_al.select.selections import Selections, selections_of
from stream_al.select.separation import picked_apart

MIN_BATCH_LABELS = 2


@dataclass
class HeldCandidates:
    """Reservoir candidates as rows: the batch columns a :class:`Selection` needs, plus the
    A-Res key, the cluster, the informativeness at arrival and the arrival order."""

    batch: ScoredBatch
    keys: np.ndarray
    clusters: np.ndarray
    weights: np.ndarray
    seq: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def joined(self, other: HeldCandidates) -> HeldCandidates:
        a, b = self.batch, other.batch
        batch = ScoredBatch(
            ids=a.ids + b.ids,
            X=np.concatenate([a.X, b.X]),
            scores={k: np.concatenate([a.scores[k], b.scores[k]]) for k in a.scores
                    if k in b.scores},
            model_version=b.model_version,
            costs=np.concatenate([a.costs, b.costs]),
            weights=np.concatenate([a.row_weights(), b.row_weights()]),
        )
        return HeldCandidates(batch, *(np.concatenate([x, y]) for x, y in zip(
            (self.keys, self.clusters, self.weights, self.seq),
            (other.keys, other.clusters, other.weights, other.seq), strict=True)))

    def top_per_cluster(self, size: int) -> HeldCandidates:
        """The ``size`` largest keys of each cluster (earlier first on ties), grouped by cluster."""
        order = np.lexsort((self.seq, -self.keys, self.clusters))
        clusters = self.clusters[order]
        starts = np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1]])
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        keep = order[rank < size]
        return self.subset(keep)

    def subset(self, idx: np.ndarray) -> HeldCandidates:
        return HeldCandidates(self.batch.subset(idx), self.keys[idx], self.clusters[idx],
                     self.weights[idx], self.seq[idx])


class OnlineClusters:
    """Mini-batch k-means (Sculley 2010) fed by the stream, in numpy: k-means++ seeds the
    centres from the first ``4 * max_clusters`` items; after that one distance product per batch
    assigns its items and each centre moves to the running mean of the items it was given
    (batches of fewer than ``max_clusters`` items move them together, once that many came).
    Items before the first fit all go to cluster 0.

    (scikit-learn's ``MiniBatchKMeans`` does the same maths, but its input validation and
    thread-pool set-up per call cost more than the maths on batches of a few hundred items;
    the seeding is scikit-learn's k-means++ too, with its distances computed once:
    :mod:`stream_al.select.seeding`.)
    """

    def __init__(self, max_clusters: int, seed: int = 0) -> None:
        self.k = max_clusters
        self.seed = seed
        self.centres: np.ndarray | None = None
        self._counts = np.zeros(max_clusters, dtype=np.float64)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0.0  # stream texts the buffer stands for
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        """Rows assigned since the last update, with their clusters: the centres move once
        ``max_clusters`` rows have come (at once for a batch that large)."""

    @property
    def fitted(self) -> bool:
        return self.centres is not None

    @property
    def counts(self) -> np.ndarray:
        """Items each centre has learned from (zeros before the first fit)."""
        return self._counts

    def assign_many(self, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Clusters of the rows of ``X`` (nearest centre), then the centres learn from them.
        ``weights``: stream texts each row stands for (pre-selected candidates): the seeding
        waits for ``4 * max_clusters`` stream texts (and at least ``max_clusters`` rows), not
        for that many candidates."""
        if self.centres is None:
            self._buffer.append(X)
            self._buffered += len(X) if weights is None else float(np.sum(weights))
            pooled = np.vstack(self._buffer)
            if len(pooled) < self.k or self._buffered < 4 * self.k:
                return np.zeros(len(X), dtype=np.int64)
            self._buffer = []
            self.centres, _ = kmeans_plusplus(pooled, self.k, self.seed)
            self._update(pooled, self.assign_only(pooled))
            return self.assign_only(X)
        clusters = self.assign_only(X)
        self._pending.append((np.asarray(X, dtype=np.float32), clusters))
        # small batches wait for each other (a simulator's chunks of 50): the centres learn
        # from every item, whatever the batch size
        if sum(len(x) for x, _ in self._pending) >= self.k:
            rows, given = self._pending[0] if len(self._pending) == 1 else (  # no copy
                np.vstack([x for x, _ in self._pending]),
                np.concatenate([c for _, c in self._pending]))
            self._pending = []
            self._update(rows, given)
        return clusters

    def _update(self, X: np.ndarray, clusters: np.ndarray) -> None:
        """Each centre becomes the mean of every item it was given so far."""
        assert self.centres is not None
        counts = np.bincount(clusters, minlength=self.k)
        given = counts.astype(np.float64)
        indptr = np.zeros(self.k + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        members = csr_matrix(  # one sparse product (np.add.at: 15x); rows in item order
            (np.ones(len(X), dtype=np.float32), np.argsort(clusters, kind="stable"), indptr),
            shape=(self.k, len(X)))
        sums = (members @ np.asarray(X, dtype=np.float32)).astype(np.float64)
        moved = given > 0
        total = self._counts[moved] + given[moved]
        self.centres[moved] = (
            self.centres[moved] * (self._counts[moved] / total)[:, None]
            + sums[moved] / total[:, None]
        )
        self._counts += given

    def typicality_many(self, X: np.ndarray, clusters: np.ndarray) -> np.ndarray:
        """Cosine similarity of each row to its cluster's centre (1 before the first fit)."""
        if self.centres is None:
            return np.ones(len(X), dtype=np.float32)
        unit = self.centres / np.maximum(np.linalg.norm(self.centres, axis=1, keepdims=True), 1e-12)
        return np.clip((X * unit[clusters]).sum(axis=1), 0.0, 1.0).astype(np.float32)

    def assign_only(self, X: np.ndarray) -> np.ndarray:
        """The nearest centre of each row (0 before the first fit); the centres do not move."""
        if self.centres is None:
            return np.zeros(len(X), dtype=np.int64)
        C = self.centres.astype(np.float32)
        distance = (C * C).sum(axis=1) - 2.0 * (np.asarray(X, dtype=np.float32) @ C.T)
        return distance.argmin(axis=1).astype(np.int64)


class DiverseReservoir:
    name = "diverse"

    def __init__(self, rescorer: Informativeness, kind: str = "margin", max_clusters: int = 64,
                 size: int = 32, batch_interval: int = 200, novelty_weight: float = 0.5,
                 min_separation: float = 0.05, density_weight: float = 0.0,
                 seed: int = 0) -> None:
        self.rescorer = rescorer
        self.kind = kind
        self.size = size
        self.batch_interval = batch_interval
        self.novelty_weight = novelty_weight
        self.min_separation = min_separation
        self.density_weight = density_weight
        self.clusters = OnlineClusters(max_clusters, seed)
        self._rng = np.random.default_rng(seed)
        self._held: HeldCandidates | None = None
        self._mass = np.zeros(max_clusters)  # stream items offered per cluster (pre-selected
        # candidates count for the texts they stand for)
        self._since_emit = 0
        self._seq = 0
        self._unit_cost = 1.0  # running mean cost of an item, to count the allowance in labels

    @property
    def reads_novelty(self) -> bool:
        return self.novelty_weight > 0

    @property
    def fill(self) -> int:
        return 0 if self._held is None else len(self._held)

    @property
    def capacity(self) -> int:
        return self.clusters.k * self.size

    @property
    def held_clusters(self) -> int:
        """Clusters whose reservoir holds candidates now."""
        return 0 if self._held is None else len(np.unique(self._held.clusters))

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        if len(batch):
            self._offer(batch)
        self._since_emit += batch.represents
        if len(batch):
            self._unit_cost += 0.05 * (float(np.mean(batch.costs)) - self._unit_cost)
        if self._since_emit < self.batch_interval and not self._enough_for_a_batch(budget):
            return Selections.none()
        self._since_emit = 0
        return self._emit(budget)

    def batch_labels(self) -> int | None:
        """Labels one batch should hold: one per class the rescoring model knows, at least 2
        and at most half the clusters; None if the rescorer does not say (then every
        ``batch_interval`` items)."""
        classes = getattr(self.rescorer, "n_classes", None)
        if classes is None:
            return None
        return int(np.clip(classes, MIN_BATCH_LABELS, max(MIN_BATCH_LABELS, self.clusters.k // 2)))

    def _enough_for_a_batch(self, budget: BudgetLike) -> bool:
        labels = self.batch_labels()
        return labels is not None and budget.allowance >= labels * self._unit_cost - 1e-9

    def flush(self, budget: BudgetLike) -> Selections:
        """Emit a batch now (end of stream, or an operator asking for one)."""
        self._since_emit = 0
        return self._emit(budget)

    def _offer(self, batch: ScoredBatch) -> None:
        w = np.maximum(informativeness(batch, self.kind, self.novelty_weight), 1e-6)
        keys = np.log(self._rng.random(len(batch)) + 1e-300) / w  # log of u ** (1 / w)
        clusters = self.clusters.assign_many(batch.X, batch.weights)
        self._mass += np.bincount(clusters, weights=batch.row_weights(), minlength=len(self._mass))
        seq = np.arange(self._seq, self._seq + len(batch), dtype=np.int64)
        self._seq += len(batch)
        offered = HeldCandidates(batch, keys.astype(np.float64), clusters, w, seq)
        held = offered if self._held is None else self._held.joined(offered)
        self._held = held.top_per_cluster(self.size)

    def _emit(self, budget: BudgetLike) -> Selections:
        held, mass, self._held = self._held, self._mass, None
        self._mass = np.zeros_like(mass)
        if held is None or not len(held) or budget.allowance < 1.0 - 1e-9:
            return Selections.none()
        X, groups = held.batch.X, held.clusters
        fresh = self.rescorer.informativeness_many(X)
        if self.density_weight > 0:  # information density: prefer typical over outlying items
            fresh = fresh * self.clusters.typicality_many(X, groups) ** self.density_weight
        slots = _allocate(int(math.floor(budget.allowance + 1e-9)), groups, fresh, mass)
        picked = self._covering(X, groups, fresh, slots)
        costs = held.batch.costs.tolist()
        ranked = sorted(picked, key=lambda i: (groups[i], -fresh[i]))  # similar items together
        bought = [ranked[n] for n in spent_in_order(budget, [costs[i] for i in ranked])]
        return selections_of(held.batch, bought, self.name, "diverse", fresh[bought],
                             groups[bought])

    def _covering(self, X: np.ndarray, groups: np.ndarray, fresh: np.ndarray,
                  slots: dict[int, int]) -> list[int]:
        """Cluster by cluster (most slots first), its most informative items that are at least
        ``min_separation`` (cosine distance) from every item picked before."""
        picked: list[int] = []
        taken = np.empty((sum(slots.values()), X.shape[1]), dtype=X.dtype)
        for c in sorted(slots, key=lambda c: -slots[c]):
            members = np.flatnonzero(groups == c)
            picked += picked_apart(X, members[np.argsort(-fresh[members], kind="stable")].tolist(),
                                   slots[c], taken, len(picked), self.min_separation)
        return picked

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        return None


def _allocate(n_slots: int, groups: np.ndarray, fresh: np.ndarray,
              mass: np.ndarray) -> dict[int, int]:
    """Largest-remainder split of ``n_slots`` by cluster mass (items offered to each cluster,
    at least 1) x mean informativeness."""
    clusters, where, available = np.unique(groups, return_inverse=True, return_counts=True)
    mean_fresh = np.bincount(where, weights=fresh, minlength=len(clusters)) / available
    weight = np.maximum(mass[clusters], 1) * mean_fresh
    n_slots = min(n_slots, int(available.sum()))
    if weight.sum() <= 0:
        weight = available.astype(float)
    share = weight / weight.sum() * n_slots
    slots = np.minimum(np.floor(share).astype(int), available)
    given = int(slots.sum())
    for j in np.argsort(-(share - np.floor(share)), kind="stable").tolist():  # remainders
        if given >= n_slots:
            break
        if slots[j] < available[j]:
            slots[j] += 1
            given += 1
    while given < n_slots:  # clusters with spare candidates absorb what is left
        room = np.flatnonzero(slots < available)
        slots[room[np.argmax(weight[room])]] += 1
        given += 1
    return {int(c): int(s) for c, s in zip(clusters.tolist(), slots, strict=True) if s > 0}
