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
