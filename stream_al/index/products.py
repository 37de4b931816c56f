"""``A @ B.T`` of a few rows against many, in the order the BLAS runs faster, with the same bits.

The coordinator multiplies small batches of rows (a record's candidates, a drift chunk of 50,
the few stream items the OOD reference admits) against large fixed sets (up to 2,048 labelled
items or recent purchases, a 400-row drift reference) for every record. Written ``A @ B.T``,
OpenBLAS packs the large operand in its slow transposing copy (``sgemm_incopy``) on every call:
a CPU profile of the coordinator's ceiling (issue 17) had that copy at 15% of selection, more
than the multiply-adds themselves (12%). ``(B @ A.T).T`` is the same product with the operands'
roles swapped, and faster when ``A`` has fewer rows than ``B`` (one thread, 256 dimensions, µs,
``A @ B.T`` / ``(B @ A.T).T``, best of 7-9 runs at load 4-6)::

    rows of A   B: 400      B: 1,000       B: 2,048
    4           58 / 23     142 / 61       338 / 125
    10          76 / 42     420 / 116      781 / 536
    50          192 / 116   699 / 543      941 / 625
    100         254 / 223   614 / 555      1,445 / 1,138
    200         451 / 435   1,117 / 1,049  2,479 / 2,167

Each element is the same dot product accumulated in the same order either way: on this
project's OpenBLAS (numpy's own) the two are equal bit for bit on 1,294 shapes of 1-700 by
1-2,200 rows of 256 and 384 dimensions (tests/index/test_products.py checks a spread of them),
so swapping changes no result, only time. Another BLAS might differ in the last bit; nothing
here depends on that beyond the speed-up.

The swapped product is a transposed (Fortran-ordered) view. Its values are those of ``A @ B.T``;
reductions that do not depend on order (``max``, ``min``, ``argmin``, ``argpartition``,
comparisons) read it as they are, but ``sum`` and ``mean`` along a row add in another order on
it (numpy sums a contiguous row pairwise): :func:`dot_rows` returns a C-ordered copy unless the
caller says its reductions are order-free.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A, B = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
>>> bool(np.array_equal(dot_rows(A, B), A @ B.T)), dot_rows(A, B).flags.c_contiguous
(True, True)
>>> dot_rows(A, B, order_free=True).flags.c_contiguous
False
"""

from __future__ import annotations

import numpy as np


def dot_rows(A: np.ndarray, B: np.ndarray, order_free: bool = False) -> np.ndarray:
    """``A @ B.T`` (float32 rows of equal width), as ``(B @ A.T).T`` when ``A`` has fewer rows
    than ``B``. ``order_free``: the caller only reads values or reduces them in an order-free
    way (max, min, arg*, comparisons), so the transposed view is returned without a copy."""
    if len(A) >= len(B):
        return A @ B.T
    product = (B @ A.T).T
    return product if order_free else np.ascontiguousarray(product)
