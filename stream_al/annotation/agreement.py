"""Inter-annotator agreement on items labelled more than once.

- :func:`krippendorff_alpha`: any number of annotators, missing labels allowed (the
  ``krippendorff`` package, nominal level). This is the number exported as
  ``stream_al_annotator_agreement``.
- :func:`cohen_kappa`: two annotators on the items both labelled (scikit-learn).
- :func:`fleiss_kappa`: a fixed number of raters per item, from an items x categories table
  (Fleiss 1971; a dozen lines, so no statsmodels dependency).

Two annotators, four items, one disagreement (worked by hand in the tests):

>>> from stream_al.labels.base import Label
>>> a = [Label(i, y, "A", 0) for i, y in zip("1234", "aabb")]
>>> b = [Label(i, y, "B", 0) for i, y in zip("1234", "abbb")]
>>> round(krippendorff_alpha(a + b), 4), round(cohen_kappa(a + b, "A", "B"), 4)
(0.5333, 0.5)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score

from stream_al.labels.base import Label


def reliability_matrix(labels: Iterable[Label]) -> tuple[np.ndarray, list[str], list[str]]:
    """(annotators x items) matrix of class indices, NaN where an annotator gave no label.

    Returns the matrix, the annotator ids (rows) and the class names (values index them).
    """
    labels = list(labels)
    annotators = sorted({x.annotator_id for x in labels})
    items = sorted({x.item_id for x in labels})
    classes = sorted({x.label for x in labels})
    a_ix = {a: i for i, a in enumerate(annotators)}
    i_ix = {t: i for i, t in enumerate(items)}
    c_ix = {c: i for i, c in enumerate(classes)}
    M = np.full((len(annotators), len(items)), np.nan)
    for x in labels:
        M[a_ix[x.annotator_id], i_ix[x.item_id]] = c_ix[x.label]
    return M, annotators, classes


def krippendorff_alpha(labels: Iterable[Label]) -> float:
    """Nominal Krippendorff's alpha over items with at least two labels; NaN if none.

    1 is perfect agreement, 0 is what chance gives, below 0 is systematic disagreement.
    """
    M, _, classes = reliability_matrix(labels)
    M = M[:, (~np.isnan(M)).sum(axis=0) >= 2]
    if M.shape[1] == 0:
        return float("nan")
    if len(classes) < 2 or len(np.unique(M[~np.isnan(M)])) < 2:
        return 1.0  # everyone gave the one same class: alpha's 0/0, read as full agreement
    return float(krippendorff.alpha(reliability_data=M, level_of_measurement="nominal"))


def cohen_kappa(labels: Iterable[Label], first: str, second: str) -> float:
    """Cohen's kappa between annotators ``first`` and ``second`` on items both labelled."""
    a: dict[str, str] = {}
    b: dict[str, str] = {}
    for x in labels:
        if x.annotator_id == first:
            a[x.item_id] = x.label
        elif x.annotator_id == second:
            b[x.item_id] = x.label
    common = sorted(a.keys() & b.keys())
    if not common:
        return float("nan")
    return float(cohen_kappa_score([a[i] for i in common], [b[i] for i in common]))


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa from ``table[i, j]`` = raters who put item i in category j.

    Every item must have the same number of raters (at least two).
    """
    table = np.asarray(table, dtype=np.float64)
    n = table.sum(axis=1)
    if table.ndim != 2 or len(table) == 0:
        raise ValueError("fleiss_kappa needs an items x categories table with at least one item")
    if not np.all(n == n[0]) or n[0] < 2:
        raise ValueError(f"every item needs the same number (>= 2) of raters; got {sorted(set(n))}"
                         "; use krippendorff_alpha for unequal numbers")
    r = n[0]
    p_j = table.sum(axis=0) / table.sum()
    P_i = ((table**2).sum(axis=1) - r) / (r * (r - 1))
    P_bar, P_e = P_i.mean(), (p_j**2).sum()
    return float((P_bar - P_e) / (1 - P_e)) if P_e < 1 else 1.0


class RunningAgreement:
    """Krippendorff's alpha over the most recent ``max_items`` multiply-labelled items.

    Feed every label with :meth:`add_many`; :attr:`alpha` is what the metrics gauge shows.
    """

    def __init__(self, max_items: int = 2000) -> None:
        self.max_items = max_items
        self._labels: dict[str, dict[str, Label]] = {}
        self._order: deque[str] = deque()

    def add_many(self, labels: Iterable[Label]) -> None:
        labels = list(labels)
        new = dict.fromkeys(x.item_id for x in labels if x.item_id not in self._labels)
        if len(new) >= self.max_items:  # a rebuild's every label: only the last items stay
            kept = set(list(new)[-self.max_items:])
            self._labels.clear()
            self._order.clear()
            labels = [x for x in labels if x.item_id in kept]
        for x in labels:
            if x.item_id not in self._labels:
                self._labels[x.item_id] = {}
                self._order.append(x.item_id)
            self._labels[x.item_id].setdefault(x.annotator_id, x)
        while len(self._order) > self.max_items:
            self._labels.pop(self._order.popleft())

    def state(self) -> tuple[dict[str, dict[str, Label]], list[str]]:
        """A copy of the window (labels per item, items oldest first) for :meth:`load_state`."""
        return {i: dict(v) for i, v in self._labels.items()}, list(self._order)

    def load_state(self, state: tuple[dict[str, dict[str, Label]], list[str]]) -> None:
        labels, order = state
        self._labels = {i: dict(v) for i, v in labels.items()}
        self._order = deque(order)

    @property
    def n_items(self) -> int:
        """Items with at least two labels in the window."""
        return sum(len(v) >= 2 for v in self._labels.values())

    @property
    def alpha(self) -> float:
        return krippendorff_alpha(x for v in self._labels.values() if len(v) >= 2
                                  for x in v.values())
