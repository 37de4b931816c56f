"""The two contracts a peer is made of: a selector and a learner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

Proba = Callable[[np.ndarray], np.ndarray]
"""The current model's class probabilities for rows of embeddings: one column per class of
the data set, in a fixed order (scikit-activeml wants the classes up front); uniform while the
model cannot predict (fewer than two classes learned)."""


class PeerSelector(Protocol):
    """Decides which stream items to buy; the harness enforces the budget."""

    name: str
    paced: bool
    """True: cut at the allowance accrued so far (``fraction x items seen``); False: the
    selector spends an exact total by construction and is only capped at that total."""

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        """Positions in ``rows`` (a chunk of the stream, in order) the selector wants labelled."""
        ...

    def bought_many(self, rows: np.ndarray, X: np.ndarray, taken: list[int]) -> None:
        """The positions the budget let through (a prefix-in-order subset of the proposal)."""
        ...

    def labelled_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        """Labels came back (class codes: indices into the data set's classes)."""
        ...

    def flush(self, proba: Proba) -> list[int]:
        """End of stream: rows (ids, not positions) still held, best first."""
        ...


class PeerLearner(Protocol):
    """Learns from the labels the selector bought; predicts for selection and evaluation."""

    name: str

    def learn_many(self, X: np.ndarray, codes: np.ndarray) -> None: ...

    def finish(self) -> None:
        """The stream ended: take every label into account (a last refit)."""
        ...

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray: ...

    def predict_many(self, X: np.ndarray) -> np.ndarray | None:
        """Class codes, or None while nothing was learned."""
        ...


class SelectorBase:
    """Defaults for selectors that hold nothing and need no labels."""

    paced = True

    def bought_many(self, rows: np.ndarray, X: np.ndarray, taken: list[int]) -> None:
        return None

    def labelled_many(self, X: np.ndarray, codes: np.ndarray) -> None:
        return None

    def flush(self, proba: Proba) -> list[int]:
        return []


WINDOW = 500
"""Stream items a windowed peer holds before ranking (10 of the simulator's default chunks)."""


class WindowedSelector(SelectorBase):
    """Holds ``window`` stream items, then proposes all of them in the order of :meth:`rank`
    (best first), as a pool strategy ranks its pool; the budget takes as many as the allowance
    accrued (about ``fraction x window``)."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.rows: list[int] = []
        self.X: list[np.ndarray] = []

    def rank(self, X: np.ndarray, proba: Proba) -> np.ndarray:
        """Positions of the rows of ``X``, best first."""
        raise NotImplementedError

    def propose_many(self, rows: np.ndarray, X: np.ndarray, proba: Proba) -> list[int]:
        self.rows.extend(int(r) for r in rows)
        self.X.append(np.asarray(X))
        if len(self.rows) < self.window:
            return []
        return self.flush(proba)

    def flush(self, proba: Proba) -> list[int]:
        if not self.rows:
            return []
        order = self.rank(np.vstack(self.X), proba)
        ranked = [self.rows[i] for i in order]
        self.rows, self.X = [], []
        return ranked
