"""Data health of a live stream in one object: drift detectors and the OOD signal.

The coordinator feeds it every scored batch and every batch of labels; it returns the drift
alarms to publish and keeps the figures the metrics export (drift score per detector, OOD
rate). Pure: no Kafka, no Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.config import DriftSettings, OODSettings, ScaleSettings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.forwarded import DriftSummary
from stream_al.drift.monitor import DriftMonitor
from stream_al.ood import OODDetector


class DataHealth:
    """Drift on the stream (embeddings, uncertainty) and on the model (prequential error),
    and the share of recent stream items that are out of distribution."""

    def __init__(self, drift: DriftSettings, ood: OODSettings, dim: int, seed: int = 0,
                 scale: ScaleSettings | None = None, *, checks_ood: bool = True) -> None:
        """``drift``, ``ood``, ``scale``: their parts of the settings (``scale``: where the
        candidates are checked; None: all here); ``seed``: of the OOD detector's index (the
        coordinator passes ``selection.seed``); ``checks_ood``: False when the selection
        stack's OOD cap checks (and counts) the stream items against :attr:`ood`
        (:func:`~stream_al.select.stack.has_ood_cap`): they are then not checked twice."""
        s = scale or ScaleSettings()
        self.monitor = DriftMonitor(drift, at_scorers=dim if s.drift_at_scorers else None)
        """With ``scale.drift_at_scorers`` the scorers test the embeddings for drift and
        forward summaries (stream_al/drift/forwarded.py); the monitor takes those."""
        self.ood = OODDetector(dim, ood, seed=seed)
        self.alarm_count = 0
        self.checks_ood = checks_ood
        self.keeps_ood_rows = not s.ood_at_scorers
        """False with ``scale.ood_at_scorers``: the scorers hold the labelled rows and check
        the candidates (select/ood_check.py); the detector only counts their flags."""

    def on_batch(self, X: np.ndarray, uncertainty: np.ndarray | None,
                 drift: DriftSummary | None = None) -> list[DriftAlarm]:
        """A scored batch in stream order; ``uncertainty`` None while the model is cold;
        ``drift``: the scorers' summary of it (``scale.drift_at_scorers``)."""
        if self.checks_ood:  # before it is ready too: the items calibrate its threshold
            self.ood.check_many(X)
        return self._count(self.monitor.update_many(X, uncertainty, drift))

    def on_refit(self, l2_before: float, l2_after: float) -> None:
        """The learner refitted with penalty ``l2_after`` (``l2_before`` until then)."""
        if l2_after > l2_before:
            self.monitor.model_softened()

    def on_labels(self, X: np.ndarray, correct: Sequence[bool]) -> list[DriftAlarm]:
        """Labelled items (their embeddings) and whether the model predicted each right."""
        if self.keeps_ood_rows:
            self.ood.add_labelled_many(X)
        return self._count(self.monitor.update_labels(correct) if len(correct) else [])

    def scores(self) -> dict[str, float]:
        return self.monitor.scores()

    @property
    def ood_ratio(self) -> float:
        counted = self.ood.ready or self.ood.counts_forwarded
        return float(self.ood.recent_ratio) if counted else float("nan")

    def _count(self, alarms: list[DriftAlarm]) -> list[DriftAlarm]:
        self.alarm_count += len(alarms)
        return alarms
