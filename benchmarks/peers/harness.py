"""The one loop that runs a peer: a selector and a learner on the simulator's stream.

What is shared with ``stream_al.simulate.simulator.Simulation``: the stream order and the
held-out split (:func:`stream_al.simulate.simulator.split` with the same seed and test size),
the embeddings, chunks of ``simulation.chunk_size`` items with the model frozen for a chunk,
labels that come back ``simulation.label_delay`` items after the chunk they were bought in,
checkpoints at the same stream positions, a last flush and delivery at the end of the stream,
and a budget of ``floor(fraction x stream length)`` labels, never more.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from benchmarks.peers.base import PeerLearner, PeerSelector
from benchmarks.peers.breaking_ties import WindowedBreakingTies
from benchmarks.peers.contrastive import WindowedContrastive
from benchmarks.peers.learners import logistic_regression
from benchmarks.peers.measures import Point, RunResult, area_under_curve, checkpoints
from benchmarks.peers.random_exact import RandomExact
from benchmarks.peers.river_entropy import EntropySampler
from benchmarks.peers.skactiveml_stream import ProbabilisticAL, ZliobaiteStrategy
from stream_al.select.budget import Budget
from stream_al.simulate.simulator import split

PEERS = ("random", "variable_uncertainty", "split", "pal", "river_entropy", "breaking_ties",
         "contrastive")
PAL_MAX_CLASSES = 20
"""scikit-activeml's ``cost_reduction`` (behind ``StreamProbabilisticAL``, ``m_max=2``) builds a
Python list of candidates x (1 + K + K(K+1)/2) x K class-vector triples: on Banking77 (K=77)
a chunk of 50 candidates is 12 million triples, and a worker was killed at 11 GB. PAL runs on
sets of at most this many classes (18 on ATIS: 171,000 triples a chunk)."""


def peers_for(n_classes: int) -> tuple[str, ...]:
    """The peers that can run on a set of ``n_classes`` classes."""
    return tuple(p for p in PEERS if p != "pal" or n_classes <= PAL_MAX_CLASSES)


@dataclass(frozen=True)
class Stream:
    """One data set on one split: what every run of a seed shares."""

    X: np.ndarray
    codes: np.ndarray
    """Class code of each row: an index into ``classes``."""
    classes: list[str]
    order: np.ndarray
    """Stream rows in stream order."""
    test: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, labels: list[str], test_size: int, seed: int) -> Stream:
        classes = sorted(set(labels))
        code = {c: i for i, c in enumerate(classes)}
        s = split(len(labels), test_size, seed)
        return cls(np.asarray(X, dtype=np.float32), np.array([code[y] for y in labels]),
                   classes, s.stream, s.test)

    def __len__(self) -> int:
        return len(self.order)


def budget_labels(fraction: float, stream_length: int) -> int:
    """The most labels a budget of ``fraction`` buys on the stream (stream-al's ledger)."""
    return math.floor(fraction * stream_length + 1e-9)


def make_peer(name: str, n_classes: int, stream_length: int, fraction: float,
              seed: int = 0) -> PeerSelector:
    """The selector ``name`` (one of :data:`PEERS`); errors list the names."""
    if name == "random":
        return RandomExact(stream_length, budget_labels(fraction, stream_length), seed)
    if name in ("variable_uncertainty", "split"):
        return ZliobaiteStrategy(name, n_classes, fraction, seed)
    if name == "pal":
        if n_classes > PAL_MAX_CLASSES:
            raise ValueError(f"pal on {n_classes} classes needs more memory than a worker has "
                             f"(see PAL_MAX_CLASSES = {PAL_MAX_CLASSES}); leave it out")
        return ProbabilisticAL(n_classes, fraction, seed)
    if name == "river_entropy":
        return EntropySampler(seed)
    if name == "breaking_ties":
        return WindowedBreakingTies()
    if name == "contrastive":
        return WindowedContrastive()
    raise ValueError(f"unknown peer {name!r}; choose one of {', '.join(PEERS)}")


def run_peer(selector: PeerSelector, learner: PeerLearner, data: Stream, fraction: float,
             label_delay: int, chunk_size: int, n_checkpoints: int) -> RunResult:
    """Stream ``data`` through ``selector`` and ``learner``; the learning curve and finals."""
    run = _Run(selector, learner, data, fraction, label_delay)
    marks = checkpoints(len(data), n_checkpoints)
    next_mark = 0
    for start in range(0, len(data), chunk_size):
        rows = data.order[start:start + chunk_size]
        run.budget.observe(len(rows))
        proposed = selector.propose_many(rows, data.X[rows], learner.predict_proba_many)
        taken = run.take(proposed)
        selector.bought_many(rows, data.X[rows], taken)
        run.position += len(rows)
        run.pending.extend((run.position + label_delay, r) for r in taken)
        run.deliver(run.position)
        while next_mark < len(marks) and run.position >= marks[next_mark]:
            run.result.curve.append(run.point())
            next_mark += 1
    run.pending.extend((run.position, r) for r in run.take(selector.flush(
        learner.predict_proba_many)))
    run.deliver(None)
    learner.finish()
    last = run.point()
    run.result.curve[-1] = last
    run.result.final_accuracy, run.result.macro_f1 = last.accuracy, last.macro_f1
    run.result.auc = area_under_curve(run.result.curve, len(data))
    return run.result


class _Run:
    """The state of one run: budget ledger, labels in flight, the result so far."""

    def __init__(self, selector: PeerSelector, learner: PeerLearner, data: Stream,
                 fraction: float, label_delay: int) -> None:
        self.selector, self.learner, self.data = selector, learner, data
        self.budget = Budget(fraction)
        self.cap = budget_labels(fraction, len(data))
        self.bought = 0
        self.position = 0
        self.pending: deque[tuple[int, int]] = deque()
        self.result = RunResult(f"{selector.name}+{learner.name}")

    def take(self, proposed: list[int]) -> list[int]:
        """The proposal cut at the budget: the accrued allowance (paced selectors) and the
        total of ``floor(fraction x stream length)`` labels (all)."""
        taken = []
        for row in proposed:
            if self.bought >= self.cap or (self.selector.paced and not self.budget.can_spend()):
                break
            if self.selector.paced:
                self.budget.spend()
            self.bought += 1
            taken.append(row)
        return taken

    def deliver(self, position: int | None) -> None:
        rows = []
        while self.pending and (position is None or self.pending[0][0] <= position):
            rows.append(self.pending.popleft()[1])
        if not rows:
            return
        X, codes = self.data.X[rows], self.data.codes[rows]
        self.learner.learn_many(X, codes)
        self.selector.labelled_many(X, codes)
        self.result.labels_used += len(rows)
        self.result.bought.extend(self.data.classes[c] for c in codes)

    def point(self) -> Point:
        test = self.data.test
        pred = self.learner.predict_many(self.data.X[test])
        if pred is None:
            return Point(self.position, self.result.labels_used, 0.0, 0.0)
        truth = self.data.codes[test]
        return Point(self.position, self.result.labels_used, float(accuracy_score(truth, pred)),
                     float(f1_score(truth, pred, average="macro")))


def sklearn_ceiling(data: Stream, seed: int = 0) -> float:
    """The peers' learner fitted on every label of the stream: held-out accuracy."""
    model = logistic_regression(seed).fit(data.X[data.order], data.codes[data.order])
    return float(accuracy_score(data.codes[data.test], model.predict(data.X[data.test])))
