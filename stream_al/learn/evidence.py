"""The Laplace evidence of the labels for an L2 penalty: fit against complexity, on every label.

For a Gaussian prior ``N(0, I / l2)`` on the weights ``W`` (the intercepts flat) and the
learner's penalised loss on the *summed* log-loss (``sum_i CE_i + l2/2 ||W||^2``,
stream_al/learn/objective.py), the Laplace approximation of the marginal likelihood is, up to a
constant that does not depend on ``l2``::

    log p(y | l2) ~ sum_i log p(y_i | x_i, W*) - l2/2 ||W*||^2 - 1/2 log det(I + H / l2)

with ``W*`` the penalised fit at ``l2`` and ``H`` the Hessian of the summed log-loss in ``W``
(``(d/2) log l2 - 1/2 log det(H + l2 I)`` written as one term). It scores each penalty on all
the labels, by how well the fit explains them against how much the labels had to move the
weights from the prior, so it needs no held-out rows: :func:`evidence_path` fits once per grid
value on every row (one warm-started path), not once per fold.

``H`` is ``sum_i (diag(p_i) - p_i p_i^T) (x) x_i x_i^T``, (dk)x(dk). Two classes: exact, in
the one direction the softmax's two rows can differ (``log det(I + 2 X^T diag(p(1-p)) X / l2)``,
the other direction has no curvature), through the smaller of the n x n and d x d Gram
matrices. More classes: exact too, the class blocks ``X^T diag(p_c) X`` and a rank-n correction
for the cross-class terms (:func:`_softmax_log_det`), about ``k min(n, d)^2 max(n, d)`` per
value. Cheaper approximations were tried and dropped: the per-class blocks
``X^T diag(p_c (1 - p_c)) X`` alone, or their diagonals in the basis of ``X``'s singular
vectors, overstate the log det by 20-50% at weak penalties (k = 3-10, 40-60 rows), i.e. they
lean to strong penalties. The intercepts' curvature is left out (their prior is flat).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(m, 1, (30, 3)) for m in (-0.5, 0.5)])
>>> y = np.repeat([0, 1], 30)
>>> path = evidence_path(X, y, 2, (100.0, 1.0, 0.01))
>>> int(np.argmax(path.evidence))  # the middle value: 100 underfits, 0.01 overfits
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import log_softmax

from stream_al.learn.objective import fit_softmax


@dataclass(frozen=True)
class EvidencePath:
    """Per grid value (in the order given): the log evidence, the accuracy on the rows fitted,
    and whether the fit predicts two classes or more on them."""

    evidence: np.ndarray
    accuracy: np.ndarray
    several: np.ndarray


def evidence_path(X: np.ndarray, y: np.ndarray, k: int, grid: Sequence[float],
                  W0: np.ndarray | None = None, b0: np.ndarray | None = None,
                  max_iter: int = 100) -> EvidencePath:
    """Fit rows ``X`` with class indices ``y`` (of ``k``) at each ``l2`` of ``grid`` in turn,
    each fit warm-started from the previous one (the first from ``(W0, b0)``), and score each
    by :func:`log_evidence`. Only the classes among ``y`` are fitted (an absent class's
    intercept would run off to -inf)."""
    present = np.unique(y)
    index = np.full(k, -1)
    index[present] = np.arange(len(present))
    yi, m = index[y], len(present)
    X32 = np.asarray(X, dtype=np.float32)
    W = np.zeros((m, X.shape[1])) if W0 is None else np.asarray(W0)[present]
    b = np.zeros(m) if b0 is None else np.asarray(b0)[present]
    evidence, accuracy, several = (np.zeros(len(grid)), np.zeros(len(grid)),
                                   np.zeros(len(grid), dtype=bool))
    for j, l2 in enumerate(grid):
        W, b = fit_softmax(X32, yi, m, np.ones(len(y)), l2, W, b, max_iter)
        logp = log_softmax(np.asarray(X, dtype=np.float64) @ W.T + b, axis=1)
        predicted = logp.argmax(axis=1)
        evidence[j] = log_evidence(X, yi, W, logp, l2)
        accuracy[j] = float(np.mean(predicted == yi))
        several[j] = len(np.unique(predicted)) >= 2
    return EvidencePath(evidence, accuracy, several)


def log_evidence(X: np.ndarray, y: np.ndarray, W: np.ndarray, logp: np.ndarray,
                 l2: float) -> float:
    """The Laplace log evidence (up to a constant) of labels ``y`` at the penalised fit ``W``
    whose log-probabilities on rows ``X`` are ``logp``."""
    fit = float(logp[np.arange(len(y)), y].sum())
    penalty = 0.5 * l2 * float((W * W).sum())
    return fit - penalty - 0.5 * _log_det(X, np.exp(logp), l2)


def _log_det(X: np.ndarray, P: np.ndarray, l2: float) -> float:
    """``log det(I + H / l2)`` for the log-loss Hessian ``H`` at probabilities ``P`` (see the
    module's docstring)."""
    X = np.asarray(X, dtype=np.float64)
    if P.shape[1] == 1:
        return 0.0
    if P.shape[1] == 2:
        return _weighted_log_det(X, 2 * P[:, 0] * P[:, 1], l2)
    return _softmax_log_det(X, P, l2)


def _weighted_log_det(X: np.ndarray, w: np.ndarray, l2: float) -> float:
    """``log det(I + X^T diag(w) X / l2)``, through the smaller Gram matrix (Sylvester)."""
    S = X * np.sqrt(w)[:, None]
    G = S @ S.T if len(X) <= X.shape[1] else S.T @ S
    L = np.linalg.cholesky(np.eye(len(G)) + G / l2)
    return 2.0 * float(np.log(np.diag(L)).sum())


def _softmax_log_det(X: np.ndarray, P: np.ndarray, l2: float) -> float:
    """``log det(I + H / l2)`` for ``H = sum_i (diag(p_i) - p_i p_i^T) (x) x_i x_i^T``: the
    class blocks ``B_c = X^T diag(p_c) X`` (:func:`_weighted_log_det`), then the rank-n
    correction ``-Q^T Q`` (rows ``p_i (x) x_i``) by the determinant lemma:
    ``log det(I_n - sum_c diag(p_c) X (l2 I + B_c)^{-1} X^T diag(p_c))``. Each class's
    ``X (l2 I + B_c)^{-1} X^T`` through the smaller side (Woodbury when n <= d)."""
    n, d = X.shape
    K = X @ X.T if n <= d else None
    total, M = 0.0, np.zeros((n, n))
    for p in P.T:
        s = np.sqrt(p)
        if K is not None:  # (K - K S (l2 I + S K S)^{-1} S K) / l2, S = diag(sqrt(p))
            L = np.linalg.cholesky(l2 * np.eye(n) + s[:, None] * K * s[None, :])
            total += 2.0 * float(np.log(np.diag(L)).sum()) - n * np.log(l2)
            T = solve_triangular(L, s[:, None] * K, lower=True)
            inner = (K - T.T @ T) / l2
        else:
            L = np.linalg.cholesky(l2 * np.eye(d) + (X * p[:, None]).T @ X)
            total += 2.0 * float(np.log(np.diag(L)).sum()) - d * np.log(l2)
            T = solve_triangular(L, X.T, lower=True)
            inner = T.T @ T
        M += p[:, None] * inner * p[None, :]
    sign, correction = np.linalg.slogdet(np.eye(n) - M)
    return total + float(correction)
