"""Dawid & Skene (1979) EM, and its one-coin variant, in numpy.

The same algorithm as crowd-kit 1.4's ``DawidSkene`` and ``OneCoinDawidSkene``
(crowdkit/aggregation/classification/dawid_skene.py), step for step, so that the verdicts do
not change with the implementation (tests/annotation/test_dawid_skene.py compares the two):

- start from the majority vote's label shares, gold items clamped to their known label;
- M-step: each annotator's error matrix ``errors[a, said, true]`` from the posteriors (counts
  clipped at 1e-10, then each true-class column normalised over the classes the annotator
  said); one-coin: one skill per annotator (the mean posterior of the labels it gave) on the
  diagonal, ``(1 - skill) / (K - 1)`` off it, clipped to [1e-10, 1 - 1e-10];
- E-step: the posterior of each item from the class priors (the posteriors' mean, clipped at
  1e-10) and its labels' error-matrix rows, computed in log space; gold clamped again;
- stop after ``n_iter`` (100) rounds or once crowd-kit's evidence lower bound per label rises
  by less than ``tol`` (1e-5).

Classes are sorted, so a tied posterior goes to the first class in sorted order.

>>> fit = fit_many([("t1", "ann", "cat"), ("t1", "bob", "cat"), ("t1", "eve", "dog"),
...                 ("t2", "ann", "dog"), ("t2", "bob", "dog"), ("t2", "eve", "dog"),
...                 ("t3", "ann", "cat"), ("t3", "bob", "cat"), ("t3", "eve", "cat")])
>>> fit.classes, [fit.classes[k] for k in fit.probas.argmax(axis=1)]
(['cat', 'dog'], ['cat', 'dog', 'cat'])
>>> {a: round(x, 2) for a, x in fit.accuracy().items()}
{'ann': 1.0, 'bob': 1.0, 'eve': 0.67}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

EPS = 1e-10  # crowd-kit's _EPS: the floor of error-matrix entries, priors and posteriors


@dataclass(frozen=True)
class DawidSkeneFit:
    """A fitted model: posteriors per item, class priors and per-annotator error matrices."""

    items: list[str]
    """Items in first-seen order (the rows of :attr:`probas`)."""
    annotators: list[str]
    classes: list[str]
    """Every label given, sorted (the columns of :attr:`probas`)."""
    probas: np.ndarray
    """(items, classes): P(true class | labels), floored at 1e-10 as crowd-kit's ``probas_``."""
    priors: np.ndarray
    errors: np.ndarray
    """(annotators, said, true): P(annotator says ``said`` | true class); rows of classes an
    annotator never said are 0 (crowd-kit's ``errors_`` has no such rows)."""
    said: np.ndarray
    """(annotators, classes): whether the annotator ever gave the class."""
    loss_history: list[float]
    """Evidence lower bound per label after each EM round (crowd-kit's ``loss_history_``)."""

    def accuracy(self) -> dict[str, float]:
        """Per annotator: sum over the classes it said of prior(c) x P(says c | true c)."""
        diagonal = np.einsum("akk->ak", self.errors)
        acc = (np.where(self.said, diagonal, 0.0) * self.priors).sum(axis=1)
        return {a: float(x) for a, x in zip(self.annotators, acc, strict=True)}


@dataclass(frozen=True)
class _Labels:
    """The labels as index arrays: item, annotator and class of each."""

    item: np.ndarray
    annotator: np.ndarray
    cls: np.ndarray
    n_items: int
    n_annotators: int
    n_classes: int

    def per_item(self, values: np.ndarray) -> np.ndarray:
        """Sum (labels, K) rows into (items, K) by item."""
        return np.stack([np.bincount(self.item, values[:, k], self.n_items)
                         for k in range(values.shape[1])], axis=1)


