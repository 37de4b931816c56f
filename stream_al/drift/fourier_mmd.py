"""The embedding drift test's MMD² through random Fourier features, in time linear in the windows.

The rbf kernel is the expectation of ``cos(w . (x - y))`` over frequencies ``w`` drawn from
a Gaussian of variance ``1 / sigma2`` (Rahimi & Recht 2007). With ``m`` such frequencies each
row becomes ``2 m`` features ``[cos(x W), sin(x W)] / sqrt(m)``, and the MMD² V-statistic of
two windows becomes the squared distance between their mean feature vectors, an unbiased
estimate of the exact one whose spread shrinks as 1 / sqrt(m). A new row then costs its
features (``project x m`` multiply-adds and ``2 m`` sines and cosines) instead of a kernel
row against every reference and window item (issue 17: ~10-13 us per candidate at the
coordinator for 400 + 200 items); a test costs the window's mean.

The permutation threshold is that of the same statistic: the reference-plus-window pool's
features, permuted into window-sized and reference-sized parts, in one product of a 0/1
matrix (permutations x pool) with them. So the test keeps its false-alarm rate by
construction; what the features can cost is power, measured against the exact kernel in
benchmarks/README.md ("the embedding drift test at the coordinator, in linear time").

Not the feature map of stream_al/drift/fourier.py, on purpose. That one serves the test of the
scorers' feature sums (``scale.drift_at_scorers``): scorers and coordinator must draw the same
features without talking, before any reference exists, so its bandwidths are fixed (a mixture
of four) and one phase per frequency stands in for the sine. Here the coordinator holds the
reference, so the bandwidth is measured on it (the median heuristic) and the frequencies are drawn
only then; cosine and sine together give each frequency's term of the kernel without the
random phase's extra noise (Sutherland & Schneider 2015). One map for
both would change one test's power or the other's false-alarm calibration, each validated on
its own (benchmarks/drift_scorers.py).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> pool = rng.normal(size=(300, 8)).astype(np.float32)
>>> mmd = FourierMMD(frequencies=64, seed=0)
>>> threshold = mmd.calibrate(pool, window=100, permutations=200, rng=rng, alpha=1e-3)
>>> same = mmd.features(rng.normal(size=(100, 8)).astype(np.float32))
>>> moved = mmd.features(rng.normal(size=(100, 8)).astype(np.float32) + 1.0)
>>> bool(mmd.scores(same, np.array([99]))[0] < threshold)
True
>>> mmd.push(same)
>>> [bool(s > threshold) for s in mmd.scores(moved, np.array([49, 99]))]
[True, True]
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from stream_al.index.products import squared_distances


class FourierMMD:
    """MMD² (rbf kernel) of a ring of ``window`` rows against a fixed reference, through
    ``frequencies`` random Fourier frequencies drawn from ``[seed, 3]``."""

    def __init__(self, frequencies: int, seed: int) -> None:
        if frequencies < 1:
            raise ValueError(f"Fourier frequencies must be >= 1, got {frequencies}")
        self.frequencies = frequencies
        self._seed = seed
        self.sigma2 = 1.0
        self._omega = np.zeros((0, frequencies), dtype=np.float32)
        """(dim, frequencies): standard normal draws divided by the bandwidth."""
        self._reference_mean = np.zeros(0)
        self._window = np.zeros((0, 0), dtype=np.float32)
        """Per window slot, its row's features (a ring; ``_head``: the oldest slot)."""
        self._head = 0

    def features(self, X: np.ndarray) -> np.ndarray:
        """Rows ``X`` (n, dim) as their ``2 * frequencies`` features (float32)."""
        m = self.frequencies
        phase = X @ self._omega
        out = np.empty((len(X), 2 * m), dtype=np.float32)
        np.cos(phase, out=out[:, :m])
        np.sin(phase, out=out[:, m:])
        out *= 1.0 / math.sqrt(m)
        return out

    def calibrate(self, pool: np.ndarray, window: int, permutations: int,
                  rng: np.random.Generator, alpha: float) -> float:
        """Bandwidth, reference and threshold from ``pool`` (reference rows, then the first
        ``window`` rows, all before any change); the window's slots hold the last ones.
        Returns the threshold: the ``1 - alpha`` quantile of a gamma fitted to the
        permuted statistics, never below the largest of them."""
        n = len(pool)
        r = n - window
        self.sigma2 = median_bandwidth(pool[:r], pool[r:])
        draws = np.random.default_rng([self._seed, 3]).standard_normal((pool.shape[1],
                                                                        self.frequencies))
        self._omega = (draws / math.sqrt(self.sigma2)).astype(np.float32)
        F = self.features(pool)
        total = F.sum(axis=0, dtype=np.float64)
        in_window = np.concatenate([random_parts(n, window, count, rng) @ F for count in
                                    chunks(permutations, PARTS_AT_ONCE)]).astype(np.float64)
        gap = total / r - in_window * (1.0 / r + 1.0 / window)  # reference mean - window mean
        null = np.einsum("bj,bj->b", gap, gap)
        self._reference_mean = F[:r].mean(axis=0, dtype=np.float64)
        self._window = F[r:].copy()
        self._head = 0
        return max(gamma_quantile(null, 1.0 - alpha), float(null.max()))

    def scores(self, F: np.ndarray, at: np.ndarray) -> np.ndarray:
        """The MMD² the window would have after taking the rows of features ``F`` in order,
        just after each row ``at`` (ascending indices into ``F``): the windows' sums are
        products of 0/1 band matrices (a row per test) with the window's rows and ``F``'s, so
        a record's tests cost two products. Nothing is taken (:meth:`push`)."""
        w = len(self._window)
        ends = np.asarray(at)[:, None] + w + 1  # in the window's rows, oldest first, then F's
        age = (np.arange(w) - self._head) % w  # each slot's place, oldest first
        in_window = ((age >= ends - w) & (age < ends)).astype(np.float32)
        cols = np.arange(len(F)) + w
        in_f = ((cols >= ends - w) & (cols < ends)).astype(np.float32)
        sums = in_window @ self._window + in_f @ F
        gap = sums.astype(np.float64) / w - self._reference_mean
        return np.einsum("ij,ij->i", gap, gap)

    def push(self, F: np.ndarray) -> None:
        """Rows' features ``F`` into the window, in order (the oldest leave)."""
        w = len(self._window)
        new = F[-w:]
        self._window[(self._head + np.arange(len(new))) % w] = new
        self._head = (self._head + len(new)) % w


