"""The diverse selectors' online clusters learn from every item, whatever the batch size: the
simulator's chunks of 50 items and the worker's records of thousands move the centres alike."""

import numpy as np

from stream_al.select.diverse import OnlineClusters

K = 8


def unit_rows(n: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, 6))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def seeded() -> OnlineClusters:
    clusters = OnlineClusters(K, seed=0)
    clusters.assign_many(unit_rows(4 * K, seed=1))
    assert clusters.fitted
    return clusters


def test_batches_smaller_than_the_clusters_move_the_centres_once_enough_came():
    small, whole = seeded(), seeded()
    X = unit_rows(10, seed=2)
    before = small.centres.copy()
    small.assign_many(X[:5])
    assert np.array_equal(small.centres, before)  # 5 rows: they wait for more
    small.assign_many(X[5:])
    assert not np.array_equal(small.centres, before)
    whole.assign_many(X)
    np.testing.assert_allclose(small.centres, whole.centres, rtol=1e-6)
    assert small.counts.sum() == whole.counts.sum() == 4 * K + 10


def test_a_batch_of_at_least_max_clusters_rows_moves_the_centres_at_once():
    clusters = seeded()
    before = clusters.centres.copy()
    clusters.assign_many(unit_rows(K, seed=3))
    assert not np.array_equal(clusters.centres, before)
    assert clusters.counts.sum() == 5 * K
