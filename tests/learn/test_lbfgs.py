"""The L-BFGS optimiser finds the minimum of smooth convex problems."""

import numpy as np

from stream_al.learn.lbfgs import minimize_lbfgs


def test_minimises_an_ill_conditioned_quadratic():
    scales = np.array([1.0, 10.0, 100.0, 1000.0])
    target = np.array([1.0, -2.0, 3.0, -4.0])

    def fun(x):
        r = x - target
        return float((scales * r * r).sum()), 2 * scales * r

    x = minimize_lbfgs(fun, np.zeros(4), max_iter=200, gtol=1e-9)
    np.testing.assert_allclose(x, target, atol=1e-4)


def test_never_ends_worse_than_it_started():
    def fun(x):
        return float(np.sum(x**4)), 4 * x**3

    x0 = np.full(5, 3.0)
    x = minimize_lbfgs(fun, x0, max_iter=3)
    assert fun(x)[0] <= fun(x0)[0]