def median_bandwidth(A: np.ndarray, B: np.ndarray, pairs: int = 10_000) -> float:
    """``sigma2`` by the median heuristic: half the median squared distance between a row of
    ``A`` and a row of ``B``, over about ``pairs`` of them (evenly spaced rows of each: a
    sample of a pool's pairs, without gathering a triangle)."""
    side = max(1, math.isqrt(pairs))
    A, B = A[:: max(1, len(A) // side)], B[:: max(1, len(B) // side)]
    return max(float(np.median(squared_distances(A, B))) / 2.0, 1e-6)


PARTS_AT_ONCE = 100
"""Random parts drawn and multiplied at a time: small arrays, reused by the allocator (500 at
once took ~2x as long, mostly in fresh pages)."""


def chunks(total: int, size: int) -> list[int]:
    """``total`` as counts of at most ``size``."""
    return [min(size, total - k) for k in range(0, total, size)]


def random_parts(n: int, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, n) float32: each row marks ``size`` of ``n`` items drawn without replacement
    (those of the ``size`` smallest of ``n`` uniform float32 keys; a tie at the boundary, one
    row in ~``2**24 / n``, marks one more). Drawn in several calls, the rows are the same:
    the generator fills the keys in order."""
    keys = rng.random((count, n), dtype=np.float32)
    kth = np.partition(keys, size - 1, axis=1)[:, size - 1 : size]
    return (keys <= kth).astype(np.float32)


def gamma_quantile(null: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a gamma fitted to ``null`` by its mean and variance (what
    ``scipy.stats.gamma.ppf`` computes, without its ~3 ms of argument handling)."""
    mean, var = float(null.mean()), float(null.var())
    if mean <= 0 or var <= 0:
        return float(null.max())
    return float(var / mean * special.gammaincinv(mean * mean / var, q))
