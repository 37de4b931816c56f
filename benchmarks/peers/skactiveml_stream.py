"""scikit-activeml's stream strategies: ``VariableUncertainty`` and ``Split`` (Zliobaite et
al. 2014) on the peer learner's probabilities, and ``StreamProbabilisticAL`` (Kottke et al.
2015) on its own Parzen-window classifier, each with the budget manager it builds by default.

scikit-activeml (the ``bench`` extra) is imported when a selector is built. A chunk of the
stream goes to ``query`` in one call: the budget managers walk the candidates in order with
the model fixed, as the simulator holds its snapshot for a chunk. ``update`` is told what the
harness's budget let through, so the strategies' own spending estimates see the cut.
"""

from __future__ import annotations

import warnings

import numpy as np

from benchmarks.peers.base import Proba, SelectorBase

MISSING = -1
"""The missing-label marker for the integer class codes scikit-activeml is given."""


def _given_proba(classes: list[int]):
    """A fitted scikit-activeml classifier whose probabilities are the peer learner's."""
    from skactiveml.base import SkactivemlClassifier

    class GivenProba(SkactivemlClassifier):
        proba: Proba

        def fit(self, X, y, sample_weight=None):  # noqa: ANN001 (scikit-activeml's signature)
            return self

        def predict_proba(self, X):  # noqa: ANN001
            return self.proba(np.asarray(X))

    return GivenProba(classes=classes, missing_label=MISSING)


class ZliobaiteStrategy(SelectorBase):
    """``VariableUncertainty`` or ``Split`` from ``skactiveml.stream``."""

    def __init__(self, kind: str, n_classes: int, fraction: float, seed: int = 0) -> None:
        from skactiveml.stream import Split, VariableUncertainty

        strategies = {"variable_uncertainty": VariableUncertainty, "split": Split}
        if kind not in strategies:
            raise ValueError(f"unknown scikit-activeml strategy {kind!r}; choose one of "
                             f"{', '.join(strategies)}")
        self.name = kind
        self.strategy = strategies[kind](budget=fraction, random_state=seed)
        self.clf = _given_proba(list(range(n_classes)))

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        self.clf.proba = proba
        return [int(rows[i]) for i in self.strategy.query(X, self.clf)]

    def bought_many(self, rows: np.ndarray, X: np.ndarray, taken: list[int]) -> None:
        where = {int(r): i for i, r in enumerate(rows)}
        self.strategy.update(X, np.array([where[r] for r in taken], dtype=int))


class ProbabilisticAL(SelectorBase):
    """``StreamProbabilisticAL`` with its ``ParzenWindowClassifier`` (RBF kernel, the
    library's mean-bandwidth criterion ``gamma="mean"``) refitted on every delivery."""

    name = "pal"

    def __init__(self, n_classes: int, fraction: float, seed: int = 0) -> None:
        from skactiveml.classifier import ParzenWindowClassifier
        from skactiveml.stream import StreamProbabilisticAL

        self.strategy = StreamProbabilisticAL(budget=fraction, random_state=seed)
        self.pwc = ParzenWindowClassifier(classes=list(range(n_classes)), missing_label=MISSING,
                                          metric_dict={"gamma": "mean"}, random_state=seed)
        self.X: np.ndarray | None = None
        self.codes = np.zeros(0, dtype=int)
        self._utilities = np.zeros(0)

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        if self.X is None:  # nothing labelled yet: a fit on one unlabelled row
            self._fit(X[:1], np.array([MISSING]))
        queried, self._utilities = self.strategy.query(X, self.pwc, return_utilities=True)
        return [int(rows[i]) for i in queried]

    def bought_many(self, rows: np.ndarray, X: np.ndarray, taken: list[int]) -> None:
        where = {int(r): i for i, r in enumerate(rows)}
        self.strategy.update(X, np.array([where[r] for r in taken], dtype=int),
                             budget_manager_param_dict={"utilities": self._utilities})

    def labelled_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        self.X = X if self.X is None else np.vstack([self.X, X])
        self.codes = np.concatenate([self.codes, np.asarray(codes, dtype=int)])
        self._fit(self.X, self.codes)

    def _fit(self, X: np.ndarray, codes: np.ndarray) -> None:
        """Fit the Parzen window; on one row the mean-bandwidth criterion has no variance to
        read and falls back to ``1 / n_features`` with a warning, which is expected here."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The variance of the provided data is 0")
            self.pwc.fit(X, codes)
