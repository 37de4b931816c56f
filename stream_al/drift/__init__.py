"""Drift: notice that the stream or the model changed, and spend the budget where it did.

- :mod:`~stream_al.drift.embedding`: MMD two-sample test of recent embeddings against a
  reference window, threshold calibrated by permutations of the reference.
- :mod:`~stream_al.drift.model`: river's ADWIN on the prequential error and Page-Hinkley on
  the mean uncertainty.
- :mod:`~stream_al.drift.monitor`: :class:`DriftMonitor`, all of them on one time line.
- :mod:`~stream_al.drift.response`: :class:`DriftResponse`, the clock an alarm starts; the
  selector that borrows budget and explores the drifting region meanwhile, within the long-run
  budget, is :class:`stream_al.select.drift_aware.DriftAwareSelector`.
"""

from stream_al.drift.base import DriftAlarm, DriftDetector
from stream_al.drift.embedding import DriftRegion, EmbeddingDrift
from stream_al.drift.model import ErrorRateDrift, UncertaintyDrift
from stream_al.drift.monitor import DriftMonitor
from stream_al.drift.response import DriftResponse

__all__ = [
    "DriftAlarm",
    "DriftDetector",
    "DriftMonitor",
    "DriftRegion",
    "DriftResponse",
    "EmbeddingDrift",
    "ErrorRateDrift",
    "UncertaintyDrift",
]
