"""``A @ B.T`` of a few rows against many, in the order the BLAS runs faster.

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

Each element is the same dot product, but not always rounded the same way: whether the two
orders (and a row multiplied alone or in a batch) agree bit for bit depends on the BLAS kernels.
Under OpenBLAS's SkylakeX kernels (AVX-512) they agreed on 1,294 shapes of 1-700 by 1-2,200 rows
of 256 and 384 dimensions; under its Haswell kernels (which the demo, the benchmarks and the
test suite pin on x86-64, stream_al/runtime.py) they differ in the last bit or two, at most
2.4e-7 on unit rows of 32-384 dimensions (:data:`PRODUCT_ROUNDING` bounds it). Nothing here
depends on the bits beyond that: a run is reproducible under the same kernels.

The swapped product is a transposed (Fortran-ordered) view. Its values are those of
``A @ B.T`` (to the rounding above); reductions that do not depend on order (``max``, ``min``,
``argmin``, ``argpartition``, comparisons) read it as they are, but ``sum`` and ``mean`` along
a row add in another order on it (numpy sums a contiguous row pairwise): :func:`dot_rows`
returns a C-ordered copy unless the caller says its reductions are order-free.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A, B = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
>>> bool(np.allclose(dot_rows(A, B), A @ B.T)), dot_rows(A, B).flags.c_contiguous
(True, True)
>>> dot_rows(A, B, order_free=True).flags.c_contiguous
False
"""

from __future__ import annotations

import numpy as np

PRODUCT_ROUNDING = 1e-6
"""How far two float32 evaluations of the same product of unit rows (another order, a row
alone or in a batch) may differ: about 8 float32 epsilons; 2 measured under the Haswell kernels."""


def dot_rows(A: np.ndarray, B: np.ndarray, order_free: bool = False) -> np.ndarray:
    """``A @ B.T`` (float32 rows of equal width), as ``(B @ A.T).T`` when ``A`` has fewer rows
    than ``B``. ``order_free``: the caller only reads values or reduces them in an order-free
    way (max, min, arg*, comparisons), so the transposed view is returned without a copy."""
    if len(A) >= len(B):
        return A @ B.T
    product = (B @ A.T).T
    return product if order_free else np.ascontiguousarray(product)


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(len(A), len(B)) squared Euclidean distances, ``|a|^2 + |b|^2 - 2 a.b`` in ``A``'s
    precision, clipped at 0 (the expansion may round a tiny distance below it)."""
    sq = (A * A).sum(axis=1)[:, None] + (B * B).sum(axis=1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(sq, 0.0)
