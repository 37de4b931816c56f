"""dot_rows: ``A @ B.T`` in the faster order, to float32 rounding, and a layout callers can rely on."""

import numpy as np
import pytest

from stream_al.index.products import PRODUCT_ROUNDING, dot_rows

SHAPES = [(m, n) for m in (1, 2, 4, 7, 16, 33, 50, 100, 257)
          for n in (1, 3, 8, 17, 64, 200, 401, 1000, 2048)]


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("d", [256, 384])
def test_it_is_the_product_whichever_order_it_takes(d: int) -> None:
    rng = np.random.default_rng(d)
    for m, n in SHAPES:
        A, B = unit_rows(rng, m, d), unit_rows(rng, n, d)
        exact = A.astype(np.float64) @ B.T.astype(np.float64)
        for product in (dot_rows(A, B), dot_rows(A, B, order_free=True)):
            assert product.shape == (m, n) and product.dtype == np.float32
            assert np.abs(product - exact).max() <= PRODUCT_ROUNDING, (m, n)


def test_rows_of_a_ring_buffer_view_are_multiplied_as_they_are() -> None:
    rng = np.random.default_rng(1)
    ring = unit_rows(rng, 2048, 256)
    A = unit_rows(rng, 40, 256)
    exact = A.astype(np.float64) @ ring[:1500].T.astype(np.float64)
    assert np.abs(dot_rows(A, ring[:1500]) - exact).max() <= PRODUCT_ROUNDING


def test_the_result_is_c_ordered_unless_the_caller_reduces_in_an_order_free_way() -> None:
    rng = np.random.default_rng(2)
    A, B = unit_rows(rng, 5, 64), unit_rows(rng, 300, 64)
    assert dot_rows(A, B).flags.c_contiguous
    assert dot_rows(B, A, order_free=True).flags.c_contiguous  # more rows in A: not swapped
    view = dot_rows(A, B, order_free=True)
    assert not view.flags.c_contiguous
    # a mean along a row adds in another order on the view: why the default copies
    assert np.array_equal(dot_rows(A, B).mean(axis=1), np.ascontiguousarray(view).mean(axis=1))


def test_order_free_reductions_read_the_view_as_the_product() -> None:
    rng = np.random.default_rng(3)
    A, B = unit_rows(rng, 9, 32), unit_rows(rng, 500, 32)
    B[10] = B[20] = B[30]  # ties: the same nearest column three times
    A[0] = B[10]
    view = dot_rows(A, B, order_free=True)
    product = np.ascontiguousarray(view)  # the same values, C-ordered
    assert np.array_equal(view.max(axis=1), product.max(axis=1))
    assert np.array_equal(view.argmax(axis=1), product.argmax(axis=1))
    assert np.array_equal(np.argpartition(-view, 4, axis=1), np.argpartition(-product, 4, axis=1))
