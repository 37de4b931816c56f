"""Stopping signals, measured live: do labels still pay?

- :class:`StopSet` and :func:`cohen_kappa`: agreement of successive models on a sample of
  unlabelled stream items, replaced by a fresh sample every ``refresh_items`` (stabilising
  predictions, Bloodgood & Vijay-Shanker 2009; small-text's ``KappaAverage``);
- :class:`GainTrend`: label gain (1 - p(true label) under the model before it learned the
  label) of each new label, and its trend (newer half minus older half of a window);
- :class:`Prequential`: share of recent labels the model predicted right before learning them;
- :class:`LearningCurve`: a power law fitted to the gain of the *random* control labels
  against labels bought, and the accuracy it expects from 100 more labels.

Pure numpy; no Kafka, no Prometheus.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np


def cohen_kappa(a: Sequence[object], b: Sequence[object]) -> float:
    """Cohen's kappa of two label sequences (1.0 when both are one and the same constant).

    >>> cohen_kappa(["x", "y", "x", "y"], ["x", "y", "x", "y"])
    1.0
    >>> cohen_kappa(["x", "x", "y", "y"], ["x", "y", "x", "y"])
    0.0
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs two sequences of one length, got {len(a)} and {len(b)}")
    if not len(a):
        return math.nan
    left, right = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    observed = float(np.mean(left == right))
    classes = set(left.tolist()) | set(right.tolist())
    expected = sum(float(np.mean(left == c)) * float(np.mean(right == c)) for c in classes)
    if expected >= 1.0 - 1e-12:
        return 1.0 if observed >= 1.0 - 1e-12 else 0.0
    return (observed - expected) / (1.0 - expected)


class StopSet:
    """A uniform sample (reservoir) of ``size`` stream vectors; every ``refresh_items`` the
    sample drawn since the last refresh replaces the one in use.

    >>> stop = StopSet(size=4, refresh_items=10, seed=0)
    >>> stop.observe_many(np.eye(8, dtype=np.float32)); len(stop.X)
    4
    """

    def __init__(self, size: int, refresh_items: int, seed: int = 0) -> None:
        self.size = size
        self.refresh_items = refresh_items
        self._rng = np.random.default_rng(seed)
        self._current: np.ndarray | None = None
        self._drawing: list[np.ndarray] = []
        self._seen = 0

    @property
    def X(self) -> np.ndarray:
        """The items in use (while the first sample is drawn: what it holds so far)."""
        if self._current is not None:
            return self._current
        return np.stack(self._drawing) if self._drawing else np.zeros((0, 0), dtype=np.float32)

    def observe_many(self, X: np.ndarray) -> None:
        for row in X:
            self._seen += 1
            if len(self._drawing) < self.size:
                self._drawing.append(np.array(row))
            else:
                j = int(self._rng.integers(self._seen))
                if j < self.size:
                    self._drawing[j] = np.array(row)
            if self._seen >= self.refresh_items and len(self._drawing) == self.size:
                self._current = np.stack(self._drawing)
                self._drawing, self._seen = [], 0


class GainTrend:
    """Label gains of the last ``window`` labels; ``trend``: mean of the newer half minus the
    older half (negative: labels teach less and less).

    >>> g = GainTrend(window=4); g.add_many([0.8, 0.6, 0.2, 0.2]); round(g.trend, 2)
    -0.5
    """

    def __init__(self, window: int = 200) -> None:
        self.gains: deque[float] = deque(maxlen=window)

    def add_many(self, gains: Sequence[float]) -> None:
        self.gains.extend(float(g) for g in gains)

    @property
    def mean(self) -> float:
        return float(np.mean(self.gains)) if self.gains else math.nan

    @property
    def trend(self) -> float:
        if len(self.gains) < 4:
            return math.nan
        g = np.asarray(self.gains)
        half = len(g) // 2
        return float(g[half:].mean() - g[:half].mean())


class Prequential:
    """Share of the last ``window`` labels predicted right before they were learned."""

    def __init__(self, window: int = 100) -> None:
        self.hits: deque[bool] = deque(maxlen=window)

    def add_many(self, correct: Sequence[bool]) -> None:
        self.hits.extend(bool(c) for c in correct)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.hits)) if self.hits else math.nan

    def __len__(self) -> int:
        return len(self.hits)


class LearningCurve:
    """Gain of random control labels against labels bought so far, fitted by a power law.

    The gain of a random label (1 - p(true label)) estimates the model's expected error on the
    stream; its fall with labels bought, ``g(n) = a * n ** -c``, is the learning curve. The
    expected improvement from ``k`` more labels is ``g(n) - g(n + k)``. Points are pooled in
    ``bins`` bins of equal count before the log-log fit (a single gain can be 0), each at the
    geometric mean of its label counts.

    >>> curve = LearningCurve(min_points=8)
    >>> for n in range(10, 410, 10): curve.add(n, 2.0 * n ** -0.5)
    >>> round(curve.improvement_per(100), 4)
    0.0109
    """

    def __init__(self, min_points: int = 30, bins: int = 6, memory: int = 2000) -> None:
        self.min_points = min_points
        self.bins = bins
        self.points: deque[tuple[int, float]] = deque(maxlen=memory)

    def add(self, labels_bought: int, gain: float) -> None:
        self.points.append((max(1, int(labels_bought)), float(gain)))

    def reset(self) -> None:
        """The stream changed: the curve so far describes a stream that is gone."""
        self.points.clear()

    def fit(self) -> tuple[float, float] | None:
        """``(a, c)`` of ``g(n) = a * n ** -c`` (``c`` >= 0), or None with too few points."""
        if len(self.points) < self.min_points:
            return None
        pts = np.asarray(sorted(self.points))
        groups = np.array_split(pts, min(self.bins, len(pts)))
        n = np.array([np.exp(np.log(g[:, 0]).mean()) for g in groups])  # geometric centre
        gain = np.array([g[:, 1].mean() for g in groups])
        keep = gain > 1e-6
        if keep.sum() < 2 or np.ptp(np.log(n[keep])) < 1e-9:
            return None
        slope, intercept = np.polyfit(np.log(n[keep]), np.log(gain[keep]), 1)
        return float(math.exp(intercept)), max(0.0, float(-slope))

    def improvement_per(self, k: int) -> float:
        """Expected fall of the error (rise of accuracy) from ``k`` more labels (NaN: unknown)."""
        fitted = self.fit()
        if fitted is None:
            return math.nan
        a, c = fitted
        n = max(n for n, _ in self.points)
        return float(a * n ** -c - a * (n + k) ** -c)
