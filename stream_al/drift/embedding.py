"""Drift of the stream's embedding distribution: a kernel two-sample test on sliding windows.

The statistic is the maximum mean discrepancy (MMD², Gretton et al. 2012; biased V-statistic)
between the ``window_items`` most recent embeddings and a reference window of
``reference_items`` embeddings taken when the detector (re)started. With the ``linear``
kernel it is the squared distance between the two windows' centroids; the ``rbf`` kernel
(bandwidth by the median heuristic on the reference) also sees changes that keep the centroid.

The alarm threshold is not a constant: when the reference is complete, the detector permutes
the reference plus the first recent window (all drawn before any alarm, so exchangeable under
"no drift") into reference-sized and window-sized parts ``permutations`` times, fits a gamma
distribution to those null statistics (Gretton et al. 2009) and takes its ``1 - alpha``
quantile (never below the largest permuted statistic). A test runs every ``check_every`` items;
``patience`` consecutive tests over the threshold raise an alarm, after which the detector
collects a new reference from the items that follow.

With ``project`` > 0 (the default, 64) the detector reads each embedding through a fixed, seeded Gaussian random
projection to ``project`` dimensions (Johnson-Lindenstrauss: each squared distance is kept in
expectation, with a relative spread of about sqrt(2 / project), 18% at 64), so every kernel row
costs ``project`` instead of ``d`` multiply-adds per reference and window item (issue 17: the
windows' kernel rows took ~8 us per candidate at 256 dimensions, ~4.5 at 64). The windows stay
the same size, so the delay is bounded as before; what the projection can lose is power against
a shift that moves few directions (benchmarks/README.md, "Issue 17, ninth pass").

With ``frequencies`` > 0 (rbf only; ``drift.frequencies``, 64 by default in the settings, 0 in
this class) the statistic is computed through that many random Fourier frequencies of the
kernel (stream_al/drift/fourier_mmd.py): a new row costs its features instead of kernel rows
against both windows, and the threshold is calibrated on the same statistic. At 64 the first
alarm came at the same stream text as the exact kernel's in 14 of 15 drifting runs (150 texts
later in one) with no more false alarms, at ~1.35x the coordinator's ceiling
(benchmarks/README.md, "the embedding drift test at the coordinator, in linear time").

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
>>> before = unit(rng.normal(size=(900, 8)) + [3, 0, 0, 0, 0, 0, 0, 0])
>>> after = unit(rng.normal(size=(300, 8)) + [0, 3, 0, 0, 0, 0, 0, 0])
>>> detector = EmbeddingDrift(reference_items=300, window_items=100, check_every=25, seed=0)
>>> detector.update_many(before, start=0)
[]
>>> [a.position for a in detector.update_many(after, start=900)]
[949]
"""

from __future__ import annotations

import math

import numpy as np

from stream_al.config import DriftSettings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.fourier_mmd import FourierMMD, gamma_quantile
from stream_al.index.products import dot_rows, squared_distances

KERNELS = ("rbf", "linear")


