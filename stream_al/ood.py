"""Out-of-distribution signal: how far an item is from everything labelled so far.

:class:`OODDetector` keeps the labelled embeddings twice, capped: as exact rows and in an hnswlib
graph (:class:`~stream_al.index.ann.BoundedIndex`), and, for each labelled item, its exact
leave-one-out nearest-neighbour distance (to the *other* labelled items).

Stream items are checked in two passes. The graph, searched with a small ``ef``, finds *a*
labelled neighbour: its distance is at least the nearest one's, so an item it finds within the
threshold is in distribution for sure. Only the items it leaves over the threshold (the OOD
ones and the graph's misses, ~10% at ef=16) are measured exactly against the rows. The flags
are then exactly those of a brute-force search, at 40% of its cost on 10,000 labelled SST-2
items (18 us a row in all, against 43 us brute force); the graph alone at ef=64 took 39 us and
its flags differed from the exact ones on 1.35% of items, a quarter of the ones it flagged.

The threshold is a high quantile (``ood.quantile``) of the distances from a random sample of
the stream itself to the labelled set (:class:`StreamReference`: ``ood.reference_items`` items,
uniform over the stream so far, then over about its last ``ood.reference_horizon`` items), so an
item of the stream is flagged with probability ``1 - quantile`` however the labels were picked,
and the threshold tightens as labels cover the space. The labelled items' own leave-one-out
distances would do only for labels bought at random: a strategy that spreads its labels out
(coverage, farthest-first) makes them farther from each other than the stream is from them, and
raised that threshold so far that a new domain went unflagged. They stand in until the sample
holds ``REFERENCE_MIN`` measured items (a detector restored from labels alone). A new domain is
flagged until labels cover it or it makes up ``1 - quantile`` of the sample.

:class:`~stream_al.select.ood_cap.OODSelector` turns the signal into a selection reason of its
own, ``"ood"``, capped so that OOD items never take more than ``max_share`` of the budget
(garbage cannot eat it), and only while the signal is real (:class:`FlagRate`): by construction
``1 - quantile`` of a stationary stream is flagged, its ordinary outliers, and buying those
cost ``balanced`` 1-3 points on banking77 (benchmarks/README.md); a new domain raises the share.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist

import numpy as np

from stream_al.config import OODSettings
from stream_al.index.ann import BoundedIndex, nearest_distance

SEARCH_EF = 16
"""hnswlib's search breadth in the first pass (see the module's docstring)."""
REFERENCE_MIN = 100
"""Sampled stream items with a measured distance before they, not the labelled items' own
leave-one-out distances, calibrate the threshold."""
MEASURED_NEIGHBOURS = 4
"""Labelled neighbours a sampled stream item is measured against (the item itself may be
labelled, perhaps more than once)."""
SAME_ITEM = 1e-5
"""Cosine distance under which a labelled vector is the sampled item itself (or an identical
text): the sampled item's distance is then to the other labelled items, as leave-one-out."""


