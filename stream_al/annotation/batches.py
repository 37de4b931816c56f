"""Annotator batches: similar items together, every region of the space in some batch, and
a deadline after which unanswered items are offered again or their budget released.

:func:`make_batches` grows each batch around a seed item: the seed is the item farthest from
every earlier seed (farthest-point traversal), and the batch takes the seed's
``batch_size - 1`` nearest unassigned items. An annotator then reads about one topic per
batch. Every selected item is in exactly one batch (grouping never drops a region the selector
covered), and batches are handed out in an order that spreads over the space
(:func:`spread_order`), so the first few already cover the selection's clusters.

:class:`BatchTracker` remembers offered batches; :meth:`BatchTracker.expire` returns the items
whose labels are missing at their deadline, split into those to offer again and those to
give up on (their cost goes back to the budget).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_al.select.base import Selection


@dataclass
class AnnotationBatch:
    batch_id: str
    items: list[Selection]
    created_at: float
    deadline: float

    def __len__(self) -> int:
        return len(self.items)


def make_batches(selections: Sequence[Selection], batch_size: int, now: float,
                 deadline_s: float, seed: int = 0) -> list[AnnotationBatch]:
    """Group ``selections`` (which must carry embeddings) into neighbourhood batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not selections:
        return []
    missing = [s.item_id for s in selections if s.embedding is None]
    if missing:
        raise ValueError(f"{len(missing)} selections have no embedding (e.g. {missing[0]}); "
                         "batches group items by embedding")
    X = np.stack([np.asarray(s.embedding, dtype=np.float32) for s in selections])
    groups = neighbourhoods(X, batch_size, seed)
    rng = np.random.default_rng(seed)
    out = []
    for g in groups:
        batch_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        out.append(AnnotationBatch(batch_id, [selections[i] for i in g], now, now + deadline_s))
    return out


def neighbourhoods(X: np.ndarray, size: int, seed: int = 0) -> list[list[int]]:
    """Partition the rows of unit vectors ``X`` into ceil(n / size) groups of ``size``
    (the last may be smaller), each a seed and its nearest unassigned rows."""
    n = len(X)
    free = np.ones(n, dtype=bool)
    sims = X @ X.T
    # the first seed: the most typical row (highest mean similarity), so batch 1 is a real
    # topic; after that, the row least similar to every seed so far
    nearest_seed = np.full(n, -np.inf)
    seed_row = int(np.argmax(sims.mean(axis=1)))
    groups = []
    for _ in range(math.ceil(n / size)):
        candidates = np.flatnonzero(free)
        order = candidates[np.argsort(-sims[seed_row, candidates], kind="stable")]
        group = order[:size]
        free[group] = False
        groups.append(group.tolist())
        nearest_seed = np.maximum(nearest_seed, sims[seed_row])
        if not free.any():
            break
        left = np.flatnonzero(free)
        seed_row = int(left[np.argmin(nearest_seed[left])])
    return spread_order(X, groups)


def spread_order(X: np.ndarray, groups: list[list[int]]) -> list[list[int]]:
    """Groups reordered by farthest-point traversal of their centroids, from the most typical:
    each next batch is the one least like every batch before it, so the first few batches
    already span the space (annotators who stop early still saw every region)."""
    C = np.stack([X[g].mean(axis=0) for g in groups])
    C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    S = C @ C.T
    order = [int(np.argmax(S.mean(axis=1)))]
    nearest = S[order[0]].copy()
    while len(order) < len(groups):
        nearest[order] = np.inf
        order.append(int(np.argmin(nearest)))
        nearest = np.maximum(nearest, S[order[-1]])
    return [groups[i] for i in order]


@dataclass
class Offered:
    """An item out with annotators: how many labels it needs, who answered, how often offered."""

    selection: Selection
    batch_id: str
    deadline: float
    needed: int = 1
    answered: set[str] = field(default_factory=set)
    offers: int = 1


@dataclass
class Expired:
    reoffer: list[Offered]
    release: list[Offered]
    """Given up on: release ``budget_share(o)`` of each from the budget."""


class BatchTracker:
    """Batches out with annotators, until their labels are back or their deadline passes.

    >>> from stream_al.select.base import Selection
    >>> tracker = BatchTracker(max_offers=1)
    >>> batch = AnnotationBatch("b1", [Selection("x", "random", "random", 1.0, cost=2.0)], 0, 60)
    >>> tracker.offer(batch)
    >>> tracker.expire(now=61).release[0].selection.item_id
    'x'
    """

    def __init__(self, max_offers: int = 2) -> None:
        if max_offers < 1:
            raise ValueError(f"max_offers must be >= 1, got {max_offers}")
        self.max_offers = max_offers
        self.out: dict[str, Offered] = {}

    def offer(self, batch: AnnotationBatch, needed: dict[str, int] | None = None) -> None:
        """Record ``batch`` as sent; ``needed`` maps item ids to labels wanted (default 1).
        An item already out (a re-offer) keeps its answers and counts one more offer."""
        for s in batch.items:
            prior = self.out.get(s.item_id)
            k = (needed or {}).get(s.item_id, prior.needed if prior else 1)
            if prior is None:
                self.out[s.item_id] = Offered(s, batch.batch_id, batch.deadline, k)
            else:
                prior.batch_id, prior.deadline, prior.needed = batch.batch_id, batch.deadline, k
                prior.offers += 1

    def labelled(self, item_id: str, annotator_id: str) -> bool:
        """A label arrived; True when the item now has all it needs (and is no longer out)."""
        o = self.out.get(item_id)
        if o is None:
            return False
        o.answered.add(annotator_id)
        if len(o.answered) >= o.needed:
            del self.out[item_id]
            return True
        return False

    def labelled_many(self, pairs: Iterable[tuple[str, str]]) -> list[str]:
        return [item for item, annotator in pairs if self.labelled(item, annotator)]

    def expire(self, now: float) -> Expired:
        """Items past their deadline without all their labels: offered fewer than
        ``max_offers`` times go to ``reoffer`` (still tracked; put them in a new batch),
        the rest to ``release`` (forgotten here)."""
        late = [o for o in self.out.values() if o.deadline < now]
        reoffer = [o for o in late if o.offers < self.max_offers]
        release = [o for o in late if o.offers >= self.max_offers]
        for o in release:
            del self.out[o.selection.item_id]
        return Expired(reoffer, release)


def budget_share(offered: Offered) -> float:
    """The part of an item's cost whose labels never came (cost was charged for ``needed``)."""
    missing = max(0, offered.needed - len(offered.answered))
    return offered.selection.cost * missing / offered.needed
