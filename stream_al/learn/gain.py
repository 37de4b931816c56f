"""What a label taught the model: the bandit's reward, in the simulator as in the worker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.learn.snapshot import ModelSnapshot


def label_gain(snapshot: ModelSnapshot, X: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """How much each label taught: 1 - p(true label) under the model before learning it."""
    if not snapshot.classes:
        return np.ones(len(labels))
    proba = snapshot.predict_proba_many(X)
    col = {c: i for i, c in enumerate(snapshot.classes)}
    return np.array([1.0 - (proba[i, col[y]] if y in col else 0.0)
                     for i, y in enumerate(labels)])
