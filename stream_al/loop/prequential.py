"""How the model did on each label before it learned it (prequential: test, then train).

The coordinator shows every accepted label to the current model before learning it; over the
last ``window`` labels the model could predict, :class:`Prequential` keeps whether it was
right and its probabilities, so the shells can publish the share it got right and the
calibration error (ECE, ``calibration.bins`` bins) of those same predictions.

>>> import numpy as np
>>> from stream_al.config import LearnerSettings
>>> from stream_al.learn.online import OnlineLearner
>>> learner = OnlineLearner(dim=2, settings=LearnerSettings(committee_size=2))
>>> learner.learn_many(np.eye(2, dtype=np.float32), ["spam", "ham"])
1
>>> seen = Prequential(window=500, bins=10)
>>> seen.observe_many(learner.snapshot(), np.eye(2, dtype=np.float32)[::-1], ["ham", "spam"])
[True, True]
>>> seen.accuracy, round(seen.calibration_error, 3)
(1.0, 0.003)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from stream_al.calibration import expected_calibration_error
from stream_al.learn.snapshot import ModelSnapshot


class Prequential:
    """The last ``window`` predictions of labels the model could predict (``bins``: of the
    calibration error)."""

    def __init__(self, window: int, bins: int) -> None:
        self.bins = bins
        self._hits: deque[bool] = deque(maxlen=window)
        self._confidence: deque[tuple[np.ndarray, int]] = deque(maxlen=window)
        """Per recent label the model could predict: its probabilities, the true column (-1:
        a class the model did not know)."""

    def observe_many(self, snapshot: ModelSnapshot, X: np.ndarray,
                     names: Sequence[str]) -> list[bool]:
        """Per label (``names``, of rows ``X``) about to be learned: did ``snapshot`` predict
        it right? Empty when the model cannot predict yet (nothing kept then)."""
        if not snapshot.ready:
            return []
        predicted = snapshot.predict_many(X)
        correct = [p == y for p, y in zip(predicted, names, strict=True)]
        self._hits.extend(correct)
        column = {c: i for i, c in enumerate(snapshot.classes)}
        true = [column.get(y, -1) for y in names]
        self._confidence.extend(zip(snapshot.predict_proba_many(X), true, strict=True))
        return correct

    @property
    def accuracy(self) -> float:
        """Share of the last labels the model predicted right before learning them (NaN: none)."""
        return float(np.mean(self._hits)) if self._hits else math.nan

    @property
    def calibration_error(self) -> float:
        """ECE of the same predictions as :attr:`accuracy` (NaN: none yet)."""
        if not self._confidence:
            return math.nan
        proba = np.zeros((len(self._confidence), max(len(p) for p, _ in self._confidence)))
        for row, (p, _) in enumerate(self._confidence):
            proba[row, : len(p)] = p  # a class learned later: probability 0 then
        true = np.array([y for _, y in self._confidence])
        return expected_calibration_error(proba, true, self.bins)