class StreamReference:
    """A random sample of stream items and each one's distance to the nearest labelled item.

    Reservoir sampling: item ``n`` of the stream replaces a random slot with probability
    ``capacity / min(n, horizon)``, so the sample is uniform over the stream until ``horizon``
    items, and weights items by ``exp(-age / horizon)`` after. Distances only shrink as labels
    arrive, except that a labelled item evicted from the detector's rows is re-measured.

    >>> import numpy as np
    >>> ref = StreamReference(dim=2, capacity=3, horizon=10, seed=0)
    >>> ref.admit_many(np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32))
    True
    >>> ref.size, bool(np.isinf(ref.distances).all())  # nothing labelled yet
    (3, True)
    >>> ref.labelled_many(np.array([[1, 0]], dtype=np.float32), first_id=0)
    >>> ref.distances.round(3).tolist()  # the first item is the labelled one itself
    [inf, 1.0, 0.4]
    """

    def __init__(self, dim: int, capacity: int, horizon: int, seed: int = 0) -> None:
        self.capacity, self.horizon = capacity, horizon
        self._X = np.zeros((capacity, dim), dtype=np.float32)
        self._dist = np.full(capacity, np.inf)
        self._nearest = np.full(capacity, -1, dtype=np.int64)  # labelled id, -1: none
        self._rng = np.random.default_rng(seed)
        self.size = 0
        self.seen = 0

    @property
    def distances(self) -> np.ndarray:
        return self._dist[: self.size]

    def admit_many(self, X: np.ndarray, rows: BoundedIndex | None = None,
                   similarity: np.ndarray | None = None) -> bool:
        """Stream items (after they were checked): sampled, and measured against ``rows``.
        True if the sample changed. One draw per item past the first ``capacity``, made for
        the whole batch at once (no loop per item). ``similarity``: the items' cosine
        similarity to every exact row of ``rows`` (:meth:`BoundedIndex.similarities_many`),
        if the check computed it: the sampled ones are measured from it, not multiplied again."""
        n = len(X)
        fill = min(n, self.capacity - self.size)
        slots = dict(zip(range(self.size, self.size + fill), range(fill), strict=True))
        self.size += fill
        if n > fill:  # item k of the stream replaces a slot with chance capacity / min(k, horizon)
            k = self.seen + np.arange(fill + 1, n + 1)
            drawn = self._rng.random(n - fill) < self.capacity / np.minimum(k, self.horizon)
            taken = np.flatnonzero(drawn) + fill
            slots.update(zip(self._rng.integers(self.capacity, size=len(taken)).tolist(),
                             taken.tolist(), strict=True))  # a later row wins the slot
        self.seen += n
        if not slots:
            return False
        at = np.fromiter(slots, dtype=np.int64)
        self._X[at] = X[list(slots.values())]
        self._dist[at], self._nearest[at] = np.inf, -1
        if rows is not None and len(rows):
            taken = list(slots.values())
            self._measure(at, rows, None if similarity is None else similarity[taken])
        return True

    def labelled_many(self, X: np.ndarray, first_id: int) -> None:
        """Labelled vectors numbered ``first_id``, ``first_id + 1``, ...: the nearer ones win."""
        if not self.size or not len(X):
            return
        d = 1.0 - self._X[: self.size] @ np.asarray(X, dtype=np.float32).T
        d[d < SAME_ITEM] = np.inf
        j = d.argmin(axis=1)
        best = d[np.arange(self.size), j]
        closer = best < self._dist[: self.size]
        self._dist[: self.size][closer] = np.maximum(best[closer], 0.0)
        self._nearest[: self.size][closer] = first_id + j[closer]

    def evicted_before(self, oldest_kept: int, rows: BoundedIndex) -> None:
        """Labelled ids under ``oldest_kept`` are gone from ``rows``: re-measure their items."""
        stale = np.flatnonzero((self._nearest[: self.size] >= 0)
                               & (self._nearest[: self.size] < oldest_kept))
        if len(stale):
            self._measure(stale, rows)

    def _measure(self, at: np.ndarray, rows: BoundedIndex,
                 similarity: np.ndarray | None = None) -> None:
        """Each item's distance to the nearest labelled item that is not the item itself,
        among its ``MEASURED_NEIGHBOURS`` nearest (inf if all of those are the item itself).
        ``similarity``: the items' rows of :meth:`BoundedIndex.similarities_many`, if known."""
        k = min(MEASURED_NEIGHBOURS, len(rows))
        if rows.exact:
            distance = (rows.distances_many(self._X[at]) if similarity is None
                        else 1.0 - similarity)
            best, nearest = _nearest_other(distance, rows.exact_ids, k)
        else:
            ids, dist = rows.query_many(self._X[at], k=k)
            best, nearest = _nearest_other_of(ids, dist)
        self._dist[at] = np.maximum(best, 0.0)
        self._nearest[at] = nearest


