"""Reservoir-style diverse selection: weighted reservoirs per cluster, batches that cover space.

Each arriving item joins the reservoir of its cluster (an online mini-batch k-means over the
embeddings) by Efraimidis-Spirakis A-Res: key = u^(1/w), w its informativeness, the ``size``
largest keys kept. Every ``batch_interval`` items the budget accrued meanwhile is spent on one
batch: slots go to clusters in proportion to (items seen) x (mean informativeness), items are
re-scored with the current model, and within a cluster the most informative are taken while
skipping near-duplicates of anything already picked (greedy coverage). Reservoirs are then
emptied, so memory stays at most ``max_clusters * size`` items.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import (
    BudgetLike,
    Informativeness,
    Selection,
    informativeness,
    selection_of,
)


@dataclass(order=True)
class _Entry:
    key: float
    seq: int
    selection: Selection = field(compare=False)
    x: np.ndarray = field(compare=False)


class OnlineClusters:
    """Mini-batch k-means fed by the stream; items before the first fit all go to cluster 0."""

    def __init__(self, max_clusters: int, seed: int = 0) -> None:
        self.k = max_clusters
        self._km = MiniBatchKMeans(n_clusters=max_clusters, random_state=seed, n_init=1,
                                   batch_size=max(256, 4 * max_clusters))
        self._buffer: list[np.ndarray] = []
        self.fitted = False

    def assign_many(self, X: np.ndarray) -> np.ndarray:
        if not self.fitted:
            self._buffer.append(X)
            pooled = np.vstack(self._buffer)
            if len(pooled) < 4 * self.k:
                return np.zeros(len(X), dtype=np.int64)
            self._km.partial_fit(pooled)
            self._buffer, self.fitted = [], True
        else:
            self._km.partial_fit(X) if len(X) >= self.k else None
        return self._km.predict(X).astype(np.int64)

    def typicality_many(self, X: np.ndarray, clusters: np.ndarray) -> np.ndarray:
        """Cosine similarity of each row to its cluster's centre (1 before the first fit)."""
        if not self.fitted:
            return np.ones(len(X), dtype=np.float32)
        centres = self._km.cluster_centers_[clusters]
        centres = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        return np.clip((X * centres).sum(axis=1), 0.0, 1.0).astype(np.float32)

    def assign_only(self, X: np.ndarray) -> np.ndarray:
        if not self.fitted:
            return np.zeros(len(X), dtype=np.int64)
        return self._km.predict(X).astype(np.int64)


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
        self._reservoirs: dict[int, list[_Entry]] = {}
        self._mass: dict[int, int] = {}
        self._since_emit = 0
        self._seq = 0

    @property
    def fill(self) -> int:
        return sum(len(r) for r in self._reservoirs.values())

    @property
    def capacity(self) -> int:
        return self.clusters.k * self.size

    @property
    def held_clusters(self) -> int:
        """Clusters whose reservoir holds candidates now."""
        return sum(1 for reservoir in self._reservoirs.values() if reservoir)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> list[Selection]:
        if len(batch):
            self._offer(batch)
        self._since_emit += len(batch)
        if self._since_emit < self.batch_interval:
            return []
        self._since_emit = 0
        return self._emit(budget)

    def flush(self, budget: BudgetLike) -> list[Selection]:
        """Emit a batch now (end of stream, or an operator asking for one)."""
        self._since_emit = 0
        return self._emit(budget)

    def _offer(self, batch: ScoredBatch) -> None:
        w = np.maximum(informativeness(batch, self.kind, self.novelty_weight), 1e-6)
        keys = np.log(self._rng.random(len(batch)) + 1e-300) / w  # log of u ** (1 / w)
        for i, c in enumerate(self.clusters.assign_many(batch.X).tolist()):
            self._mass[c] = self._mass.get(c, 0) + 1
            entry = _Entry(float(keys[i]), self._seq, selection_of(batch, i, self.name,
                                                                   "diverse", w[i], c), batch.X[i])
            self._seq += 1
            heap = self._reservoirs.setdefault(c, [])
            if len(heap) < self.size:
                heapq.heappush(heap, entry)
            elif entry.key > heap[0].key:
                heapq.heapreplace(heap, entry)

    def _emit(self, budget: BudgetLike) -> list[Selection]:
        entries = [e for heap in self._reservoirs.values() for e in heap]
        mass, self._reservoirs, self._mass = self._mass, {}, {}
        if not entries or budget.allowance < 1.0 - 1e-9:
            return []
        X = np.stack([e.x for e in entries])
        groups = np.array([e.selection.group for e in entries])
        fresh = self.rescorer.informativeness_many(X)
        if self.density_weight > 0:  # information density: prefer typical over outlying items
            fresh = fresh * self.clusters.typicality_many(X, groups) ** self.density_weight
        slots = _allocate(int(math.floor(budget.allowance + 1e-9)), groups, fresh, mass)
        picked: list[int] = []
        for c in sorted(slots, key=lambda c: -slots[c]):
            members = np.flatnonzero(groups == c)
            for i in members[np.argsort(-fresh[members], kind="stable")]:
                if slots[c] == 0:
                    break
                if self._separated(X, i, picked):
                    picked.append(int(i))
                    slots[c] -= 1
        out = []
        for i in sorted(picked, key=lambda i: (groups[i], -fresh[i])):  # similar items together
            sel = entries[i].selection
            if not budget.can_spend(sel.cost):
                continue
            budget.spend(sel.cost)
            out.append(replace(sel, priority=float(fresh[i])))
        return out

    def _separated(self, X: np.ndarray, i: int, picked: list[int]) -> bool:
        if not picked:
            return True
        return float((1.0 - X[picked] @ X[i]).min()) >= self.min_separation

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float]) -> None:
        return None


def _allocate(n_slots: int, groups: np.ndarray, fresh: np.ndarray,
              mass: dict[int, int]) -> dict[int, int]:
    """Largest-remainder split of ``n_slots`` by cluster mass x mean informativeness."""
    clusters = sorted(set(groups.tolist()))
    weight = np.array([mass.get(c, 1) * float(fresh[groups == c].mean()) for c in clusters])
    available = np.array([int((groups == c).sum()) for c in clusters])
    n_slots = min(n_slots, int(available.sum()))
    if weight.sum() <= 0:
        weight = available.astype(float)
    share = weight / weight.sum() * n_slots
    slots = np.minimum(np.floor(share).astype(int), available)
    for j in np.argsort(-(share - np.floor(share)), kind="stable"):  # remainders, then spill
        if slots.sum() >= n_slots:
            break
        if slots[j] < available[j]:
            slots[j] += 1
    while slots.sum() < n_slots:  # clusters with spare candidates absorb what is left
        room = np.flatnonzero(slots < available)
        slots[room[np.argmax(weight[room])]] += 1
    return {c: int(s) for c, s in zip(clusters, slots, strict=True) if s > 0}