def fit_many(labels: Iterable[tuple[str, str, str]], gold: Mapping[str, str] | None = None,
             one_coin: bool = False, n_iter: int = 100, tol: float = 1e-5) -> DawidSkeneFit:
    """Fit by EM on ``(item, annotator, label)`` triples; ``gold`` (item -> label) clamps the
    posteriors of known items in every round (gold items or labels not among the triples are
    ignored). ``one_coin`` fits one accuracy per annotator instead of a confusion matrix."""
    triples = list(labels)
    items = list(dict.fromkeys(t[0] for t in triples))
    annotators = list(dict.fromkeys(t[1] for t in triples))
    classes = sorted({t[2] for t in triples})
    if not triples:
        empty = np.zeros((0, 0))
        return DawidSkeneFit([], [], [], empty, np.zeros(0), np.zeros((0, 0, 0)),
                             np.zeros((0, 0), bool), [])
    row = {x: i for i, x in enumerate(items)}
    who = {x: i for i, x in enumerate(annotators)}
    col = {x: i for i, x in enumerate(classes)}
    data = _Labels(np.array([row[t[0]] for t in triples]), np.array([who[t[1]] for t in triples]),
                   np.array([col[t[2]] for t in triples]), len(items), len(annotators),
                   len(classes))
    clamp = {row[i]: col[y] for i, y in (gold or {}).items() if i in row and y in col}
    said = np.zeros((data.n_annotators, data.n_classes), bool)
    said[data.annotator, data.cls] = True
    m_step = _one_coin_errors if one_coin else _confusion_errors

    probas = _clamped(_majority(data), clamp)
    priors = np.maximum(probas.mean(axis=0), EPS)
    errors = m_step(data, probas, said)
    loss, history = -np.inf, []
    for _ in range(n_iter):
        probas = _clamped(_posteriors(data, priors, errors), clamp)
        priors = np.maximum(probas.mean(axis=0), EPS)
        errors = m_step(data, probas, said)
        new_loss = _lower_bound(data, probas, priors, errors) / len(triples)
        history.append(new_loss)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return DawidSkeneFit(items, annotators, classes, np.maximum(probas, EPS), priors, errors,
                         said, history)


def _majority(data: _Labels) -> np.ndarray:
    votes = data.per_item(np.eye(data.n_classes)[data.cls])
    return votes / votes.sum(axis=1, keepdims=True)


def _clamped(probas: np.ndarray, clamp: Mapping[int, int]) -> np.ndarray:
    if clamp:
        rows, cols = np.fromiter(clamp.keys(), int), np.fromiter(clamp.values(), int)
        probas[rows] = 0.0
        probas[rows, cols] = 1.0
    return probas


def _confusion_errors(data: _Labels, probas: np.ndarray, said: np.ndarray) -> np.ndarray:
    """errors[a, said, true]: posterior mass of ``true`` over a's labels ``said``, normalised."""
    cell = data.annotator * data.n_classes + data.cls
    counts = np.stack([np.bincount(cell, probas[data.item, k], said.size)
                       for k in range(data.n_classes)], axis=1)
    counts = counts.reshape(data.n_annotators, data.n_classes, data.n_classes)
    counts = np.where(said[:, :, None], np.maximum(counts, EPS), 0.0)
    return counts / counts.sum(axis=1, keepdims=True)


def _one_coin_errors(data: _Labels, probas: np.ndarray, said: np.ndarray) -> np.ndarray:
    """One skill per annotator: the mean posterior of the classes it said."""
    skill = (np.bincount(data.annotator, probas[data.item, data.cls], data.n_annotators)
             / np.bincount(data.annotator, minlength=data.n_annotators))
    k = data.n_classes
    off = (1.0 - skill) / (k - 1) if k > 1 else np.zeros_like(skill)
    errors = np.where(np.eye(k, dtype=bool), skill[:, None, None], off[:, None, None])
    return np.where(said[:, :, None], np.clip(errors, EPS, 1 - EPS), 0.0)


def _posteriors(data: _Labels, priors: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """E-step in log space, each row shifted to a maximum of 0 before exponentiating."""
    with np.errstate(divide="ignore"):  # rows never said are 0, and never read
        log_errors = np.log2(errors)
    loglik = np.log2(priors) + data.per_item(log_errors[data.annotator, data.cls])
    scaled = np.exp2(loglik - loglik.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def _lower_bound(data: _Labels, probas: np.ndarray, priors: np.ndarray,
                 errors: np.ndarray) -> float:
    """crowd-kit's evidence lower bound: per label, E[log errors + log prior] under the item's
    posterior (the prior counted once per label, as crowd-kit does), plus the entropy of the
    posteriors floored at 1e-10."""
    with np.errstate(divide="ignore"):
        log_errors = np.log(errors)
    joint = (probas[data.item] * (log_errors[data.annotator, data.cls] + np.log(priors))).sum()
    floored = np.maximum(probas, EPS)
    return float(joint - (np.log(floored) * floored).sum())
