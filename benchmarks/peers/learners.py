"""The peers' two learners: scikit-learn's logistic regression refitted on the labelled set,
and stream-al's own :class:`~stream_al.learn.online.OnlineLearner`.

Both speak class *codes* (indices into the data set's sorted classes) and give probabilities
over every class of the data set, zero for classes not learned yet, uniform while fewer than
two classes are known (what scikit-activeml's wrapped classifiers do before they can fit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from stream_al.config import LearnerSettings
from stream_al.learn.online import OnlineLearner

REFIT_EVERY = 25
"""Labels between two refits of the scikit-learn model (and one more at the end)."""

PEER_C = 10.0
"""Inverse L2 strength of the peers' logistic regression: the value of issue 14's first peer
measurement (scikit-activeml VariableUncertainty + ``LogisticRegression(C=10)``)."""


def logistic_regression(seed: int = 0) -> LogisticRegression:
    return LogisticRegression(C=PEER_C, max_iter=1000, random_state=seed)


class SklearnRefit:
    """``LogisticRegression(C=10)`` refitted from scratch on every label so far, each time
    ``REFIT_EVERY`` more labels have come, and at the end of the stream."""

    name = "sklearn"

    def __init__(self, n_classes: int, dim: int, seed: int = 0,
                 refit_every: int = REFIT_EVERY) -> None:
        self.n_classes = n_classes
        self.seed = seed
        self.refit_every = refit_every
        self.X = np.zeros((0, dim), dtype=np.float32)
        self.codes = np.zeros(0, dtype=int)
        self.fitted_on = 0
        self.model: LogisticRegression | None = None
        self.only: int | None = None
        """The one class seen when the last refit saw a single class."""

    def learn_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        before = len(self.codes)
        self.X = np.vstack([self.X, X])
        self.codes = np.concatenate([self.codes, np.asarray(codes, dtype=int)])
        if len(self.codes) // self.refit_every > before // self.refit_every:
            self._refit()

    def finish(self) -> None:
        if len(self.codes) != self.fitted_on:
            self._refit()

    def _refit(self) -> None:
        self.fitted_on = len(self.codes)
        seen = np.unique(self.codes)
        if len(seen) < 2:
            self.model, self.only = None, (int(seen[0]) if len(seen) else None)
            return
        self.model, self.only = logistic_regression(self.seed).fit(self.X, self.codes), None

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            return np.full((len(X), self.n_classes), 1.0 / self.n_classes)
        out = np.zeros((len(X), self.n_classes))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out

    def predict_many(self, X: np.ndarray) -> np.ndarray | None:
        if self.model is None:
            return None if self.only is None else np.full(len(X), self.only)
        return self.model.predict(X)


class StreamAlLearner:
    """stream-al's online learner (main model and committee), fed each delivery of labels
    as the simulator feeds it."""

    name = "stream-al"

    def __init__(self, classes: Sequence[str], dim: int, settings: LearnerSettings) -> None:
        self.classes = list(classes)
        self.code = {c: i for i, c in enumerate(self.classes)}
        self.learner = OnlineLearner(dim, settings)

    def learn_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        self.learner.learn_many(np.asarray(X, dtype=np.float32),
                                [self.classes[int(c)] for c in codes])

    def finish(self) -> None:
        self.learner.fit()

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        snapshot = self.learner.snapshot()
        k = len(self.classes)
        if len(snapshot.classes) < 2:
            return np.full((len(X), k), 1.0 / k)
        out = np.zeros((len(X), k))
        out[:, [self.code[c] for c in snapshot.classes]] = snapshot.predict_proba_many(X)
        return out

    def predict_many(self, X: np.ndarray) -> np.ndarray | None:
        snapshot = self.learner.snapshot()
        if not snapshot.classes:
            return None
        return np.array([self.code[c] for c in snapshot.predict_many(X)])


def make_learner(name: str, classes: Sequence[str], dim: int,
                 settings: LearnerSettings | None) -> SklearnRefit | StreamAlLearner:
    """``sklearn`` or ``stream-al``; errors name the choices."""
    settings = settings or LearnerSettings()
    if name == "sklearn":
        return SklearnRefit(len(classes), dim, settings.seed)
    if name == "stream-al":
        return StreamAlLearner(classes, dim, settings)
    raise ValueError(f"unknown peer learner {name!r}; choose sklearn or stream-al")
