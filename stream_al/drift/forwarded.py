"""The embedding drift test where the candidates are scored (``scale.drift_at_scorers``, issue 17).

With ``scale.preselect`` the coordinator's drift monitor reads the candidates the scorers
forward; its embedding test (:class:`~stream_al.drift.embedding.EmbeddingDrift`: a random
projection and two kernel rows per candidate) was a third of its per-candidate cost
(benchmarks/README.md, issue 17, eleventh pass). With ``scale.drift_at_scorers`` each scorer
runs that test itself:

- A scorer holds a :class:`ScorerDrift`: an ``EmbeddingDrift`` with the coordinator's
  settings and seed, fed the candidates it forwards (a ``drift.sample`` share of them, drawn as
  the monitor draws). With each record it forwards a :class:`DriftSummary`: the test's latest
  statistic, the alarms it raised in that record (the candidate that raised each, its
  statistic and threshold) and, with an alarm, the drifting region (the reference and recent
  windows as the test read them, and the rbf bandwidth): a few bytes per record, ~150 KB of
  float32 per alarm (~200 KB as base64 on the wire).
- The coordinator's :class:`~stream_al.drift.monitor.DriftMonitor` holds a
  :class:`ForwardedDrift` in the embedding test's place: it takes the summaries, raises their
  alarms at the monitor's position of the candidate that raised them, and keeps the statistic
  (the drift-score gauge) and the region (what the drift response explores). The mean
  uncertainty test (one sum per block of candidates) and the prequential error test (labels)
  stay at the coordinator: they cost little, and the uncertainty test must hear when the
  learner softens (``DriftMonitor.model_softened``), which only the coordinator knows.

With one scorer the test reads what the coordinator's would have read, in the same order (its
candidates, before ``scale.precision`` rounds them for the wire). With W scorers each tests its
own share of the candidates: each window spans W times as much of the stream, and W tests
may each raise a false alarm, and each needs its windows' worth of its own candidates before it
tests at all (benchmarks/README.md, issue 17, thirteenth pass).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
>>> from stream_al.config import DriftSettings
>>> s = DriftSettings(reference_items=300, window_items=100, check_every=25, project=0)
>>> scorer, coordinator = ScorerDrift(s), ForwardedDrift(s, 8)
>>> before = unit(rng.normal(size=(900, 8)) + [3, 0, 0, 0, 0, 0, 0, 0])
>>> after = unit(rng.normal(size=(300, 8)) + [0, 3, 0, 0, 0, 0, 0, 0])
>>> coordinator.take(scorer.observe_many(before), 0, len(before))
[]
>>> summary = scorer.observe_many(after)
>>> [a.index for a in summary.alarms], summary.region is not None
([49], True)
>>> [a.position for a in coordinator.take(summary, 900, len(after))]
[949]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from stream_al.config import DriftSettings
from stream_al.drift.base import DriftAlarm, StreamSample
from stream_al.drift.embedding import DriftRegion, EmbeddingDrift


@dataclass(frozen=True)
class ForwardedAlarm:
    """An alarm a scorer's test raised: at its ``index``-th candidate of the record."""

    index: int
    score: float
    threshold: float


@dataclass(frozen=True)
class DriftSummary:
    """What a scorer's embedding test forwards with one record of candidates.

    ``score``: its latest statistic (NaN: it has not tested yet). ``reference``, ``recent``,
    ``sigma2``: the region of the last alarm, as the test read it (projected), or None.
    """

    score: float
    alarms: tuple[ForwardedAlarm, ...] = ()
    reference: np.ndarray | None = None
    recent: np.ndarray | None = None
    sigma2: float = 1.0

    @property
    def region(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        if self.reference is None or self.recent is None:
            return None
        return self.reference, self.recent, self.sigma2


def joined(summaries: Sequence[DriftSummary | None], lengths: Sequence[int],
           ) -> DriftSummary | None:
    """The summaries of consecutive records (``lengths``: their candidates) as one record's:
    every alarm at its index in the joined record, the last statistic and the last region."""
    if all(s is None for s in summaries):
        return None
    alarms: list[ForwardedAlarm] = []
    score, region, start = math.nan, DriftSummary(math.nan), 0
    for s, n in zip(summaries, lengths, strict=True):
        if s is not None:
            alarms += [ForwardedAlarm(start + a.index, a.score, a.threshold) for a in s.alarms]
            score = score if math.isnan(s.score) else s.score
            region = s if s.region is not None else region
        start += n
    return DriftSummary(score, tuple(alarms), region.reference, region.recent, region.sigma2)


def among(summary: DriftSummary | None, rows: np.ndarray) -> DriftSummary | None:
    """``summary`` of a record of which only ``rows`` (ascending record indices) are read:
    each alarm at the place of its candidate (or the next read one) among them."""
    if summary is None or not summary.alarms:
        return summary
    at = np.searchsorted(rows, [a.index for a in summary.alarms]).tolist()
    return replace(summary, alarms=tuple(ForwardedAlarm(int(i), a.score, a.threshold)
                                         for i, a in zip(at, summary.alarms, strict=True)))


class ScorerDrift:
    """A scorer's embedding drift test of the candidates it forwards (module docstring)."""

    def __init__(self, settings: DriftSettings) -> None:
        self.test = EmbeddingDrift.from_settings(settings)
        self._sample = StreamSample(settings.sample, settings.seed)
        """Which candidates the test reads (``drift.sample``), drawn as the monitor draws."""

    def observe_many(self, X: np.ndarray) -> DriftSummary:
        """Candidates ``X`` (n, d) in the order they are forwarded: the record's summary."""
        X = np.asarray(X, dtype=np.float32)
        rows = self._sample.rows(len(X))
        if rows is not None:
            X = X[rows]
        raised = self.test.update_many(X, 0) if len(X) else []
        alarms = tuple(ForwardedAlarm(StreamSample.item(rows, a.position), float(a.score),
                                      float(a.threshold)) for a in raised)
        score = self.test.score if self.test.ready or raised else math.nan
        region = self.test.region if raised else None
        if region is None:
            return DriftSummary(float(score), alarms)
        return DriftSummary(float(score), alarms, region.reference, region.recent, region.sigma2)


class ForwardedDrift:
    """The coordinator's stand-in for the embedding test: the scorers' summaries in, alarms
    out (module docstring). Same ``name`` as the test it stands in for; ``dim``: of the
    stream's embeddings (a region is read through the scorers' projection of them)."""

    name = EmbeddingDrift.name

    def __init__(self, settings: DriftSettings, dim: int) -> None:
        self.settings = settings
        self.projection = EmbeddingDrift.from_settings(settings).projection(dim)
        """The scorers' projection (the same seed), None if they read the rows as they are."""
        self.region: DriftRegion | None = None
        self._score = 0.0

    @property
    def score(self) -> float:
        return self._score

    def reset(self) -> None:
        self._score = 0.0

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        """Nothing: the scorers test the embeddings (:meth:`take` their summaries)."""
        return []

    def take(self, summary: DriftSummary | None, start: int, n: int) -> list[DriftAlarm]:
        """A record's ``summary``; the record's ``n`` candidates are at monitor positions
        ``start ...``: each alarm is raised at its candidate's (None: a record without one)."""
        if summary is None:
            return []
        if not math.isnan(summary.score):
            self._score = summary.score
        if summary.region is not None:
            reference, recent, sigma2 = summary.region
            self.region = DriftRegion(reference, recent, self.settings.kernel, sigma2,
                                      self.projection)
        return [DriftAlarm(self.name, a.score, a.threshold, start + min(a.index, max(n - 1, 0)))
                for a in summary.alarms]
