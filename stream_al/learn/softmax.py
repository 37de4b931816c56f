"""Multinomial logistic regression that learns incrementally from a replay memory.

Labels are few and expensive, so every label is kept (up to ``memory``) and each update
warm-starts L-BFGS from the previous weights over the memory. That gives the quality of a
refit logistic regression at the cost of a few dozen gradient steps per update, and new
classes can appear at any time (a zero row is added for them). The L2 strength is fixed, or
(``l2=None``) chosen by cross-validation on the memory as labels grow (:class:`L2Search`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax

from stream_al.learn.objective import fit_softmax
from stream_al.learn.regularisation import L2Search
from stream_al.learn.replay import ReplayMemory
from stream_al.learn.self_training import SelfTraining


class OnlineSoftmax:
    """Incremental multiclass probabilistic classifier on dense features.

    >>> import numpy as np
    >>> m = OnlineSoftmax(dim=2, l2=0.01, seed=0)
    >>> m.learn_many(np.array([[1, 0], [0, 1]], dtype=np.float32), ["a", "b"])
    >>> m.classes
    ['a', 'b']
    >>> int(m.predict_proba_many(np.array([[1, 0]], dtype=np.float32)).argmax())
    0
    """

    def __init__(
        self,
        dim: int,
        l2: float | None = 0.05,
        max_iter: int = 60,
        memory: int | ReplayMemory = 50_000,
        seed: int = 0,
        bootstrap: bool = False,
        search: L2Search | None = None,
        self_training: SelfTraining | None = None,
        served_by: L2Search | None = None,
    ) -> None:
        """``memory``: the capacity of a replay memory of its own, or a :class:`ReplayMemory`
        shared with other models (whose owner stores rows in it and calls :meth:`learned`).
        ``l2``: the penalty on the summed loss (``1/C``); ``None``: chosen by ``search``
        (default: an :class:`L2Search` with this seed) before refits. ``self_training``: each
        refit also learns the pseudo-labels it gives (none: the labels only). ``served_by``: no
        search of its own; each refit takes that search's ``served_l2`` (the model that is
        served beside the one that selects, stream_al/learn/online.py)."""
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.replay = memory if isinstance(memory, ReplayMemory) else ReplayMemory(dim, memory, seed)
        if self.replay.dim != dim:
            raise ValueError(f"a replay memory of dim {self.replay.dim} for a model of dim {dim}")
        self.dim = dim
        self.served_by = served_by
        self.search = (search or L2Search(seed=seed)) if l2 is None and not served_by else None
        self.l2 = (served_by.served_l2 if served_by else
                   self.search.l2 if self.search else float(l2))
        self.max_iter = max_iter
        self.bootstrap = bootstrap
        self.self_training = self_training
        self._rng = np.random.default_rng(seed)
        self.W = np.zeros((0, dim), dtype=np.float64)
        self.b = np.zeros(0, dtype=np.float64)
        self._w = np.zeros(0, dtype=np.float64)
        """This model's weight of each memory slot (bootstrap: Poisson(1) counts; else 1)."""

    @property
    def classes(self) -> list[str]:
        return self.replay.classes

    @property
    def memory(self) -> int:
        return self.replay.capacity

    # ---- learning -------------------------------------------------------------------------
    def learn_one(self, x: np.ndarray, label: str) -> None:
        self.learn_many(np.asarray(x, dtype=np.float32).reshape(1, -1), [label])

    def learn_many(self, X: np.ndarray, labels: Sequence[str]) -> None:
        """Store the rows in the replay memory and refit. (Models that share a memory are
        taught by its owner: rows stored once, then :meth:`learned` on each model.)"""
        slots = self.replay.add_many(X, labels)
        if len(slots):
            self.learned(slots)

    def learned(self, slots: np.ndarray) -> None:
        """Weigh the rows just stored at ``slots`` of the replay memory (-1: dropped) and refit."""
        self.weigh(slots)
        self.refit()

    def weigh(self, slots: np.ndarray) -> None:
        """Weigh the rows just stored at ``slots`` (-1: dropped); no refit yet."""
        self._weigh(slots)
        self._grow_classes()

    def refit(self) -> None:
        """Refit on the whole memory (once it holds two classes)."""
        if len(self.classes) >= 2:
            self._fit()

    def _weigh(self, slots: np.ndarray) -> None:
        """This model's weight of the rows at ``slots`` (a draw for every slot, kept or not)."""
        draws = (
            self._rng.poisson(1.0, size=len(slots)).astype(np.float64)
            if self.bootstrap
            else np.ones(len(slots))
        )
        self._grow_weights()
        kept = slots >= 0
        self._w[slots[kept]] = draws[kept]

    def _grow_weights(self) -> None:
        """Room for a weight per row of the memory (grown geometrically, up to its capacity)."""
        n = len(self.replay)
        if len(self._w) < n:
            grown = min(self.replay.capacity, max(n, 2 * len(self._w)))
            self._w = np.concatenate([self._w, np.zeros(grown - len(self._w))])

    def _grow_classes(self) -> None:
        """A zero row of weights for each class the memory learned since the last fit."""
        k = len(self.classes)
        if len(self.b) < k:
            extra = k - len(self.b)
            self.W = np.vstack([self.W, np.zeros((extra, self.dim))])
            self.b = np.append(self.b, np.zeros(extra))

    def _fit(self) -> None:
        """Warm-started L-BFGS on the replay memory, after a search for ``l2`` if one is due
        (or, with the search apart, having asked for it: ``l2`` stays until it answers)."""
        k = len(self.b)
        n = len(self.replay)
        X, y = self.replay.X, self.replay.y
        if self.search is not None and self.search.due(n, k):
            if self.search.apart and self.search.searched_at:  # a choice to keep meanwhile
                self.search.ask(X, y, k, self.W, self.b, uniform=self.replay.uniform)
            else:
                self.l2 = self.search.choose(X, y, k, self.W, self.b,
                                             uniform=self.replay.uniform)
        elif self.search is not None:  # the same, unless a search apart answered since
            self.l2 = self.search.l2
        elif self.served_by is not None:
            self.l2 = self.served_by.served_l2
        w = self._w[:n]
        if self.self_training is not None:  # labelled by the model before this refit
            Xp, yp = self.self_training.pseudo_labels(self.W, self.b, y, k)
            if len(yp):
                X, y = np.vstack([X, Xp]), np.concatenate([y, yp])
                w = np.concatenate([w, np.ones(len(yp))])
        W0, b0 = self.W, self.b
        self.W, self.b = fit_softmax(X, y, k, w, self.l2, W0, b0, self.max_iter)
        if self.search is not None or self.served_by is not None:
            self._not_underfitted(n, X, y, k, w, W0, b0)

    def _not_underfitted(self, n: int, X: np.ndarray, y: np.ndarray, k: int, w: np.ndarray,
                         W0: np.ndarray, b0: np.ndarray) -> None:
        """With ``l2`` chosen by the search: while the fitted model predicts none of the
        labelled rows of a class holding at least ``search.folds`` of them, the next weaker
        ``l2`` of the grid (kept until the next search). Such a model is the intercepts':
        stratified folds of balanced labels cannot see it, and one more label of any class
        makes it predict that class everywhere (AG News/MiniLM at full size, 1%, seed 4: the
        first search, on 5 labels of each of 4 classes, chose l2=100, ``|W|`` 0.05, and the
        model predicted one class for the next 9 labels, accuracy 0.236; benchmarks/README.md,
        issue 14, "models of the intercepts"). A served model (``served_by``) takes the same
        guard at each refit, from the search's served choice."""
        search = self.search or self.served_by
        assert search is not None
        counts = np.bincount(y[:n], minlength=k)
        needed = counts >= search.folds
        weaker = [v for v in search.grid if v < self.l2]
        while weaker:
            predicted = np.bincount(self._scores(X[:n]).argmax(axis=1), minlength=k) > 0
            if (predicted | ~needed).all():
                return
            self.l2 = weaker.pop(0)
            if self.search is not None:
                self.search.l2 = self.l2
            self.W, self.b = fit_softmax(X, y, k, w, self.l2, W0, b0, self.max_iter)

    def _scores(self, X: np.ndarray) -> np.ndarray:
        """The logits of rows ``X`` (float32, as the snapshot computes them)."""
        return np.asarray(X, dtype=np.float32) @ self.W.T.astype(np.float32) + self.b.astype(np.float32)

    def reset_to(self, classes: Sequence[str], W: np.ndarray, b: np.ndarray,
                 X: np.ndarray, labels: Sequence[str],
                 uniform: Sequence[bool] | None = None) -> None:
        """Forget everything; continue from weights ``W``, ``b`` over ``classes`` with
        (``X``, ``labels``, ``uniform`` flags) as the replay memory (a rollback to an earlier
        model)."""
        self.restart(W, b, self.replay.reset(classes, X, labels, uniform))

    def restart(self, W: np.ndarray, b: np.ndarray, slots: np.ndarray) -> None:
        """Continue from weights ``W``, ``b`` (over the memory's first classes) after the
        memory was reset to rows at ``slots``; no refit."""
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.dim or len(b) != len(W):
            raise ValueError(f"weights {W.shape} do not fit classes x {self.dim}")
        if len(W) > len(self.classes):
            raise ValueError(f"weights for {len(W)} classes, the memory knows {len(self.classes)}")
        self._w = np.zeros(0)
        self.W, self.b = np.zeros((0, self.dim)), np.zeros(0)
        self._grow_classes()  # a label of a class the weights do not know gets a zero row
        self.W[: len(W)] = W
        self.b[: len(W)] = np.asarray(b, dtype=np.float64)
        self._weigh(slots)

    # ---- prediction -----------------------------------------------------------------------
    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, columns in the order of :attr:`classes`."""
        if not self.classes:
            return np.zeros((np.asarray(X).shape[0], 0), dtype=np.float32)
        return softmax(self._scores(X), axis=1)

    @property
    def n_labels(self) -> int:
        return self.replay.seen
