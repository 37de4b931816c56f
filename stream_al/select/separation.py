"""Picks kept apart: the next candidates in order that are not near-duplicates of a pick.

Reservoirs buy the best candidates of a cluster or a class in priority order, skipping any
within ``min_separation`` (cosine distance) of one picked before it. Tested one candidate at
a time, that is a matrix-vector product and four numpy calls per candidate (~8 us in the
coordinator's ceiling, issue 17), although a skip is rare: the ceiling's 2,000 purchases
skipped 6 candidates. :func:`picked_apart` decides as that test does, bit for bit, with one
product for all of them when it can.

>>> import numpy as np
>>> X = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 3]]  # rows 0 and 1 are one point
>>> taken = np.empty((3, 4), dtype=np.float32)
>>> picked_apart(X, [0, 1, 2, 3, 4], 3, taken, 0, 0.05)
[0, 2, 3]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stream_al.index.products import dot_rows

UNIT_ROUNDOFF = 2.0**-24
"""float32's unit roundoff: one rounding of a float32 operation errs by at most this, relatively."""
ROUNDING_SLACK = 1e-6
"""What ``1.0 - similarity`` in float32 may add to the test's error (one rounding of a number
below ~3: 2e-7), and then some."""


def picked_apart(X: np.ndarray, order: Sequence[int], k: int, taken: np.ndarray, n_taken: int,
                 min_separation: float) -> list[int]:
    """The first ``k`` rows of ``X`` in ``order`` whose cosine distance ``1 - x.y`` to each
    row of ``taken[:n_taken]`` (the picks before these) and to each row picked before them
    here is at least ``min_separation``. Each pick is written to ``taken`` after those rows.

    The decision is the one-row test ``float((1.0 - taken[:m] @ X[i]).min()) <
    min_separation`` (a skip), bit for bit. Rows are taken as they come while one product of
    the next rows against the rows taken and against each other puts every similarity so far
    below the threshold that the one-row test's own float32 product cannot reach it: two
    float32 evaluations of a dot product of ``d`` terms, in any order of summation, with or
    without fused multiply-adds, differ by at most ``2 γ_d |x| |y|`` (``γ_d = d u / (1 - d
    u)``; Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1). The first row not
    that far (a near-duplicate, or a similarity near the threshold) gets the one-row test,
    and the rows after it a product again."""
    order, picked, at = list(order), [], 0
    while len(picked) < k and at < len(order):
        m = n_taken + len(picked)
        head = order[at : at + k - len(picked)]
        taken[m : m + len(head)] = X[head]  # in place if they are all kept
        sure = _leading_apart(taken[: m + len(head)], m, min_separation)
        picked += head[:sure]
        at += sure
        if len(picked) == k or at == len(order):
            break
        i, m = order[at], n_taken + len(picked)  # the one-row test
        at += 1
        if m and float((1.0 - taken[:m] @ X[i]).min()) < min_separation:
            continue
        taken[m] = X[i]
        picked.append(i)
    return picked


def _leading_apart(rows: np.ndarray, m: int, min_separation: float) -> int:
    """How many leading rows of ``rows[m:]`` the one-row test surely keeps: each one's
    similarity to the rows before it is below the threshold by more than two float32
    evaluations of it can differ."""
    head = rows[m:]
    d = rows.shape[1]
    gamma = d * UNIT_ROUNDOFF / (1.0 - d * UNIT_ROUNDOFF)
    similarity = dot_rows(head, rows, order_free=True)  # head x (before, head)
    before_it = np.arange(len(rows)) < np.arange(m, len(rows))[:, None]
    highest = np.where(before_it, similarity, -np.inf).max(axis=1)
    # NaN anywhere makes the bound NaN: nothing is sure, one row at a time
    bound = 2.0 * gamma * float(np.einsum("ij,ij->i", rows, rows).max())
    unsure = ~(highest <= 1.0 - min_separation - bound - ROUNDING_SLACK)
    return int(unsure.argmax()) if unsure.any() else len(head)


class ApartFromRows:
    """Which rows of ``X`` are at least ``min_separation`` (cosine distance) from every row of
    ``anchors``, asked for a few rows at a time: each answer is the one ``everywhere()`` (the
    product of all rows of ``X`` at once) gives, bit for bit.

    A reservoir that takes the top of each class's ranking reads the separation of a few
    candidates only (issue 17, seventeenth pass: ~100 of ~300 a record). The rows asked are
    multiplied alone; each answer is kept if that product puts the similarity further from the
    threshold than two float32 evaluations of it can differ (the bound of
    :func:`picked_apart`), else ``everywhere()`` answers every row.

    >>> X = np.eye(3, dtype=np.float32)
    >>> apart = ApartFromRows(X, [X[:1]], 0.05, lambda: np.array([False, True, True]))
    >>> apart.of(np.array([1, 0])).tolist(), apart.decided
    ([True, False], False)
    """

    def __init__(self, X: np.ndarray, anchors: Sequence[np.ndarray], min_separation: float,
                 everywhere: Callable[[], np.ndarray]) -> None:
        self.X = X
        self.anchors = [a for a in anchors if len(a)]
        self.min_separation = min_separation
        self._everywhere = everywhere
        self.decided = False
        """Every row's answer is known."""
        self.known = np.zeros(len(X), dtype=bool)
        self.apart = np.ones(len(X), dtype=bool)
        self._anchor_norm: float | None = None

    def everywhere(self) -> np.ndarray:
        """The answer for every row: ``everywhere()``'s, the product of all rows at once."""
        if not self.decided:
            self.apart, self.known, self.decided = self._everywhere(), self.known | True, True
        return self.apart

    def of(self, rows: np.ndarray) -> np.ndarray:
        """The answer for ``rows`` (indices of ``X``)."""
        rows = np.asarray(rows, dtype=np.int64)
        ask = rows[~self.known[rows]]
        if len(ask) and not self._settled(ask):
            self.everywhere()
        return self.apart[rows]

    def _settled(self, ask: np.ndarray) -> bool:
        """Answer ``ask`` from their own product, if it is far enough from the threshold
        (with no anchors ``everywhere()`` answers: what no row at all means is its to say)."""
        if not self.anchors:
            return False
        X = self.X[ask]
        highest = dot_rows(X, self.anchors[0], order_free=True).max(axis=1)
        for a in self.anchors[1:]:
            highest = np.maximum(highest, dot_rows(X, a, order_free=True).max(axis=1))
        d = X.shape[1]
        gamma = d * UNIT_ROUNDOFF / (1.0 - d * UNIT_ROUNDOFF)
        norm = float(np.sqrt(np.einsum("ij,ij->i", X, X).max()))
        if self._anchor_norm is None:  # once per set of anchors, not per question
            self._anchor_norm = max(float(np.sqrt(np.einsum("ij,ij->i", a, a).max()))
                                    for a in self.anchors)
        slack = 2.0 * gamma * norm * self._anchor_norm + ROUNDING_SLACK
        edge = 1.0 - self.min_separation
        near, far = highest >= edge + slack, highest <= edge - slack
        if not (near | far).all():  # NaN or too close to call: the whole product decides
            return False
        self.apart[ask], self.known[ask] = far, True
        return True
