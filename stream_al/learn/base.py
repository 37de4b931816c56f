"""The learner contract: labels in (one or many), versions up, immutable snapshots out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from stream_al.learn.snapshot import ModelSnapshot


class Learner(Protocol):
    """An online multiclass learner whose every update raises :attr:`version` by one."""

    version: int
    classes: list[str]

    def learn_many(self, X: np.ndarray, labels: Sequence[str]) -> int:
        """Learn from labelled rows; return the new version."""
        ...

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray: ...

    def snapshot(self) -> ModelSnapshot:
        """An immutable copy for scorers; later learning never changes it."""
        ...
