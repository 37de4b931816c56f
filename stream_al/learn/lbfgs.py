"""A small L-BFGS for smooth unconstrained problems of tens of thousands of variables.

scipy's L-BFGS-B spent ~5 ms per iteration in its Fortran driver (bound handling) on our
30k-parameter softmax problems, 90% of the simulator's time; the two-loop recursion below
costs microseconds. Armijo backtracking; stops on a small gradient or ``max_iter``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def minimize_lbfgs(fun: Objective, x0: np.ndarray, max_iter: int = 60, memory: int = 10,
                   gtol: float = 1e-5) -> np.ndarray:
    """Minimise ``fun`` (returning value and gradient) from ``x0``; return the best point."""
    x = np.asarray(x0, dtype=np.float64).copy()
    f, g = fun(x)
    history: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
    for _ in range(max_iter):
        if np.abs(g).max() < gtol:
            break
        d = -_two_loop(g, history)
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            history.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0 if history else min(1.0, 1.0 / max(np.abs(g).sum(), 1e-12))
        for _ in range(20):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s, yv = x_new - x, g_new - g
        sy = float(s @ yv)
        if sy > 1e-10:
            history.append((s, yv, 1.0 / sy))
        x, f, g = x_new, f_new, g_new
    return x


def _two_loop(g: np.ndarray, history: deque[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(history):
        a = rho * float(s @ q)
        alphas.append(a)
        q -= a * y
    if history:
        s, y, _ = history[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), a in zip(history, reversed(alphas), strict=True):
        b = rho * float(y @ q)
        q += (a - b) * s
    return q
