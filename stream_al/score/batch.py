"""A batch of stream items with their embeddings and scores: the scoring stage's output."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

from stream_al.learn.snapshot import ModelSnapshot
from stream_al.score.disagreement import committee_disagreement
from stream_al.score.uncertainty import UNCERTAINTY

INFORMATIVENESS = (*UNCERTAINTY, "disagreement")
SCORES = (*INFORMATIVENESS, "confidence")


@dataclass
class ScoredBatch:
    """Items ``ids`` with embeddings ``X`` (n, d) and per-item scores, all of length n."""

    ids: list[str]
    X: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    model_version: int = 0
    costs: np.ndarray | None = None
    weights: np.ndarray | None = None
    """Pre-selected candidates (stream_al.select.preselect): stream texts each row stands for
    (1 / its chance of being forwarded); None: every row is itself."""
    seen: float | None = None
    """Stream texts the whole batch stands for (the exact count the scorers saw); None: its
    rows."""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.X):
            raise ValueError(f"{len(self.ids)} ids but {len(self.X)} embedding rows")
        if self.costs is None:
            self.costs = np.ones(len(self.ids), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def represents(self) -> float:
        """Stream texts this batch stands for: what layers that count the stream observe."""
        return float(len(self.ids)) if self.seen is None else self.seen

    def row_weights(self) -> np.ndarray:
        """Stream texts each row stands for (ones unless pre-selected)."""
        return np.ones(len(self.ids)) if self.weights is None else self.weights

    def subset(self, idx: np.ndarray) -> ScoredBatch:
        idx = np.asarray(idx, dtype=np.int64)
        return ScoredBatch(
            ids=[self.ids[i] for i in idx],
            X=self.X[idx],
            scores={k: v[idx] for k, v in self.scores.items()},
            model_version=self.model_version,
            costs=self.costs[idx],
            weights=None if self.weights is None else self.weights[idx],
            seen=None if self.seen is None else self._share(idx),
        )

    def _share(self, idx: np.ndarray) -> float:
        """Of :attr:`seen`, what rows ``idx`` stand for (by their weights)."""
        w = self.row_weights()
        total = float(w.sum())
        return float(self.seen or 0.0) * (float(w[idx].sum()) / total if total > 0 else 0.0)

    def without(self, item_ids: Iterable[str]) -> ScoredBatch:
        """The rows whose id is not in ``item_ids`` (what is left after some were bought)."""
        taken = set(item_ids)
        if not taken:
            return self
        return self.subset(np.array([i for i, item in enumerate(self.ids) if item not in taken],
                                    dtype=np.int64))


def score_many(snapshot: ModelSnapshot, X: np.ndarray,
               kinds: Collection[str] = SCORES) -> dict[str, np.ndarray]:
    """The model-based scores ``kinds`` (default: all) for the rows of ``X``, in one pass.

    Keys: ``entropy``, ``margin``, ``least_confidence``, ``disagreement`` (all in [0, 1]) and
    ``confidence`` (top class probability; 0 when the model is cold).
    """
    if unknown := set(kinds) - set(SCORES):
        raise ValueError(f"unknown scores {sorted(unknown)}; choose from {SCORES}")
    committee = "disagreement" in kinds and snapshot.ready and len(snapshot.committee) >= 2
    proba, members = probabilities_many(snapshot, X, committee)
    scores = {name: fn(proba) for name, fn in UNCERTAINTY.items() if name in kinds}
    if "disagreement" in kinds:
        scores["disagreement"] = (committee_disagreement(members) if committee
                                  else np.ones(len(X), dtype=np.float32))
    if "confidence" in kinds:
        scores["confidence"] = (proba.max(axis=1) if snapshot.ready
                                else np.zeros(len(X), dtype=np.float32))
    return scores


def probabilities_many(snapshot: ModelSnapshot, X: np.ndarray, committee: bool = True,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of the main model, (n, k), and of each committee member, (m, n, k)
    (m = 0 unless ``committee``), as :meth:`ModelSnapshot.predict_proba_many` and
    :meth:`~ModelSnapshot.committee_proba_many` give them but from one matrix product for all
    models, laid out class-major so that the reductions over k run over contiguous items."""
    n, k = len(X), len(snapshot.classes)
    members = snapshot.committee if committee else ()
    if k == 0:
        return np.zeros((n, 0), dtype=np.float32), np.zeros((0, n, 0), dtype=np.float32)
    W = np.concatenate([snapshot.weights, *(w for w, _ in members)]).astype(np.float32,
                                                                            copy=False)
    b = np.concatenate([snapshot.bias, *(b for _, b in members)]).astype(np.float32, copy=False)
    logits = np.asarray(X, dtype=np.float32) @ W.T + b  # (n, (1 + m) k)
    z = np.ascontiguousarray(logits.T).reshape(1 + len(members), k, n)
    if snapshot.temperature != 1.0:
        z /= np.float32(snapshot.temperature)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    proba = z.transpose(0, 2, 1)  # (1 + m, n, k) views
    return proba[0], proba[1:]
