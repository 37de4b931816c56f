"""The scorer contract: informativeness in [0, 1] per item, higher means worth a label."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Scorer(Protocol):
    name: str

    def score_many(self, proba: np.ndarray) -> np.ndarray:
        """Scores of shape (n,), each in [0, 1], from class probabilities of shape (n, k)."""
        ...
