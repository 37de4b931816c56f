"""The drift monitor: every detector of the stream and of the model, on one time line.

Feed it what the scoring stage has (embeddings and per-item uncertainty, in stream order)
and what the label stage has (whether the model predicted each arriving label correctly
before learning it). It returns the alarms raised, each at the stream position of the
monitor when it fired; the shells turn them into a metric and an event on a topic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stream_al.config import DriftSettings
from stream_al.drift.base import DriftAlarm, DriftDetector, Region, StreamSample
from stream_al.drift.embedding import EmbeddingDrift
from stream_al.drift.forwarded import DriftSummary, ForwardedDrift
from stream_al.drift.model import ErrorRateDrift, UncertaintyDrift


class DriftMonitor:
    """Embedding MMD and mean-uncertainty drift on the stream, ADWIN on the prequential error.

    >>> import numpy as np
    >>> monitor = DriftMonitor(DriftSettings(reference_items=50, window_items=20))
    >>> X = np.eye(4, dtype=np.float32)[np.arange(100) % 4]
    >>> monitor.update_many(X, uncertainty=np.full(100, 0.5)), monitor.position
    ([], 100)
    >>> monitor.update_labels([True, False, True])
    []
    >>> sorted(monitor.scores())
    ['embedding_mmd', 'mean_uncertainty', 'prequential_error']
    """

    def __init__(self, settings: DriftSettings | None = None, history: int = 1000,
                 at_scorers: int | None = None) -> None:
        """``at_scorers``: with ``scale.drift_at_scorers``, the width of the embeddings the
        scorers test and forward summaries of (:meth:`update_many`'s ``forwarded``;
        stream_al/drift/forwarded.py); None: the embedding test runs here."""
        s = settings or DriftSettings()
        self.settings = s
        self.embedding: EmbeddingDrift | ForwardedDrift = (
            EmbeddingDrift.from_settings(s) if at_scorers is None else ForwardedDrift(s, at_scorers))
        self.uncertainty = UncertaintyDrift(s.uncertainty_block, s.uncertainty_warmup_blocks,
                                            s.uncertainty_k, s.uncertainty_h)
        self.error = ErrorRateDrift(s.error_delta)
        self._sample = StreamSample(s.sample, s.seed)
        """Which items the stream's detectors read (``drift.sample``)."""
        self.position = 0
        self.labels_seen = 0
        self.alarms: deque[DriftAlarm] = deque(maxlen=history)

    @property
    def detectors(self) -> tuple[DriftDetector, ...]:
        return (self.embedding, self.uncertainty, self.error)

    def update_many(self, X: np.ndarray, uncertainty: np.ndarray | None = None,
                    forwarded: DriftSummary | None = None) -> list[DriftAlarm]:
        """Stream items in order: embeddings ``X`` (n, d) and their uncertainty (n,);
        ``forwarded``: with the embedding test at the scorers, their summary of these items
        (its blocks end at indices into ``X``).

        Pass ``uncertainty=None`` while the model is cold (fewer than two classes): its
        uncertainty then says nothing about the stream. With ``drift.sample`` below 1 the
        stream's detectors read a seeded random sample of the items; an alarm's position is
        still the stream position of the item that raised it.
        """
        X = every = np.asarray(X, dtype=np.float32)
        n = len(X)
        u = None if uncertainty is None else np.asarray(uncertainty, dtype=np.float64)
        if u is not None and len(u) != n:
            raise ValueError(f"{len(X)} embeddings but {len(u)} uncertainty values")
        rows = self._sample.rows(n)
        if rows is not None:
            X, u = X[rows], None if u is None else u[rows]
        alarms = self.embedding.update_many(X, 0)
        if u is not None:
            alarms += self.uncertainty.update_many(u, 0)
        alarms = [replace(a, position=self.position + StreamSample.item(rows, a.position))
                  for a in alarms]
        if isinstance(self.embedding, ForwardedDrift):
            alarms += self.embedding.take(forwarded, self.position, every)
        self.position += n
        return self._record(sorted(alarms, key=lambda a: a.position))

    def update_one(self, x: np.ndarray, uncertainty: float | None = None) -> list[DriftAlarm]:
        u = None if uncertainty is None else np.array([uncertainty])
        return self.update_many(np.asarray(x, dtype=np.float32).reshape(1, -1), u)

    def model_softened(self) -> None:
        """The learner's penalty rose (its search for ``l2`` chose a stronger one): the model's
        uncertainty rises on the same stream, so the uncertainty test calibrates afresh rather
        than read that as drift."""
        self.uncertainty.reset()

    def update_labels(self, correct: Sequence[bool]) -> list[DriftAlarm]:
        """Labels arrived: ``correct[i]``, did the model predict label i before learning it?"""
        errors = 1.0 - np.asarray(correct, dtype=np.float64)
        alarms = self.error.update_many(errors, self.labels_seen)
        self.labels_seen += len(errors)
        return self._record([replace(a, position=self.position) for a in alarms])

    def update_label(self, correct: bool) -> list[DriftAlarm]:
        return self.update_labels([correct])

    def scores(self) -> dict[str, float]:
        """Each detector's latest statistic, for ``Metrics.set_drift_score(detector, score)``."""
        return {d.name: float(d.score) for d in self.detectors}

    @property
    def region(self) -> Region | None:
        """The drifting region of the embedding detector's latest alarm, if it raised one."""
        return self.embedding.region

    def _record(self, alarms: list[DriftAlarm]) -> list[DriftAlarm]:
        self.alarms.extend(alarms)
        return alarms