def _nearest_other_of(ids: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a k-nearest answer: the nearest distance not under :data:`SAME_ITEM` (inf
    if none) and its labelled id (-1 if none)."""
    dist = np.where(dist < SAME_ITEM, np.inf, dist)
    j = dist.argmin(axis=1)
    rows = np.arange(len(dist))
    best = dist[rows, j]
    return best, np.where(np.isfinite(best), ids[rows, j], -1)


def _nearest_other(distance: np.ndarray, ids: np.ndarray, k: int,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_nearest_other_of` of the ``k`` nearest columns of ``distance`` (every labelled
    item), without selecting those ``k`` first: the ``k`` nearest hold every item under
    :data:`SAME_ITEM` (the smallest distances) and, unless there are ``k`` of those, the
    nearest other one. Where that nearest distance is tied, which of the tied ids the ``k``
    nearest name is up to ``np.argpartition``: those rows (rare) take the ``k``-nearest path
    itself, so the answer is the same in every case."""
    same = distance < SAME_ITEM
    other = np.where(same, np.inf, distance)
    j = other.argmin(axis=1)
    rows = np.arange(len(distance))
    best = other[rows, j]
    best[same.sum(axis=1) >= k] = np.inf
    nearest = np.where(np.isfinite(best), ids[j], -1)
    tied = np.flatnonzero(np.isfinite(best) & ((other == best[:, None]).sum(axis=1) > 1))
    if len(tied):  # as BoundedIndex.query_many selects and orders the k nearest
        d = distance[tied]
        cols = np.argpartition(d, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(d, cols, axis=1)
        order = np.argsort(near, axis=1, kind="stable")
        cols = np.take_along_axis(cols, order, axis=1)
        best[tied], nearest[tied] = _nearest_other_of(ids[cols],
                                                      np.take_along_axis(near, order, axis=1))
    return best, nearest


def quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (its default "linear" method) of finite float64 values, bit
    for bit: the two order statistics it interpolates between (one ``np.partition``) and
    numpy's own interpolation, without ``np.quantile``'s ~50 us of overhead per call (the
    threshold is recalibrated for every batch whose sample changed: per control record).

    >>> x = np.array([0.3, 0.1, 0.7, 0.2, 0.9])
    >>> quantile(x, 0.95) == float(np.quantile(x, 0.95))
    True
    """
    n = len(values)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(np.max(values))
    below = math.floor(virtual)
    low, high = np.partition(values, (below, below + 1))[below : below + 2].tolist()
    t = virtual - below
    diff = high - low
    return high - diff * (1 - t) if t >= 0.5 else low + diff * t


class FlagRate:
    """Whether the share of recent stream items flagged OOD is above the share a stationary
    stream has by construction (``base_rate = 1 - ood.quantile``): a new domain, not the
    stream's own outliers.

    One-sided test over the last ``window`` items: the Wilson score lower bound of the flagged
    share at ``confidence`` must exceed ``base_rate``. A whole batch of a new domain passes at
    once (25 of 25 flagged: the bound is 0.72 at 99.9%); a stationary window passes about once
    in ``1 / (1 - confidence)`` windows. ``confidence`` 0: no test (every flag counts).

    >>> rate = FlagRate(base_rate=0.05, window=500, confidence=0.999)
    >>> rate.add_many(np.arange(500) % 20 == 0); rate.exceeded  # 5%: the stream's outliers
    False
    >>> rate.add_many(np.ones(25, dtype=bool)); rate.exceeded  # a burst
    True
    """

    def __init__(self, base_rate: float, window: int, confidence: float) -> None:
        self.base_rate = base_rate
        self.confidence = confidence
        self._z = NormalDist().inv_cdf(confidence) if confidence > 0 else 0.0
        self._flags: deque[bool] = deque(maxlen=window)

    def add_many(self, flags: np.ndarray) -> None:
        self._flags.extend(np.asarray(flags, dtype=bool).tolist())

    @property
    def lower_bound(self) -> float:
        """Wilson score lower bound of the flagged share (0 with nothing counted)."""
        n = len(self._flags)
        if not n:
            return 0.0
        p, z2 = sum(self._flags) / n, self._z ** 2
        centre = p + z2 / (2 * n)
        spread = self._z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        return float((centre - spread) / (1 + z2 / n))

    @property
    def exceeded(self) -> bool:
        """True when the test passes; always with ``confidence`` 0 (no test)."""
        return self.confidence == 0 or self.lower_bound > self.base_rate


class OODDetector:
    """Distance to the labelled set, with a threshold from a sample of the stream's distances.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    >>> detector = OODDetector(dim=8, settings=OODSettings(min_labels=20))
    >>> detector.add_labelled_many(unit(rng.normal(size=(200, 8)) + [4, 0, 0, 0, 0, 0, 0, 0]))
    >>> far = unit(rng.normal(size=(5, 8)) + [0, 0, 0, 0, 0, 0, 0, 4])
    >>> bool(detector.is_ood_many(far).all())
    True
    """

    def __init__(self, dim: int, settings: OODSettings | None = None, neighbours: int = 10,
                 ratio_window: int = 1000, seed: int = 0, graph: bool = True) -> None:
        """``graph`` False: the first pass stays one exact product however many rows are
        held (the scorers', select/ood_check.py: a graph costs 0.15-0.5 ms per labelled row
        to keep up, and every scorer would keep it up for every label of the system); the
        flags are the same either way."""
        s = settings or OODSettings()
        self.settings = s
        self.neighbours = neighbours
        self.index = BoundedIndex(dim, capacity=s.capacity, seed=seed, ef=SEARCH_EF,
                                  **({} if graph else {"exact_below": s.capacity}))
        """The first pass over stream items (a graph once it holds more than 2,048 rows,
        unless ``graph`` is False)."""
        self.rows = BoundedIndex(dim, capacity=s.capacity, exact_below=s.capacity)
        """The same vectors, exact: leave-one-out distances and the second pass."""
        self._loo: dict[int, float] = {}  # index id -> leave-one-out nearest distance
        self._added = 0  # BoundedIndex numbers vectors 0, 1, 2, ... in insertion order
        self._threshold = float("inf")
        self._flags: deque[bool] = deque(maxlen=ratio_window)
        self.reference = StreamReference(dim, s.reference_items, s.reference_horizon, seed=seed)
        self.counts_forwarded = False
        """True once it counted flags of items checked elsewhere (:meth:`count_forwarded_many`)."""

    @property
    def n_labelled(self) -> int:
        return len(self.index)

    @property
    def ready(self) -> bool:
        return len(self._loo) >= self.settings.min_labels

    @property
    def threshold(self) -> float:
        """Cosine distance beyond which an item is OOD (inf until ``min_labels`` labels)."""
        return self._threshold if self.ready else float("inf")

    def add_labelled_many(self, X: np.ndarray) -> None:
        """Labelled items arrived: index them and update leave-one-out distances (until the
        stream calibrates the threshold) and the threshold."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if not len(X):
            return
        # the leave-one-out distances stand in for the stream's sample until it holds
        # REFERENCE_MIN measured items; from then on nothing reads them (a sampled item stays
        # measured while labelled rows exist), so they are no longer kept up to date (issue 17:
        # their k-nearest search was ~14% of the coordinator's labels path)
        loo = (self._leave_one_out(X) if not self.calibrated_on_stream
               else np.full(len(X), np.inf))
        self.index.add_many(X)
        self.rows.add_many(X)  # numbered as in the graph: 0, 1, 2, ... in insertion order
        for i, d in enumerate(loo.tolist()):
            self._loo[self._added + i] = max(0.0, d)
        self._added += len(X)
        oldest_kept = self._added - self.settings.capacity  # the index evicts first in, first out
        for stale in range(oldest_kept - len(X), oldest_kept):
            self._loo.pop(stale, None)
        self.reference.labelled_many(X, first_id=self._added - len(X))
        if oldest_kept > 0:
            self.reference.evicted_before(oldest_kept, self.rows)
        self._calibrate()

    def _leave_one_out(self, X: np.ndarray) -> np.ndarray:
        """Each new item's distance to its nearest other labelled item (old or new); the old
        items' own distances shrink where a new item is nearer."""
        loo = np.full(len(X), np.inf)
        if len(self.rows):
            k = min(self.neighbours, len(self.rows))
            ids, dist = self.rows.query_many(X, k=k)
            loo = np.minimum(loo, dist[:, 0])
            for row_ids, row_dist in zip(ids, dist, strict=True):  # the old items' new neighbour
                for j, d in zip(row_ids.tolist(), row_dist.tolist(), strict=True):
                    if j in self._loo and d < self._loo[j]:
                        self._loo[j] = float(d)
        if len(X) > 1:
            within = 1.0 - X @ X.T
            np.fill_diagonal(within, np.inf)
            loo = np.minimum(loo, within.min(axis=1))
        return loo

    @property
    def calibrated_on_stream(self) -> bool:
        """True once sampled stream items, not the labelled items, set the threshold."""
        return int(np.isfinite(self.reference.distances).sum()) >= REFERENCE_MIN

    def _calibrate(self) -> None:
        if self.calibrated_on_stream:
            distances = self.reference.distances
            finite = distances[np.isfinite(distances)]
        else:
            finite = np.array([d for d in self._loo.values() if np.isfinite(d)])
        if len(finite):
            self._threshold = quantile(finite, self.settings.quantile)

    def distance_many(self, X: np.ndarray) -> np.ndarray:
        """Cosine distance of each row to its nearest labelled item (1.0 with no labels):
        exact for every row beyond the threshold; within it, to a labelled item at least as
        close as the threshold (the graph's answer)."""
        X = np.asarray(X, dtype=np.float32)
        distance = self.index.nearest_distance_many(X)
        if not self.index.exact and self.ready:
            over = np.flatnonzero(distance > self._threshold)
            if len(over):
                distance[over] = self.rows.nearest_distance_many(X[over])
        return distance

    def is_ood_many(self, X: np.ndarray) -> np.ndarray:
        return self.distance_many(X) > self.threshold

    def check_many(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances and OOD flags of stream items, counted into :attr:`recent_ratio` once
        the detector is ready; then the items are sampled into the threshold's reference.

        While the first pass is exact (up to 2,048 labelled items) it is one product of the
        items against the labelled rows, and the items the reference samples are measured
        from the same product instead of one of their own (issue 17: that second product
        was ~9% of the coordinator's selection CPU). Their distances are then those of the
        batch's product, which may differ from a product of the sampled rows alone in the
        last bit (OpenBLAS picks its kernels by shape: tests/index/test_products.py)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        similarity = (self.rows.similarities_many(X) if self.index.exact and len(self.rows)
                      else None)  # index and rows hold the same vectors while it is exact
        dist = self.distance_many(X) if similarity is None else nearest_distance(similarity)
        flags = dist > self.threshold
        if self.ready:
            self._flags.extend(flags.tolist())
        if self.reference.admit_many(X, self.rows, similarity):  # else the sample, and its quantile, stand
            self._calibrate()
        return dist, flags

    def count_forwarded_many(self, flags: np.ndarray) -> None:
        """Flags of items checked elsewhere (``scale.ood_at_scorers``: at the scorers),
        counted into :attr:`recent_ratio`; the detector then reports it as if ready."""
        self.counts_forwarded = True
        self._flags.extend(np.asarray(flags, dtype=bool).tolist())

    @property
    def recent_ratio(self) -> float:
        """Share of the recent stream items flagged OOD (``Metrics.set_ood_ratio``)."""
        return float(np.mean(self._flags)) if self._flags else 0.0
