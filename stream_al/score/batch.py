"""A batch of stream items with their embeddings and scores: the scoring stage's output."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from stream_al.learn.snapshot import ModelSnapshot
from stream_al.score.disagreement import committee_disagreement
from stream_al.score.uncertainty import UNCERTAINTY

INFORMATIVENESS = (*UNCERTAINTY, "disagreement")


@dataclass
class ScoredBatch:
    """Items ``ids`` with embeddings ``X`` (n, d) and per-item scores, all of length n."""

    ids: list[str]
    X: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    model_version: int = 0
    costs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.X):
            raise ValueError(f"{len(self.ids)} ids but {len(self.X)} embedding rows")
        if self.costs is None:
            self.costs = np.ones(len(self.ids), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: np.ndarray) -> ScoredBatch:
        idx = np.asarray(idx, dtype=np.int64)
        return ScoredBatch(
            ids=[self.ids[i] for i in idx],
            X=self.X[idx],
            scores={k: v[idx] for k, v in self.scores.items()},
            model_version=self.model_version,
            costs=self.costs[idx],
        )

    def without(self, item_ids: Iterable[str]) -> ScoredBatch:
        """The rows whose id is not in ``item_ids`` (what is left after some were bought)."""
        taken = set(item_ids)
        if not taken:
            return self
        return self.subset(np.array([i for i, item in enumerate(self.ids) if item not in taken],
                                    dtype=np.int64))


def score_many(snapshot: ModelSnapshot, X: np.ndarray) -> dict[str, np.ndarray]:
    """Every model-based score for the rows of ``X``, computed in one batched pass.

    Keys: ``entropy``, ``margin``, ``least_confidence``, ``disagreement`` (all in [0, 1]) and
    ``confidence`` (top class probability; 0 when the model is cold).
    """
    proba = snapshot.predict_proba_many(X)
    scores = {name: fn(proba) for name, fn in UNCERTAINTY.items()}
    if snapshot.ready and len(snapshot.committee) >= 2:
        scores["disagreement"] = committee_disagreement(snapshot.committee_proba_many(X))
    else:
        scores["disagreement"] = np.ones(len(X), dtype=np.float32)
    scores["confidence"] = (
        proba.max(axis=1) if snapshot.ready else np.zeros(len(X), dtype=np.float32)
    )
    return scores
