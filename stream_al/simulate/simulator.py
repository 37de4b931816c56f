"""Replay a labelled dataset as a stream, buying labels the way production would.

The simulator runs the same core objects as the Kafka worker: ``score_many`` on a model
snapshot, a :class:`SelectionStage` that owns the budget, and an :class:`OnlineLearner`.
Labels come back ``label_delay`` stream items after they were bought; the model is evaluated
on a held-out split at checkpoints.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from stream_al.calibration import ReliabilityDiagram, reliability_diagram
from stream_al.config import Settings
from stream_al.dataset import DatasetError, LabeledTexts
from stream_al.learn.gain import label_gain
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.learn.softmax import OnlineSoftmax
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.stage import SelectionStage


@dataclass
class CurvePoint:
    position: int
    labels_used: int
    accuracy: float
    macro_f1: float


@dataclass
class StrategyResult:
    name: str
    curve: list[CurvePoint] = field(default_factory=list)
    labels_used: int = 0
    final_accuracy: float = 0.0
    macro_f1: float = 0.0
    auc: float = 0.0
    gains: list[float] = field(default_factory=list)
    reliability: ReliabilityDiagram | None = None

    def summary(self) -> dict[str, float | int]:
        return {"labels_used": self.labels_used, "final_accuracy": round(self.final_accuracy, 4),
                "macro_f1": round(self.macro_f1, 4), "auc": round(self.auc, 4)}


@dataclass
class Split:
    stream: np.ndarray  # row indices in stream order
    test: np.ndarray


def split(n_rows: int, test_size: int, seed: int) -> Split:
    if test_size >= n_rows:
        raise DatasetError(f"--test-size {test_size} leaves no stream from {n_rows} rows")
    order = np.random.default_rng(seed).permutation(n_rows)
    return Split(stream=order[test_size:], test=order[:test_size])


def evaluate(snapshot: ModelSnapshot, X: np.ndarray, y: Sequence[str]) -> tuple[float, float]:
    if not snapshot.classes:
        return 0.0, 0.0
    pred = snapshot.predict_many(X)
    return float(accuracy_score(y, pred)), float(f1_score(y, pred, average="macro"))


def area_under_curve(curve: Sequence[CurvePoint], stream_length: int) -> float:
    """Mean accuracy over the stream (trapezoid of accuracy against stream fraction)."""
    if len(curve) < 2:
        return curve[0].accuracy if curve else 0.0
    x = np.array([p.position for p in curve], dtype=float) / stream_length
    acc = np.array([p.accuracy for p in curve])
    return float(np.trapezoid(acc, x) / (x[-1] - x[0]))


class Simulation:
    """One dataset, one split, one set of embeddings; run any number of strategies on it."""

    def __init__(self, data: LabeledTexts, X: np.ndarray, settings: Settings) -> None:
        sim = settings.simulation
        if len(data) != len(X):
            raise ValueError(f"{len(data)} rows but {len(X)} embeddings")
        self.settings = settings
        self.X = np.asarray(X, dtype=np.float32)
        self.y = np.array(data.labels, dtype=object)
        self.split = split(len(data), sim.test_size, sim.seed)
        n = len(self.split.stream)
        self.checkpoints = np.unique(np.linspace(0, n, sim.checkpoints + 1).astype(int)[1:])

    @property
    def stream_length(self) -> int:
        return len(self.split.stream)

    def all_labels_accuracy(self) -> float:
        """The same learner trained on every label in the stream: the ceiling."""
        s = self.settings.learner
        model = OnlineSoftmax(self.X.shape[1], s.l2, max(300, s.max_iter), s.memory, s.seed)
        idx = self.split.stream
        model.learn_many(self.X[idx], list(self.y[idx]))
        pred = np.array(model.classes, dtype=object)[
            model.predict_proba_many(self.X[self.split.test]).argmax(axis=1)]
        return float(accuracy_score(self.y[self.split.test], pred))

    def run(self, strategy: str, progress: Callable[[int], None] | None = None) -> StrategyResult:
        s = self.settings
        dim = self.X.shape[1]
        learner = OnlineLearner(dim, s.learner)
        stage = SelectionStage(s, dim, strategy)
        result = StrategyResult(strategy)
        pending: deque[tuple[int, int]] = deque()  # (due position, row)
        test_X, test_y = self.X[self.split.test], self.y[self.split.test]
        next_cp = 0
        position = 0
        chunk = s.simulation.chunk_size
        for start in range(0, self.stream_length, chunk):
            rows = self.split.stream[start : start + chunk]
            snapshot = learner.snapshot()
            stage.set_model(snapshot)
            batch = ScoredBatch([str(r) for r in rows], self.X[rows], score_many(snapshot, self.X[rows]))
            for sel in stage.select_many(batch):
                pending.append((position + len(rows) + s.simulation.label_delay, int(sel.item_id)))
            position += len(rows)
            self._deliver(learner, stage, pending, position, result)
            while next_cp < len(self.checkpoints) and position >= self.checkpoints[next_cp]:
                acc, f1 = evaluate(learner.snapshot(), test_X, test_y)
                result.curve.append(CurvePoint(position, result.labels_used, acc, f1))
                next_cp += 1
            if progress:
                progress(len(rows))
        for sel in stage.flush():  # what the budget still allows at the end of the stream
            pending.append((position, int(sel.item_id)))
        self._deliver(learner, stage, pending, None, result)
        acc, f1 = evaluate(learner.snapshot(), test_X, test_y)
        result.curve[-1] = CurvePoint(position, result.labels_used, acc, f1)
        result.final_accuracy, result.macro_f1 = acc, f1
        result.reliability = held_out_reliability(learner.snapshot(), test_X, test_y)
        result.auc = area_under_curve(result.curve, self.stream_length)
        return result

    def _deliver(self, learner: OnlineLearner, stage: SelectionStage,
                 pending: deque[tuple[int, int]], position: int | None,
                 result: StrategyResult) -> None:
        rows = []
        while pending and (position is None or pending[0][0] <= position):
            rows.append(pending.popleft()[1])
        if not rows:
            return
        labels = list(self.y[rows])
        gains = label_gain(learner.snapshot(), self.X[rows], labels)
        learner.learn_many(self.X[rows], labels)
        stage.labelled([str(r) for r in rows], gains.tolist())
        result.labels_used += len(rows)
        result.gains.extend(gains.tolist())


def held_out_reliability(snapshot: ModelSnapshot, X: np.ndarray,
                         y: Sequence[str]) -> ReliabilityDiagram | None:
    """Reliability diagram of the model on the held-out split (items of unseen classes count
    as wrong)."""
    if not snapshot.ready:
        return None
    col = {c: i for i, c in enumerate(snapshot.classes)}
    truth = np.array([col.get(label, -1) for label in y])
    return reliability_diagram(snapshot.predict_proba_many(X), truth)
