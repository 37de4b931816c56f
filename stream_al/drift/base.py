"""The drift-detector contract: observations in (one or many), alarms out.

A detector watches one signal of the stream (embeddings, mean uncertainty, prequential error)
and returns a :class:`DriftAlarm` each time it decides that the signal has changed. Positions
are counted by the caller (stream items, or labels for label-driven detectors) so that alarms
from different detectors can be put on one time line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class DriftAlarm:
    """``detector`` decided at stream ``position`` that its signal changed.

    ``score`` is the detector's statistic when it fired and ``threshold`` the value it had to
    pass, or ``nan`` when the test is not a threshold on ``score`` (ADWIN's window cut,
    Page-Hinkley's cumulative sum).
    """

    detector: str
    score: float
    threshold: float
    position: int


class StreamSample:
    """Which stream items the stream's detectors read (``drift.sample``): each one with
    probability ``fraction``, from a generator seeded ``[seed, 1]``. The coordinator's monitor
    and a scorer's drift test (``scale.drift_at_scorers``) draw alike, so one scorer reads
    exactly what the coordinator's test would have read."""

    def __init__(self, fraction: float, seed: int) -> None:
        self.fraction = fraction
        self._rng = np.random.default_rng([seed, 1])

    def rows(self, n: int) -> np.ndarray | None:
        """The indices read among the next ``n`` items (None: every one, nothing drawn)."""
        if self.fraction >= 1:
            return None
        return np.flatnonzero(self._rng.random(n) < self.fraction)

    @staticmethod
    def item(rows: np.ndarray | None, i: int) -> int:
        """The index among all the items of the ``i``-th one read."""
        return int(i if rows is None else rows[i])


class DriftDetector(Protocol):
    """One signal, one test. ``score`` is the latest statistic, for the drift-score gauge."""

    name: str

    @property
    def score(self) -> float: ...

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        """Observe ``values`` (rows or scalars) at positions ``start, start + 1, ...``."""
        ...

    def reset(self) -> None:
        """Forget everything seen (a new reference starts from the next observation)."""
        ...


class Region(Protocol):
    """Where the stream moved, as an alarm's test saw it: the drift response aims exploration
    with :meth:`weight_many` (1 where the recent window has the most excess mass over the
    reference, 0 where it lost the most, 0.5 where nothing changed)."""

    def weight_many(self, X: np.ndarray) -> np.ndarray: ...
