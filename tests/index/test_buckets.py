"""The bucketed rows: a first pass whose distance is never below the nearest row's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.index.buckets import PivotBuckets


def unit_rows(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    X = rng.normal(size=(n, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.lists(st.integers(1, 300), min_size=1,
                                                            max_size=6))
def test_the_bucketed_distance_is_never_below_the_nearest_rows(seed, probes, adds):
    rng = np.random.default_rng(seed)
    buckets = PivotBuckets(dim=16, pivots=8, probes=probes, rows_per_pivot=8, seed=seed)
    rows = np.zeros((0, 16), dtype=np.float32)
    for n in adds:
        new = unit_rows(rng, n)
        buckets.add_many(new)
        rows = np.vstack([rows, new])
    assert len(buckets) == len(rows)
    if not buckets.ready:
        return
    queries = unit_rows(rng, 50)
    exact = np.clip(1.0 - (queries @ rows.T).max(axis=1), 0.0, 2.0)
    assert (buckets.upper_distance_many(queries) >= exact - 1e-6).all()


def test_probing_every_bucket_is_the_exact_search():
    rng = np.random.default_rng(0)
    rows = unit_rows(rng, 500)
    buckets = PivotBuckets(dim=16, pivots=8, probes=8, rows_per_pivot=8)
    buckets.add_many(rows)
    queries = unit_rows(rng, 40)
    exact = np.clip(1.0 - (queries @ rows.T).max(axis=1), 0.0, 2.0)
    np.testing.assert_allclose(buckets.upper_distance_many(queries), exact, atol=1e-6)


def test_rows_stored_once_the_buckets_fit_find_themselves():
    rng = np.random.default_rng(1)
    buckets = PivotBuckets(dim=16, pivots=4, probes=1, rows_per_pivot=10)
    buckets.add_many(unit_rows(rng, 40))  # fitted here
    late = unit_rows(rng, 30)
    buckets.add_many(late)  # bucketed by the fitted centres, not refitted (70 < 2 x 40)
    assert np.allclose(buckets.upper_distance_many(late), 0.0, atol=1e-6)


def test_not_ready_until_enough_rows_per_pivot():
    buckets = PivotBuckets(dim=16, pivots=4, rows_per_pivot=10)
    buckets.add_many(unit_rows(np.random.default_rng(2), 39))
    assert not buckets.ready
    with pytest.raises(ValueError, match="check ready"):
        buckets.upper_distance_many(unit_rows(np.random.default_rng(3), 2))


def test_bad_probes_name_the_fix():
    with pytest.raises(ValueError, match=r"probes must be in \[1, pivots=4\]"):
        PivotBuckets(dim=16, pivots=4, probes=5)
