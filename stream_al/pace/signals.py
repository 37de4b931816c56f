"""Stopping signals, measured live: do labels still pay?

- :class:`StopSet` and :func:`cohen_kappa`: agreement of successive models on a sample of
  unlabelled stream items, replaced by a fresh sample every ``refresh_items`` (stabilising
  predictions, Bloodgood & Vijay-Shanker 2009; small-text's ``KappaAverage``);
- :class:`GainTrend`: label gain (1 - p(true label) under the model before it learned the
  label) of each new label, and its trend (newer half minus older half of a window);
- :class:`Prequential`: share of recent labels the model predicted right before learning them;
- :class:`LearningCurve`: an inverse power law fitted (bagged) to the prequential accuracy of
  the *random* control labels against labels bought: the accuracy it expects from more labels,
  and how sure it is.

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
    """Accuracy of the *random* control labels against labels bought, fitted by an inverse power
    law ``acc(n) = A - B * n ** -c`` (``B`` >= 0; Figueroa et al. 2012), with its uncertainty.

    Each control label is a Bernoulli point: did the model that had not learned it yet predict it
    right (prequential, so unbiased for the stream's accuracy at that many labels)? The fit is
    least squares over a grid of exponents ``c`` (closed form for ``A`` and ``B`` at each), and
    it is bagged: :meth:`fits` returns the fit to ``resamples`` bootstrap samples of the points
    (seeded), so every prediction is a mean over them and :meth:`gain` also gives their spread.

    >>> curve = LearningCurve(min_points=8)
    >>> for n in range(10, 410, 10): curve.add(n, 0.9 - 2.0 * n ** -0.5)
    >>> mean, spread = curve.gain(400, 500); round(mean, 4)
    0.0106
    """

    EXPONENTS = np.linspace(0.05, 2.0, 40)

    def __init__(self, min_points: int = 30, resamples: int = 32, memory: int = 2000,
                 seed: int = 0) -> None:
        self.min_points = min_points
        self.resamples = resamples
        self.seed = seed
        self.points: deque[tuple[int, float]] = deque(maxlen=memory)
        self._fits: np.ndarray | None = None

    def add(self, labels_bought: int, correct: float) -> None:
        self.points.append((max(1, int(labels_bought)), float(correct)))
        self._fits = None

    def reset(self) -> None:
        """The stream changed: the curve so far describes a stream that is gone."""
        self.points.clear()
        self._fits = None

    def fits(self) -> np.ndarray | None:
        """``(A, B, c)`` per bootstrap sample (rows), or None with fewer than ``min_points``."""
        if len(self.points) < self.min_points:
            return None
        if self._fits is None:
            pts = np.asarray(self.points, dtype=float)
            rng = np.random.default_rng((self.seed, len(pts)))
            weights = rng.multinomial(len(pts), np.full(len(pts), 1 / len(pts)),
                                      size=self.resamples).astype(float)
            self._fits = inverse_power_fits(pts[:, 0], pts[:, 1], weights, self.EXPONENTS)
        return self._fits

    def gain(self, n_from: float, n_to: float) -> tuple[float, float]:
        """Accuracy expected at ``n_to`` labels minus at ``n_from``: mean and standard deviation
        over the bootstrap fits (NaN: too few points)."""
        return curve_gain(self.fits(), n_from, n_to)

    def improvement_per(self, k: int) -> float:
        """Expected rise of accuracy from ``k`` more labels after the last point (NaN: unknown)."""
        if not self.points:
            return math.nan
        n = max(n for n, _ in self.points)
        return self.gain(n, n + k)[0]


def curve_gain(fits: np.ndarray | None, n_from: float, n_to: float) -> tuple[float, float]:
    """Accuracy the inverse power laws ``fits`` (rows ``(A, B, c)``) expect at ``n_to`` labels
    minus at ``n_from``: mean and standard deviation over the rows (NaN: no fits)."""
    if fits is None:
        return math.nan, math.nan
    _, b, c = fits.T
    gains = b * (max(1.0, n_from) ** -c - max(1.0, n_to) ** -c)
    return float(gains.mean()), float(gains.std())


def inverse_power_fits(n: np.ndarray, y: np.ndarray, weights: np.ndarray,
                        exponents: np.ndarray) -> np.ndarray:
    """Weighted least squares of ``y = A - B * n ** -c``, ``B`` >= 0, for each row of
    ``weights``: the best ``c`` of ``exponents`` and its ``A``, ``B`` (rows ``(A, B, c)``)."""
    z = n[:, None] ** -exponents[None, :]                      # points x exponents
    total = weights.sum(axis=1, keepdims=True)                 # samples x 1
    z_mean = weights @ z / total                               # samples x exponents
    y_mean = weights @ y / total[:, 0]                         # samples
    zz = weights @ (z * z) / total - z_mean ** 2
    zy = (weights * y) @ z / total - z_mean * y_mean[:, None]
    yy = weights @ (y * y) / total[:, 0] - y_mean ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(zz > 1e-15, -zy / zz, 0.0)
    b = np.maximum(b, 0.0)
    residual = yy[:, None] + 2 * b * zy + b * b * zz         # var(y - A + b z)
    best = np.argmin(residual, axis=1)
    rows = np.arange(len(weights))
    b_best = b[rows, best]
    a_best = y_mean + b_best * z_mean[rows, best]
    return np.stack([a_best, b_best, exponents[best]], axis=1)
