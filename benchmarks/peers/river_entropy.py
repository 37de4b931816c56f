"""river's ``active.EntropySampler`` asking about each item, one at a time, from the peer
learner's probabilities (river wraps a river classifier; here that classifier hands over the
peer learner's prediction, so the learner is the same as every other peer's)."""

from __future__ import annotations

import numpy as np
from river import active, base

from benchmarks.peers.base import Proba, SelectorBase


class _GivenProba(base.Classifier):
    """A river classifier whose prediction is set from outside before each question."""

    def __init__(self) -> None:
        self.current: dict[int, float] = {}

    def learn_one(self, x: dict, y: object) -> None:
        return None  # the harness feeds the peer learner, with the label delay

    def predict_proba_one(self, x: dict) -> dict[int, float]:
        return self.current


class EntropySampler(SelectorBase):
    """Asks with probability (normalised entropy) ** ``discount_factor`` (river's default 3):
    no budget of its own, so the harness's budget cuts it."""

    name = "river_entropy"

    def __init__(self, seed: int = 0, discount_factor: float = 3.0) -> None:
        self.given = _GivenProba()
        self.sampler = active.EntropySampler(self.given, discount_factor=discount_factor,
                                             seed=seed)

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        out = []
        for row, p in zip(rows, proba(X), strict=True):
            self.given.current = dict(enumerate(p.tolist()))
            _, ask = self.sampler.predict_proba_one({})
            if ask:
                out.append(int(row))
        return out
