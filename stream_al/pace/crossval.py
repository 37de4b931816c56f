"""A learning curve from every label bought, not only the random control trickle.

:class:`CrossValidatedCurve` keeps the labelled rows the pacer heard of and, when asked, splits
them into ``folds`` (seeded); for each fold it fits the learner's model (the same penalised
softmax, :func:`~stream_al.learn.objective.fit_softmax`) to nested subsets of the other folds
(``sizes`` of them: 1/8, 1/4, 1/2 and all, so up to 3/4 of the labels) and records whether
each held-out label is predicted right. An inverse power law ``acc(m) = A - B * m ** -c`` is
fitted to those right/wrong points against the training size ``m``, bagged over bootstrap
samples of the held-out labels (each label's points move together: the sizes are compared on
the same labels), and extrapolated to the labels the budget would buy.

Actively bought labels are a biased sample of the stream (harder than the average item), so
the curve's *level* is not the stream's accuracy; the pacer uses only its *rise* between two
label counts (:meth:`CrossValidatedCurve.gain`), which a common offset does not change.

Pure numpy (and the learner's objective); no Kafka, no Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_al.learn.objective import fit_softmax
from stream_al.pace.signals import LearningCurve, curve_gain, inverse_power_fits

SIZES = (0.125, 0.25, 0.5, 1.0)
"""Training subsets, as shares of the folds a held-out fold is not in."""


class CrossValidatedCurve:
    """Learning curve of the labelled set itself (the module's docstring); with
    ``score_random``, scored on its random labels only.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 8)).astype(np.float32)
    >>> y = np.where(X[:, 0] + 0.3 * rng.normal(size=400) > 0, "pos", "neg")
    >>> curve = CrossValidatedCurve(l2=1.0, min_labels=40)
    >>> curve.add_many(X, list(y))
    >>> mean, spread = curve.gain(400, 800); 0 <= mean < 0.02
    True
    """

    def __init__(self, l2: float = 1e-3, folds: int = 4, sizes: Sequence[float] = SIZES,
                 min_labels: int = 60, resamples: int = 32, memory: int = 2000,
                 max_iter: int = 60, score_random: bool = False, min_random: int = 20,
                 in_order: bool = True, seed: int = 0) -> None:
        if folds < 2:
            raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
        self.l2 = l2
        self.folds = folds
        self.sizes = tuple(sorted(sizes))
        self.min_labels = min_labels
        self.resamples = resamples
        self.memory = memory
        self.max_iter = max_iter
        self.score_random = score_random
        """Score the held-out *random* labels only (an unbiased sample of the stream; models
        are still fitted to every label): the curve's level and rise are the stream's."""
        self.min_random = min_random
        self.in_order = in_order
        """Training subsets are the *first* labels bought (of the other folds), not a random
        share: the models retrace the learner's own path, whose early labels were chosen for
        the early models (a random share of actively bought labels learns more steeply)."""
        self.seed = seed
        self._X: list[np.ndarray] = []
        self._y: list[str] = []
        self._random: list[bool] = []
        self._seen = 0
        self._rng = np.random.default_rng(seed)
        self._fits: np.ndarray | None = None
        self.points: np.ndarray = np.zeros((0, 2))
        """The last fit's points: (training size, held-out accuracy) per fold and size."""

    def __len__(self) -> int:
        return len(self._y)

    @property
    def labels(self) -> int:
        """Labels heard since the last reset (the rows kept are a uniform sample of them)."""
        return self._seen

    def add_many(self, X: np.ndarray, labels: Sequence[str],
                 random: Sequence[bool] | None = None) -> None:
        """Labelled rows (``random``: which were bought at random, not chosen); beyond
        ``memory``, a uniform reservoir of them is kept."""
        flags = [False] * len(labels) if random is None else list(random)
        for row, label, flag in zip(np.asarray(X, dtype=np.float32), labels, flags, strict=True):
            self._seen += 1
            if len(self._y) < self.memory:
                self._X.append(np.array(row))
                self._y.append(str(label))
                self._random.append(bool(flag))
            else:
                j = int(self._rng.integers(self._seen))
                if j < self.memory:
                    self._X[j], self._y[j], self._random[j] = np.array(row), str(label), flag
        self._fits = None

    def reset(self) -> None:
        """The stream changed: the labels so far describe a stream that is gone."""
        self._X, self._y, self._random, self._seen, self._fits = [], [], [], 0, None
        self.points = np.zeros((0, 2))

    def fits(self) -> np.ndarray | None:
        """``(A, B, c)`` per bootstrap sample (rows), or None with fewer than ``min_labels``
        labels or fewer than two classes."""
        if len(self._y) < self.min_labels or len(set(self._y)) < 2:
            return None
        if self.score_random and sum(self._random) < self.min_random:
            return None
        if self._fits is None:
            sizes, correct = self._cross_validate()
            if self.score_random:
                scored = np.asarray(self._random)
                sizes, correct = sizes[scored], correct[scored]
            n_items = correct.shape[0]
            rng = np.random.default_rng((self.seed, self._seen))
            counts = rng.multinomial(n_items, np.full(n_items, 1 / n_items),
                                     size=self.resamples).astype(float)
            weights = np.repeat(counts, correct.shape[1], axis=1)  # an item's sizes together
            self._fits = inverse_power_fits(sizes.ravel(), correct.ravel(), weights,
                                             LearningCurve.EXPONENTS)
        return self._fits

    def gain(self, n_from: float, n_to: float) -> tuple[float, float]:
        """Accuracy expected at ``n_to`` labels minus at ``n_from``: mean and standard deviation
        over the bootstrap fits (NaN: too few labels)."""
        return curve_gain(self.fits(), n_from, n_to)

    def _cross_validate(self) -> tuple[np.ndarray, np.ndarray]:
        """Per held-out label (rows) and training size (columns): the size, and whether the
        model fitted on that many of the other folds' labels predicted it right."""
        X = np.stack(self._X)
        classes, y = np.unique(np.asarray(self._y, dtype=object), return_inverse=True)
        rng = np.random.default_rng((self.seed, self._seen, 1))
        fold = rng.permutation(len(y)) % self.folds
        sizes = np.zeros((len(y), len(self.sizes)))
        correct = np.zeros((len(y), len(self.sizes)))
        for f in range(self.folds):
            test = np.flatnonzero(fold == f)
            pool = np.flatnonzero(fold != f)  # in the order bought
            if not self.in_order:
                pool = rng.permutation(pool)
            W = b = None
            for j, share in enumerate(self.sizes):
                train = pool[:max(2, int(round(share * len(pool))))]
                W, b, predicted = self._fit_predict(X, y, train, test, len(classes), W, b)
                sizes[test, j] = len(train)
                correct[test, j] = predicted == y[test]
        self.points = np.array([(sizes[fold == f, j].mean(), correct[fold == f, j].mean())
                                for j in range(len(self.sizes)) for f in range(self.folds)])
        return sizes, correct

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                     k: int, W: np.ndarray | None, b: np.ndarray | None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit on rows ``train`` (warm from ``W, b`` over all ``k`` classes) and predict rows
        ``test`` among the classes ``train`` holds (a label of another counts wrong)."""
        present = np.unique(y[train])
        index = np.full(k, -1)
        index[present] = np.arange(len(present))
        W = np.zeros((k, X.shape[1])) if W is None else W
        b = np.zeros(k) if b is None else b
        Wp, bp = fit_softmax(X[train], index[y[train]], len(present), np.ones(len(train)),
                             self.l2, W[present], b[present], self.max_iter)
        W, b = W.copy(), np.zeros(k)
        W[present], b[present] = Wp, bp
        logits = X[test] @ Wp.T.astype(np.float32) + bp.astype(np.float32)
        return W, b, present[logits.argmax(axis=1)]
