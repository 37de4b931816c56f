"""One embedding drift test of the whole stream, from the scorers' sums (``scale.drift_at_scorers``).

With ``scale.preselect`` the coordinator's drift monitor reads the candidates the scorers
forward; its embedding test (:class:`~stream_al.drift.embedding.EmbeddingDrift`: a random
projection and two kernel rows per candidate) was a third of its per-candidate cost
(benchmarks/README.md, issue 17, eleventh pass). With ``scale.drift_at_scorers`` the scorers
compute what costs per candidate and the coordinator keeps one test of the whole stream:

- A scorer holds a :class:`ScorerDrift`. For the candidates it forwards (a ``drift.sample``
  share of them, drawn as the monitor draws) it computes the random Fourier features of the
  test's kernel (:class:`~stream_al.drift.fourier.FourierFeatures`, the same seed everywhere,
  so the same features) and forwards with each record a :class:`DriftSummary`: the features'
  sum over each block of at most ``drift.block_items`` consecutive candidates, each block's
  count and where it ends in the record (``drift.features`` float16 per block: ~4 bytes per
  stream text at the defaults and a 5% budget).
- The coordinator's :class:`~stream_al.drift.monitor.DriftMonitor` holds a
  :class:`ForwardedDrift` in the embedding test's place. It takes the blocks of every scorer in
  the order their records arrive: the test's windows are counted in candidates of the whole
  stream, whatever the number of scorers. The reference is the first
  ``drift.reference_items`` candidates' blocks after a (re)start, the recent window the latest
  ``drift.window_items``' blocks, the statistic the squared distance of their mean features
  (MMD², biased, as the coordinator's own test), tested every ``drift.check_every`` candidates
  with ``drift.patience``. Its threshold is calibrated as the coordinator's test calibrates its
  own, with blocks in place of rows: the reference plus the first window's blocks (before any
  alarm, so exchangeable under "no drift") are dealt ``drift.permutations`` times into a
  window-sized part and the rest, a gamma is fitted to those statistics and its
  ``1 - drift.alpha`` quantile taken (never below the largest). Per block the coordinator adds
  ``drift.features`` numbers; per test it takes one distance.
- The drifting region (what the drift response explores) is the test's own witness function:
  the recent window's mean features less the reference's, read against each item's features
  (:class:`~stream_al.drift.fourier.FeatureRegion`), scaled on the latest
  ``drift.window_items`` candidates the coordinator holds anyway. Nothing of it goes on the
  wire, and making it costs one feature row per recent candidate, once per alarm.

The mean uncertainty test (one sum per block of candidates) and the prequential error test
(labels) stay at the coordinator: they cost little, and the uncertainty test must hear when
the learner softens (``DriftMonitor.model_softened``), which only the coordinator knows.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
>>> from stream_al.config import DriftSettings
>>> s = DriftSettings(reference_items=300, window_items=100, check_every=25, project=0)
>>> scorers, coordinator = [ScorerDrift(s), ScorerDrift(s)], ForwardedDrift(s, 8)
>>> before = unit(rng.normal(size=(900, 8)) + [3, 0, 0, 0, 0, 0, 0, 0])
>>> after = unit(rng.normal(size=(300, 8)) + [0, 3, 0, 0, 0, 0, 0, 0])
>>> def stream(X, start):  # records of 25 candidates, dealt to two scorers in turn
...     alarms = []
...     for k, i in enumerate(range(0, len(X), 25)):
...         summary = scorers[k % 2].observe_many(X[i : i + 25])
...         alarms += coordinator.take(summary, start + i, X[i : i + 25])
...     return [a.position for a in alarms]
>>> stream(before, 0), stream(after, 900)
([], [949])
>>> coordinator.region is not None
True
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from stream_al.config import DriftSettings
from stream_al.drift.base import DriftAlarm, StreamSample
from stream_al.drift.embedding import EmbeddingDrift
from stream_al.drift.fourier import FeatureRegion, FourierFeatures
from stream_al.drift.fourier_mmd import gamma_quantile


@dataclass(frozen=True)
class DriftSummary:
    """What a scorer's drift features say of one record's candidates: per block of consecutive
    candidates the sum of their features (``sums``, (k, D)), how many candidates it sums
    (``counts``) and the record index one past its last candidate (``ends``, ascending)."""

    sums: np.ndarray
    counts: np.ndarray
    ends: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> DriftSummary:
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.counts)


def joined(summaries: Sequence[DriftSummary | None], lengths: Sequence[int],
           ) -> DriftSummary | None:
    """The summaries of consecutive records (``lengths``: their candidates) as one record's:
    every block, ending at its place in the joined record."""
    given = [(s, start) for s, start in zip(summaries, np.cumsum([0, *lengths[:-1]]).tolist(),
                                            strict=True) if s is not None]
    if not given:
        return None
    return DriftSummary(np.concatenate([s.sums for s, _ in given]),
                        np.concatenate([s.counts for s, _ in given]),
                        np.concatenate([s.ends + start for s, start in given]))


def among(summary: DriftSummary | None, rows: np.ndarray) -> DriftSummary | None:
    """``summary`` of a record of which only ``rows`` (ascending record indices) are read:
    each block ends after the last of them it holds."""
    if summary is None:
        return None
    return replace(summary, ends=np.searchsorted(rows, summary.ends).astype(np.int64))


class ScorerDrift:
    """A scorer's share of the drift test: the feature sums of its candidates (module
    docstring)."""

    def __init__(self, settings: DriftSettings) -> None:
        self.features = FourierFeatures(settings.features, settings.kernel, settings.seed,
                                        settings.project)
        self.block = min(settings.block_items, settings.window_items, settings.check_every)
        self._sample = StreamSample(settings.sample, settings.seed)
        """Which candidates the test reads (``drift.sample``), drawn as the monitor draws."""

    def observe_many(self, X: np.ndarray) -> DriftSummary:
        """Candidates ``X`` (n, d) in the order they are forwarded: the record's summary, in
        blocks of at most ``drift.block_items`` (as even as they can be)."""
        X = np.asarray(X, dtype=np.float32)
        rows = self._sample.rows(len(X))
        read = np.arange(len(X)) if rows is None else rows
        if not len(read):
            return DriftSummary.empty(self.features.dim_of(X.shape[1]))
        F = self.features.many(X if rows is None else X[rows])
        blocks = -(-len(read) // self.block)
        bounds = (np.arange(blocks + 1) * len(read)) // blocks
        sums = np.add.reduceat(F, bounds[:-1], axis=0).astype(np.float16)  # as on the wire
        return DriftSummary(sums.astype(np.float32), np.diff(bounds),
                            read[bounds[1:] - 1] + 1)


class ForwardedDrift:
    """The coordinator's embedding test of the whole stream from the scorers' sums (module
    docstring). Same ``name`` as the test it stands in for; ``dim``: of the stream's
    embeddings."""

    name = EmbeddingDrift.name

    def __init__(self, settings: DriftSettings, dim: int) -> None:
        self.settings = settings
        self.features = FourierFeatures(settings.features, settings.kernel, settings.seed,
                                        settings.project)
        """The scorers' features (the same seed), which the region reads items through."""
        self.dim = dim
        self.region: FeatureRegion | None = None
        self._rng = np.random.default_rng([settings.seed, 4])
        self._rows: deque[np.ndarray] = deque()
        """The latest candidates (at least ``window_items``), for the region."""
        self._rows_n = 0
        self.reset()

    def reset(self) -> None:
        self._pool: list[DriftSummary] = []
        self._pool_n = 0
        self._reference: np.ndarray | None = None
        """The reference's mean features (None: being collected)."""
        self._sums = np.zeros((0, 0))
        self._counts = np.zeros(0, np.int64)
        """The blocks of the recent window (and any before it still needed)."""
        self._seen = 0
        """Candidates tested since the reference was complete (a test at each check_every)."""
        self._streak = 0
        self.threshold = math.nan
        self._score = 0.0

    @property
    def ready(self) -> bool:
        return self._reference is not None

    @property
    def score(self) -> float:
        return self._score

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        """Nothing: the scorers read the embeddings (:meth:`take` their summaries)."""
        return []

    def take(self, summary: DriftSummary | None, start: int, X: np.ndarray) -> list[DriftAlarm]:
        """A record's ``summary`` (None: none) and its candidates ``X``, at monitor positions
        ``start ...``: the alarms raised, each at the last candidate of the block that
        completed the test."""
        if summary is not None and len(summary) and (
                summary.sums.shape[1] != (width := self.features.dim_of(self.dim))):
            raise ValueError(
                f"a drift summary of {summary.sums.shape[1]} features, but this coordinator's "
                f"test reads {width}: drift.features, drift.kernel, drift.project and "
                "drift.seed must be the same at the scorers and the coordinator")
        alarms: list[DriftAlarm] = []
        i = 0
        while summary is not None and i < len(summary):
            if self._reference is None:
                i = self._pooled(summary, i)
            else:
                i, alarm = self._tested(summary, i, start, X)
                alarms += alarm
        self._rows_in(X)
        return alarms

    # ---- internals ------------------------------------------------------------------------
    def _pooled(self, s: DriftSummary, i: int) -> int:
        """Blocks ``i ...`` of ``s`` into the calibration pool until it holds the reference
        and one window; the index of the first block not taken."""
        need = self.settings.reference_items + self.settings.window_items - self._pool_n
        j = i + int(np.searchsorted(np.cumsum(s.counts[i:]), need)) + 1
        j = min(j, len(s))
        taken = int(s.counts[i:j].sum())
        self._pool.append(DriftSummary(s.sums[i:j], s.counts[i:j], s.ends[i:j]))
        self._pool_n += taken
        if taken >= need:
            self._calibrate()
        return j

    def _calibrate(self) -> None:
        """Reference, recent window and threshold from the pool's blocks (module docstring)."""
        S = np.concatenate([p.sums for p in self._pool]).astype(np.float64)
        c = np.concatenate([p.counts for p in self._pool]).astype(np.float64)
        m = min(int(np.searchsorted(np.cumsum(c), self.settings.reference_items)) + 1, len(c) - 1)
        n, n_ref = c.sum(), c[:m].sum()
        w = n - n_ref
        order = np.argsort(self._rng.random((self.settings.permutations, len(c))), axis=1)
        before = np.cumsum(c[order], axis=1) - c[order]  # candidates dealt before each block
        self.threshold = self._threshold(S, c, order, before < w)
        self._reference = S[:m].sum(axis=0) / n_ref
        self._sums, self._counts = S[m:], c[m:].astype(np.int64)
        self._seen = 0
        self._pool, self._pool_n = [], 0

    def _threshold(self, S: np.ndarray, c: np.ndarray, order: np.ndarray,
                   dealt: np.ndarray) -> float:
        """The ``1 - alpha`` quantile (never below the largest) of a gamma fitted to the
        statistics of blocks ``S`` (sums of ``c`` candidates) dealt in each row of ``order``
        into a part (the blocks where ``dealt``) and the rest."""
        part = np.zeros(order.shape)
        np.put_along_axis(part, order, dealt, axis=1)
        in_part, n_part = part @ S, part @ c
        rest, n = S.sum(axis=0) - in_part, c.sum()
        diff = in_part / n_part[:, None] - rest / (n - n_part)[:, None]
        null = np.einsum("ij,ij->i", diff, diff)
        return max(gamma_quantile(null, 1.0 - self.settings.alpha), float(null.max()))

    def _tested(self, s: DriftSummary, i: int, start: int, X: np.ndarray,
                ) -> tuple[int, list[DriftAlarm]]:
        """Blocks ``i ...`` of ``s`` through the test (every ``check_every`` candidates);
        the index of the first block not taken (after an alarm: the one after it) and the
        alarm raised."""
        every, w = self.settings.check_every, self.settings.window_items
        counts = s.counts[i:]
        seen = self._seen + np.cumsum(counts)
        checks = np.flatnonzero(seen // every > (seen - counts) // every)
        kept = len(self._counts)
        self._sums = np.concatenate([self._sums, s.sums[i:]])
        self._counts = np.concatenate([self._counts, counts])
        total = np.concatenate([[0], np.cumsum(self._counts)])
        prefix = np.concatenate([np.zeros((1, self._sums.shape[1])),
                                 np.cumsum(self._sums, axis=0)])
        self._seen = int(seen[-1])
        ks = kept + checks
        ks = ks[total[ks + 1] >= w]  # a full window behind the check
        los = np.searchsorted(total, total[ks + 1] - w, side="right") - 1
        means = (prefix[ks + 1] - prefix[los]) / (total[ks + 1] - total[los])[:, None]
        scores = ((means - self._reference) ** 2).sum(axis=1)
        for q, k in enumerate(ks.tolist()):
            self._score = float(scores[q])
            self._streak = self._streak + 1 if self._score > self.threshold else 0
            if self._streak >= self.settings.patience:
                end = max(int(s.ends[i + k - kept]), 1)  # a block of rows not read: 0
                alarm = DriftAlarm(self.name, self._score, self.threshold, start + end - 1)
                self._regioned(means[q] - self._reference, X[:end])
                self.reset()
                return i + k - kept + 1, [alarm]
        lo = max(int(np.searchsorted(total, total[-1] - w, side="right")) - 1, 0)
        self._sums, self._counts = self._sums[lo:], self._counts[lo:]
        return len(s), []

    def _rows_in(self, X: np.ndarray) -> None:
        if not len(X):
            return
        self._rows.append(X)
        self._rows_n += len(X)
        while self._rows_n - len(self._rows[0]) >= self.settings.window_items:
            self._rows_n -= len(self._rows.popleft())

    def _regioned(self, shift: np.ndarray, latest: np.ndarray) -> None:
        """The region of an alarm raised after ``latest`` rows of the record in hand, whose
        window's mean features are ``shift`` away from the reference's."""
        recent = np.concatenate([*self._rows, latest])[-self.settings.window_items:]
        self.region = FeatureRegion(self.features, shift, recent)
