import numpy as np
import pytest

from stream_al.learn import ModelSnapshot
from stream_al.score.batch import ScoredBatch, score_many


class ColdModel:
    """Re-scoring against an untrained model: every item is maximally uncertain."""

    def informativeness_many(self, X: np.ndarray) -> np.ndarray:
        return np.ones(len(X), dtype=np.float32)


def make_batch(n: int, dim: int = 16, seed: int = 0, start: int = 0, clusters: int = 4):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)) * 4
    X = centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    scores = score_many(ModelSnapshot.empty(dim), X)
    scores["margin"] = rng.random(n).astype(np.float32)
    scores["novelty"] = rng.random(n).astype(np.float32)
    return ScoredBatch([f"item-{start + i}" for i in range(n)], X, scores)


@pytest.fixture
def batches():
    return [make_batch(100, seed=s, start=100 * s) for s in range(20)]


@pytest.fixture
def cold_model():
    return ColdModel()
