"""Multinomial logistic regression that learns incrementally from a replay memory.

Labels are few and expensive, so every label is kept (up to ``memory``) and each update
warm-starts L-BFGS from the previous weights over the memory. That gives the quality of a
refit logistic regression at the cost of a few dozen gradient steps per update, and new
classes can appear at any time (a zero row is added for them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import log_softmax, softmax

from stream_al.learn.lbfgs import minimize_lbfgs


class OnlineSoftmax:
    """Incremental multiclass probabilistic classifier on dense features.

    >>> import numpy as np
    >>> m = OnlineSoftmax(dim=2, l2=0.01, seed=0)
    >>> m.learn_many(np.array([[1, 0], [0, 1]], dtype=np.float32), ["a", "b"])
    >>> m.classes
    ['a', 'b']
    >>> m.predict_proba_many(np.array([[1, 0]], dtype=np.float32)).argmax()
    0
    """

    def __init__(
        self,
        dim: int,
        l2: float = 0.05,
        max_iter: int = 60,
        memory: int = 50_000,
        seed: int = 0,
        bootstrap: bool = False,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.l2 = l2
        self.max_iter = max_iter
        self.memory = memory
        self.bootstrap = bootstrap
        self._rng = np.random.default_rng(seed)
        self.classes: list[str] = []
        self._class_index: dict[str, int] = {}
        self.W = np.zeros((0, dim), dtype=np.float64)
        self.b = np.zeros(0, dtype=np.float64)
        self._X = np.zeros((0, dim), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int64)
        self._w = np.zeros(0, dtype=np.float64)
        self._n = 0
        self._seen = 0

    # ---- learning -------------------------------------------------------------------------
    def learn_one(self, x: np.ndarray, label: str) -> None:
        self.learn_many(np.asarray(x, dtype=np.float32).reshape(1, -1), [label])

    def learn_many(self, X: np.ndarray, labels: Sequence[str]) -> None:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"expected features of shape (n, {self.dim}), got {X.shape}")
        if len(labels) != X.shape[0]:
            raise ValueError(f"{X.shape[0]} feature rows but {len(labels)} labels")
        if not len(labels):
            return
        y = np.array([self._index_of(str(label)) for label in labels], dtype=np.int64)
        weights = (
            self._rng.poisson(1.0, size=len(y)).astype(np.float64)
            if self.bootstrap
            else np.ones(len(y))
        )
        self._remember(X, y, weights)
        if len(self.classes) >= 2:
            self._fit()

    def _index_of(self, label: str) -> int:
        idx = self._class_index.get(label)
        if idx is None:
            idx = len(self.classes)
            self.classes.append(label)
            self._class_index[label] = idx
            self.W = np.vstack([self.W, np.zeros((1, self.dim))])
            self.b = np.append(self.b, 0.0)
        return idx

    def _remember(self, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Append to the replay memory; beyond ``memory`` rows, keep a uniform reservoir."""
        for row in range(len(y)):
            self._seen += 1
            n = self._n
            if n < self.memory:
                if n == len(self._y):
                    self._grow(min(self.memory, max(64, 2 * n)))
                self._X[n], self._y[n], self._w[n] = X[row], y[row], w[row]
                self._n += 1
                continue
            slot = int(self._rng.integers(0, self._seen))
            if slot < self.memory:
                self._X[slot], self._y[slot], self._w[slot] = X[row], y[row], w[row]

    def _grow(self, capacity: int) -> None:
        extra = capacity - len(self._y)
        self._X = np.vstack([self._X, np.zeros((extra, self.dim), dtype=np.float32)])
        self._y = np.concatenate([self._y, np.zeros(extra, dtype=np.int64)])
        self._w = np.concatenate([self._w, np.zeros(extra)])

    def _fit(self) -> None:
        """Warm-started L-BFGS on the replay memory (float32 maths: BLAS is much faster)."""
        k, d = self.W.shape
        n = self._n
        X = self._X[:n]
        Y = np.zeros((n, k), dtype=np.float32)
        Y[np.arange(n), self._y[:n]] = 1.0
        sw = self._w[:n].astype(np.float32)
        total = float(max(sw.sum(), 1.0))
        lam = self.l2 / total

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W = theta[: k * d].reshape(k, d).astype(np.float32)
            b = theta[k * d :].astype(np.float32)
            logp = log_softmax(X @ W.T + b, axis=1)
            loss = -float((sw[:, None] * Y * logp).sum()) / total + 0.5 * lam * float((W * W).sum())
            err = (np.exp(logp) - Y) * (sw[:, None] / total)
            gW = err.T @ X + lam * W
            return loss, np.concatenate([gW.ravel(), err.sum(axis=0)]).astype(np.float64)

        theta0 = np.concatenate([self.W.ravel(), self.b])
        theta = minimize_lbfgs(loss_grad, theta0, max_iter=self.max_iter)
        self.W = theta[: k * d].reshape(k, d)
        self.b = theta[k * d :]

    # ---- prediction -----------------------------------------------------------------------
    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns in the order of :attr:`classes`."""
        X = np.asarray(X, dtype=np.float32)
        if not self.classes:
            return np.zeros((X.shape[0], 0), dtype=np.float32)
        return softmax(X @ self.W.T.astype(np.float32) + self.b.astype(np.float32), axis=1)

    @property
    def n_labels(self) -> int:
        return self._seen
