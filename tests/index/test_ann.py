"""The bounded ANN index refuses vectors of another width (hnswlib would abort the process)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.index.ann import BoundedIndex


def test_vectors_of_another_width_are_refused_with_a_message_naming_the_fix():
    index = BoundedIndex(dim=4, capacity=10)
    index.add_many(np.eye(4, dtype=np.float32))

    for call in (index.add_many, index.query_many, index.nearest_distance_many):
        with pytest.raises(ValueError, match="embedder that built the index"):
            call(np.ones((2, 3), dtype=np.float32))

    assert len(index) == 4
    assert index.nearest_distance_many(np.eye(4, dtype=np.float32)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("capacity", "exact_below"),
                         [(10, 64), (50, 64), (200, 64), (1000, 2048), (300, 300)])
def test_the_index_answers_for_the_last_capacity_vectors_added(capacity, exact_below):
    rng = np.random.default_rng(0)
    index = BoundedIndex(dim=8, capacity=capacity, exact_below=exact_below)
    added = np.zeros((0, 8), dtype=np.float32)
    for size in rng.integers(1, 40, 30):
        X = rng.normal(size=(size, 8)).astype(np.float32)
        index.add_many(X)
        added = np.vstack([added, X])[-capacity:]
        queries = rng.normal(size=(5, 8)).astype(np.float32)
        unit = added / np.linalg.norm(added, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        expected = np.clip(1.0 - (q @ unit.T).max(axis=1), 0.0, 2.0)
        assert len(index) == len(added)
        np.testing.assert_allclose(index.nearest_distance_many(queries), expected, atol=1e-3)


def test_memory_is_counted_for_exact_rows_and_for_the_graph():
    rows = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    exact, graph = BoundedIndex(8, capacity=200, exact_below=256), BoundedIndex(8, exact_below=64)
    exact.add_many(rows)
    graph.add_many(rows)
    assert exact.nbytes == 200 * (8 * 4 + 8)
    assert graph.nbytes >= 300 * 8 * 4
