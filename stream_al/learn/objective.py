"""The penalised multinomial log-loss that every model of the learner minimises, and its fit.

``l2`` penalises the *summed* loss: ``sum_i w_i * CE_i + l2/2 * ||W||^2`` (the intercept is
not penalised), so ``l2 = 1 / C`` in scikit-learn's terms. Maths in float32 (BLAS is much
faster); L-BFGS in float64.

>>> import numpy as np
>>> X = np.array([[1, 0], [0, 1]], dtype=np.float32)
>>> W, b = fit_softmax(X, np.array([0, 1]), 2, np.ones(2), 1.0, np.zeros((2, 2)), np.zeros(2))
>>> int((X @ W.T + b)[0].argmax()), int((X @ W.T + b)[1].argmax())
(0, 1)
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from stream_al.learn.lbfgs import minimize_lbfgs


def fit_softmax(X: np.ndarray, y: np.ndarray, k: int, sw: np.ndarray, l2: float,
                W0: np.ndarray, b0: np.ndarray, max_iter: int = 60,
                gtol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(W, b)`` of shape (k, d), (k,) minimising the penalised loss on rows ``X``
    with class indices ``y`` and row weights ``sw``, warm-started from ``(W0, b0)``."""
    n, d = X.shape
    X = np.asarray(X, dtype=np.float32)
    Y = np.zeros((n, k), dtype=np.float32)
    Y[np.arange(n), y] = 1.0
    sw = np.asarray(sw, dtype=np.float32)
    total = float(max(sw.sum(), 1.0))
    lam = l2 / total  # the mean-loss form: better scaled for the optimiser's tolerance
    wcol = (sw / total)[:, None]

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: k * d].reshape(k, d).astype(np.float32)
        b = theta[k * d :].astype(np.float32)
        logp = log_softmax(X @ W.T + b, axis=1)
        loss = -float((wcol * Y * logp).sum()) + 0.5 * lam * float((W * W).sum())
        err = (np.exp(logp) - Y) * wcol
        gW = err.T @ X + lam * W
        return loss, np.concatenate([gW.ravel(), err.sum(axis=0)]).astype(np.float64)

    theta0 = np.concatenate([np.asarray(W0, dtype=np.float64).ravel(), b0])
    theta = minimize_lbfgs(loss_grad, theta0, max_iter=max_iter, gtol=gtol)
    return theta[: k * d].reshape(k, d), theta[k * d :]