class EmbeddingDrift:
    """MMD² of the recent window against a reference window, with a permutation threshold."""

    name = "embedding_mmd"

    def __init__(self, reference_items: int = 400, window_items: int = 200,
                 check_every: int = 50, kernel: str = "rbf", alpha: float = 1e-4,
                 permutations: int = 500, patience: int = 2, seed: int = 0,
                 project: int = 64, frequencies: int = 0) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"drift kernel must be one of {KERNELS}, got {kernel!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"drift alpha must be in (0, 1), got {alpha}")
        if min(reference_items, window_items, check_every, permutations, patience) < 1:
            raise ValueError("drift window sizes, check_every, permutations and patience "
                             "must be >= 1")
        if project < 0:
            raise ValueError(f"drift project must be >= 0 (0: no projection), got {project}")
        if frequencies < 0 or (frequencies and kernel != "rbf"):
            raise ValueError(f"drift frequencies must be >= 0, and 0 with the linear kernel (its "
                             f"MMD² is already a distance of means), got {frequencies}")
        self.reference_items = reference_items
        self.window_items = window_items
        self.check_every = check_every
        self.kernel = kernel
        self.alpha = alpha
        self.permutations = permutations
        self.patience = patience
        self.project = project
        self.frequencies = frequencies
        self._projection: np.ndarray | None = None
        """(d, project), drawn from ``[seed, 2]`` when the first rows say ``d``."""
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self.region: DriftRegion | None = None
        self.reset()

    def reset(self) -> None:
        self._pool: list[np.ndarray] = []
        self._pool_n = 0
        self._reference: np.ndarray | None = None
        self._ref_self = 0.0
        self._sigma2 = 1.0
        self._recent: np.ndarray | None = None
        self._recent_n = 0
        self._head = 0
        self._to_reference = np.zeros(0)
        """Per window slot: the mean kernel of its row against the reference."""
        self._within = np.zeros((0, 0))
        """Kernel between every two window slots (kept up to date row by row)."""
        self._reference_sq = np.zeros(0, dtype=np.float32)
        self._recent_sq = np.zeros(0, dtype=np.float32)
        """Squared norms of the reference rows and of each window slot (rbf: computed once per
        row, not once per kernel)."""
        self._since_check = 0
        self._streak = 0
        self.threshold = math.nan
        self._score = 0.0
        self._fourier = FourierMMD(self.frequencies, self._seed) if self.frequencies else None
        """With ``frequencies``: the statistic through random Fourier features (then the
        kernel rows above stay empty)."""

    @classmethod
    def from_settings(cls, s: DriftSettings) -> EmbeddingDrift:
        """The test ``drift`` settings describe (the coordinator's, and each scorer's with
        ``scale.drift_at_scorers``: the same seed, so the same projection). ``frequencies``
        reaches the rbf kernel only: the linear kernel's MMD² is already a distance of means."""
        return cls(s.reference_items, s.window_items, s.check_every, s.kernel, s.alpha,
                   s.permutations, s.patience, s.seed, s.project,
                   s.frequencies if s.kernel == "rbf" else 0)

    @property
    def ready(self) -> bool:
        """True once the reference is complete and the threshold calibrated."""
        return self._reference is not None

    @property
    def score(self) -> float:
        """The latest MMD² (0 while a reference is being collected)."""
        return self._score

    def update_many(self, values: np.ndarray, start: int) -> list[DriftAlarm]:
        X = np.asarray(values, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"embedding drift needs rows of shape (n, d), got {X.shape}")
        X = self.projected(X)
        alarms: list[DriftAlarm] = []
        i = 0
        while i < len(X):
            if self._reference is None:
                take = min(len(X) - i, self.reference_items + self.window_items - self._pool_n)
                self._pool.append(X[i : i + take])
                self._pool_n += take
                i += take
                if self._pool_n == self.reference_items + self.window_items:
                    self._calibrate(np.vstack(self._pool))
                continue
            if self._fourier is not None:
                i = self._take_fourier(X, i, start, alarms)
                continue
            take = min(len(X) - i, self.check_every - self._since_check)
            self._push(X[i : i + take])
            i += take
            self._since_check += take
            if self._since_check < self.check_every:
                continue
            self._since_check = 0
            if self._recent_n >= self.window_items and self._test():
                alarms.append(DriftAlarm(self.name, self._score, self.threshold, start + i - 1))
                self.reset()
        return alarms

    def update_one(self, x: np.ndarray, position: int) -> list[DriftAlarm]:
        return self.update_many(np.asarray(x, dtype=np.float32).reshape(1, -1), position)

    def projected(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the detector reads it: through its random projection if ``project`` > 0
        and below ``X``'s dimension, else as it is."""
        projection = self.projection(X.shape[1])
        return X if projection is None else X @ projection

    def projection(self, dim: int) -> np.ndarray | None:
        """The (``dim``, ``project``) matrix rows of ``dim`` dimensions are read through, or
        None when projecting would not shrink them (drawn once, from ``[seed, 2]``)."""
        if not 0 < self.project < dim:
            return None
        if self._projection is None or len(self._projection) != dim:
            rng = np.random.default_rng([self._seed, 2])
            self._projection = (rng.standard_normal((dim, self.project))
                                / math.sqrt(self.project)).astype(np.float32)
        return self._projection

    # ---- internals ------------------------------------------------------------------------
    def _gram(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return gram(A, B, self.kernel, self._sigma2)

    def _calibrate(self, pool: np.ndarray) -> None:
        """Reference, bandwidth and threshold from ``pool`` (reference + one window)."""
        n, w = len(pool), self.window_items
        r = n - w
        if self._fourier is not None:
            self.threshold = self._fourier.calibrate(pool, w, self.permutations, self._rng,
                                                     self.alpha)
            self._sigma2 = self._fourier.sigma2
            self._reference = pool[:r].copy()
            self._start_window(pool.shape[1])
            self._ring(pool[r:])
            return
        if self.kernel == "rbf":
            sq = squared_distances(pool, pool)[np.triu_indices(n, 1)]
            self._sigma2 = max(float(np.median(sq)) / 2.0, 1e-6)
        K = self._gram(pool, pool).astype(np.float64)
        Z = np.zeros((n, self.permutations))
        for b in range(self.permutations):  # column b marks a random window-sized part
            Z[self._rng.choice(n, w, replace=False), b] = 1.0
        total, row_sums = K.sum(), K.sum(axis=1)
        in_window = np.einsum("ib,ib->b", Z, K @ Z)  # sum of K over window x window
        to_all = Z.T @ row_sums  # sum of K over window x everything
        null = (in_window / w**2 + (total - 2 * to_all + in_window) / r**2
                - 2 * (to_all - in_window) / (r * w))
        self.threshold = max(gamma_quantile(null, 1.0 - self.alpha), float(null.max()))
        self._reference = pool[:r].copy()
        self._reference_sq = (self._reference * self._reference).sum(axis=1)
        self._ref_self = float(K[:r, :r].mean())
        self._start_window(pool.shape[1])
        self._recent_sq = np.zeros(w, dtype=np.float32)
        self._to_reference = np.zeros(w)
        self._within = np.zeros((w, w))
        self._push(pool[r:])  # the calibration window is the first recent window

    def _start_window(self, dim: int) -> None:
        self._pool, self._pool_n = [], 0
        self._recent = np.zeros((self.window_items, dim), dtype=np.float32)

    def _ring(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The last ``window_items`` of ``rows`` into the window's ring: them and their slots."""
        assert self._recent is not None
        w = self.window_items
        new = rows[-w:]
        slots = (self._head + np.arange(len(new))) % w
        self._recent[slots] = new
        self._head = (self._head + len(new)) % w
        self._recent_n = min(w, self._recent_n + len(rows))
        return new, slots

    def _take_fourier(self, X: np.ndarray, i: int, start: int,
                      alarms: list[DriftAlarm]) -> int:
        """Rows ``X[i:]`` through the Fourier test: their features in one product, a test
        after every ``check_every``-th on the window's sums; they are taken up to the end or
        to an alarm's row (then the detector restarts). Returns the index after the last."""
        assert self._fourier is not None and self._reference is not None
        rows = X[i:]
        F = self._fourier.features(rows)
        at = np.arange(self.check_every - self._since_check - 1, len(rows), self.check_every)
        taken, raised = len(rows), False
        for k, score in zip(at.tolist(), self._fourier.scores(F, at).tolist(), strict=True):
            self._score = score
            self._streak = self._streak + 1 if score > self.threshold else 0
            if self._streak >= self.patience:
                taken, raised = k + 1, True
                break
        self._ring(rows[:taken])
        self._fourier.push(F[:taken])
        self._since_check = (self._since_check + taken) % self.check_every
        if raised:
            assert self._recent is not None
            self.region = DriftRegion(self._reference, self._recent.copy(), self.kernel,
                                      self._sigma2, self._projection if self.project else None)
            alarms.append(DriftAlarm(self.name, self._score, self.threshold,
                                     start + i + taken - 1))
            self.reset()
        return i + taken

    def _push(self, rows: np.ndarray) -> None:
        """Rows into the window's ring; only their kernels are computed (a test then costs a
        mean, not the window's whole Gram matrices: 4x fewer kernel values at the defaults)."""
        assert self._recent is not None and self._reference is not None
        new, slots = self._ring(rows)
        if self.kernel == "rbf":
            sq = (new * new).sum(axis=1)
            self._recent_sq[slots] = sq
            self._to_reference[slots] = _rbf(new, sq, self._reference, self._reference_sq,
                                             self._sigma2).mean(axis=1)
            k = _rbf(new, sq, self._recent, self._recent_sq, self._sigma2)
        else:
            self._to_reference[slots] = self._gram(new, self._reference).mean(axis=1)
            k = self._gram(new, self._recent)
        self._within[slots, :] = k
        self._within[:, slots] = k.T

    def _test(self) -> bool:
        assert self._reference is not None and self._recent is not None
        Y = self._recent
        self._score = float(self._ref_self + self._within.mean() - 2.0 * self._to_reference.mean())
        self._streak = self._streak + 1 if self._score > self.threshold else 0
        if self._streak < self.patience:
            return False
        self.region = DriftRegion(self._reference, Y.copy(), self.kernel, self._sigma2,
                                  self._projection if self.project else None)
        return True


class DriftRegion:
    """Where the stream moved: the MMD witness function of the window that raised an alarm.

    ``weight_many`` is 1 where the recent window has the most excess mass over the reference,
    0 where it lost the most, 0.5 where nothing changed; the drift response uses it to aim
    exploration at the drifting region.
    """

    def __init__(self, reference: np.ndarray, recent: np.ndarray, kernel: str,
                 sigma2: float, projection: np.ndarray | None = None) -> None:
        """``projection``: the detector's random projection, which ``reference`` and
        ``recent`` were read through (None: none)."""
        self.projection = projection
        self.reference = reference
        self.recent = recent
        self.kernel = kernel
        self.sigma2 = sigma2
        self._scale = max(float(np.abs(self._witness(recent)).max()), 1e-12)

    def witness_many(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        return self._witness(X if self.projection is None else X @ self.projection)

    def _witness(self, X: np.ndarray) -> np.ndarray:
        return (gram(X, self.recent, self.kernel, self.sigma2).mean(axis=1)
                - gram(X, self.reference, self.kernel, self.sigma2).mean(axis=1))

    def weight_many(self, X: np.ndarray) -> np.ndarray:
        w = self.witness_many(X) / self._scale
        return (0.5 + 0.5 * np.clip(w, -1.0, 1.0)).astype(np.float32)


def _rbf(A: np.ndarray, a_sq: np.ndarray, B: np.ndarray, b_sq: np.ndarray,
         sigma2: float) -> np.ndarray:
    """:func:`gram` (rbf) of rows whose squared norms are known: the same arithmetic, in
    place (one (m, n) array instead of five, ~6% faster per push): the same bits as
    :func:`gram`'s arithmetic on the product :func:`dot_rows` gives (which may round ``A @ B.T``
    differently in the last bit, stream_al/index/products.py)."""
    product = dot_rows(A, B)
    product *= 2.0
    sq = a_sq[:, None] + b_sq[None, :]
    sq -= product
    np.maximum(sq, 0.0, out=sq)
    np.negative(sq, out=sq)
    sq /= 2.0 * sigma2
    return np.exp(sq, out=sq)


def gram(A: np.ndarray, B: np.ndarray, kernel: str, sigma2: float) -> np.ndarray:
    if kernel == "linear":
        return A @ B.T
    return np.exp(-squared_distances(A, B) / (2.0 * sigma2))
