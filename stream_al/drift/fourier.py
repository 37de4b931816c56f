"""Random Fourier features of the embedding drift test's kernel: MMD² as a distance of means.

For a shift-invariant kernel k, ``phi(x) = sqrt(2 / D) cos(x W + b)`` with the columns of ``W``
drawn from k's spectral density and ``b`` uniform on [0, 2 pi) has ``phi(x) . phi(y) ~= k(x, y)``
(Rahimi & Recht 2007), so the MMD² of two samples is about the squared distance between their
mean features. A mean is a sum and a count: whoever holds some of the rows (a scorer) can send
the sum of their features, and whoever gathers the sums (the coordinator) can test the whole
stream at O(``D``) per block of rows (stream_al/drift/forwarded.py).

The ``rbf`` kernel here is the mean of rbf kernels of bandwidths sigma² in :data:`SCALES`
(its spectral density is the mixture of theirs: column j is drawn at scale ``j mod 4``). They
are fixed by the geometry of the rows, not tuned to one data set: every embedder's rows are
unit vectors (embed/base.py), two of them lie 0-2 apart (squared: 0-4), and on the streams
measured the median squared distance is 1.0-1.6 (the median heuristic's sigma² 0.5-0.8; the
coordinator's own test measures it per reference). Scorers and coordinator need the same
features without talking to each other: the same ``seed``, the same draws. With the ``linear``
kernel the features are the rows as the test reads them (through ``drift.project``): MMD² is
then the distance between the windows' centroids, as in
:class:`~stream_al.drift.embedding.EmbeddingDrift`.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2, 16)).astype(np.float32)
>>> X /= np.linalg.norm(X, axis=1, keepdims=True)
>>> F = FourierFeatures(4096, "rbf", seed=0).many(X)
>>> exact = np.mean([np.exp(-((X[0] - X[1]) ** 2).sum() / (2 * s)) for s in SCALES])
>>> bool(abs(F[0] @ F[1] - exact) < 0.03), F.shape
(True, (2, 4096))
"""

from __future__ import annotations

import math

import numpy as np

from stream_al.drift.embedding import EmbeddingDrift

SCALES = (0.25, 0.5, 1.0, 2.0)
"""sigma² of the rbf kernels whose mean the ``rbf`` features stand for (module docstring)."""


class FourierFeatures:
    """The feature map of the drift test's kernel; :meth:`many` gives (n, :attr:`dim`) rows."""

    def __init__(self, features: int = 128, kernel: str = "rbf", seed: int = 0,
                 project: int = 64) -> None:
        """``features``: D of the rbf map; ``project``: the linear map's projection
        (``drift.project``; 0: the rows as they are). Drawn from ``[seed, 3]`` (rbf) or as
        :meth:`EmbeddingDrift.projection` draws (linear) when the first rows say their width."""
        if features < 1:
            raise ValueError(f"drift features must be >= 1, got {features}")
        self.features = features
        self.kernel = kernel
        self._test = EmbeddingDrift(kernel=kernel, seed=seed, project=project)
        """Its projection, for the linear map."""
        self._seed = seed
        self._W: np.ndarray | None = None
        self._b = np.zeros(0, dtype=np.float32)

    def dim_of(self, width: int) -> int:
        """:attr:`dim` for rows of ``width`` dimensions."""
        if self.kernel == "rbf":
            return self.features
        projection = self._test.projection(width)
        return width if projection is None else projection.shape[1]

    def many(self, X: np.ndarray) -> np.ndarray:
        """The features of rows ``X`` (n, d) as float32 (n, :meth:`dim_of` d)."""
        X = np.asarray(X, dtype=np.float32)
        if self.kernel != "rbf":
            return self._test.projected(X)
        W = self._weights(X.shape[1])
        Z = X @ W
        Z += self._b
        np.cos(Z, out=Z)
        Z *= math.sqrt(2.0 / self.features)
        return Z

    def _weights(self, width: int) -> np.ndarray:
        if self._W is None or len(self._W) != width:
            rng = np.random.default_rng([self._seed, 3])
            sigma = np.sqrt(np.resize(np.asarray(SCALES), self.features))
            self._W = (rng.standard_normal((width, self.features)) / sigma).astype(np.float32)
            self._b = rng.uniform(0.0, 2.0 * math.pi, self.features).astype(np.float32)
        return self._W


class FeatureRegion:
    """Where the stream moved, in the features' space: the witness function of the test of the
    means, ``phi(x) . (mean phi(recent) - mean phi(reference))`` (the MMD witness of the
    features' kernel, Gretton et al. 2012), scaled so that the largest excess among
    ``recent`` rows (a sample of the recent window) weighs 1. It needs the two means, not the
    windows' rows: :meth:`weight_many` costs one feature row per item."""

    def __init__(self, features: FourierFeatures, shift: np.ndarray, recent: np.ndarray) -> None:
        """``shift``: the recent window's mean features less the reference's."""
        self.features = features
        self.shift = np.asarray(shift, dtype=np.float32)
        self._scale = max(float(np.abs(self.witness_many(recent)).max()), 1e-12) \
            if len(recent) else 1.0

    def witness_many(self, X: np.ndarray) -> np.ndarray:
        return self.features.many(X) @ self.shift

    def weight_many(self, X: np.ndarray) -> np.ndarray:
        w = self.witness_many(X) / self._scale
        return (0.5 + 0.5 * np.clip(w, -1.0, 1.0)).astype(np.float32)
