"""Replay a labelled dataset as a stream, buying labels the way production does.

:class:`Simulation` runs the Kafka worker's own core: a
:class:`~stream_al.loop.coordinator.Coordinator` (the selection stack of
:func:`~stream_al.select.stack.build_stage` with the OOD cap and drift response, pricing,
adjudication, calibration) driven by the one replay loop (:mod:`stream_al.simulate.replay`) on
a simulated clock, with a simulated vendor whose labels come back ``label_delay`` stream items
after the purchase. The model is evaluated on a held-out split at checkpoints.
"""

from __future__ import annotations

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
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.simulate.replay import Replay
from stream_al.simulate.vendor import SimulatedVendor, Vendor, simulated_vendor

__all__ = ["Simulation", "StrategyResult", "area_under_curve", "evaluate", "label_gain", "split"]


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
    bought: list[str] = field(default_factory=list)
    """Item ids (stream rows) in the order they were bought."""
    pace: list[tuple[int, float]] = field(default_factory=list)
    """With ``pacing.enabled``: (stream position, the pacer's rate) after every chunk."""
    labels_saved: float = 0.0

    def summary(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "labels_used": self.labels_used, "final_accuracy": round(self.final_accuracy, 4),
            "macro_f1": round(self.macro_f1, 4), "auc": round(self.auc, 4)}
        if self.pace:
            out["labels_saved"] = round(self.labels_saved, 1)
        return out


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


def checkpoints(stream_length: int, n: int) -> np.ndarray:
    """The ``n`` stream positions (evenly spaced, the last at the end) where the model is
    evaluated."""
    return np.unique(np.linspace(0, stream_length, n + 1).astype(int)[1:])


def area_under_curve(curve: Sequence[CurvePoint], stream_length: int) -> float:
    """Mean accuracy over the stream (trapezoid of accuracy against stream fraction)."""
    if len(curve) < 2:
        return curve[0].accuracy if curve else 0.0
    x = np.array([p.position for p in curve], dtype=float) / stream_length
    acc = np.array([p.accuracy for p in curve])
    return float(np.trapezoid(acc, x) / (x[-1] - x[0]))


class Simulation:
    """One dataset, one split, one set of embeddings; run any number of strategies on it.

    The simulator's entry point: it takes the whole :class:`Settings` because each run builds
    a coordinator and its simulated shell from them (:meth:`Replay.of`), as the worker's
    :func:`~stream_al.stream.app.build_app` does; the split and the vendor get ``simulation``
    (and ``annotation.max_annotators``), the all-labels ceiling ``learner``.
    """

    def __init__(self, data: LabeledTexts, X: np.ndarray, settings: Settings) -> None:
        sim = settings.simulation
        if len(data) != len(X):
            raise ValueError(f"{len(data)} rows but {len(X)} embeddings")
        if not settings.kafka.label_classes:  # a replay knows its classes, as a deployment may
            known = sorted({str(y) for y in data.labels})  # list them: no new-class cap applies
            settings = settings.model_copy(update={
                "kafka": settings.kafka.model_copy(update={"label_classes": known})})
        self.settings = settings
        self.X = np.asarray(X, dtype=np.float32)
        self.y = np.array(data.labels, dtype=object)
        self.texts = list(data.texts)
        self.embedder = LookupEmbedder(self.texts, self.X)
        """The dataset's own vectors: the coordinator never re-embeds a text."""
        self.last_replay: Replay | None = None
        self.split = split(len(data), sim.test_size, sim.seed)
        n = len(self.split.stream)
        self.checkpoints = checkpoints(n, sim.checkpoints)

    @property
    def stream_length(self) -> int:
        return len(self.split.stream)

    def all_labels_accuracy(self) -> float:
        """The same learner trained on every label in the stream: the ceiling."""
        s = self.settings.learner
        learner = OnlineLearner(self.X.shape[1], s.model_copy(update={
            "max_iter": max(300, s.max_iter), "committee_size": 2}))  # the committee: no vote here
        idx = self.split.stream
        learner.learn_many(self.X[idx], list(self.y[idx]))
        pred = learner.served_snapshot().predict_many(self.X[self.split.test])
        return float(accuracy_score(self.y[self.split.test], pred))

    def run(self, strategy: str, progress: Callable[[int], None] | None = None,
            record: bool = False, vendor: Vendor | None = None) -> StrategyResult:
        """Replay the stream with ``strategy``; ``record`` keeps every call into the
        coordinator (:attr:`last_replay`'s ``steps``); ``vendor``: who labels (by default
        :meth:`vendor`'s)."""
        replay = self.replay(strategy, record, vendor)
        result = StrategyResult(strategy)
        test_X, test_y = self.X[self.split.test], self.y[self.split.test]
        next_cp = 0
        chunk = self.settings.simulation.chunk_size
        for start in range(0, self.stream_length, chunk):
            rows = self.split.stream[start : start + chunk]
            replay.feed_many(rows)
            position = start + len(rows)
            if (pacer := replay.c.governance.pacer) is not None:
                result.pace.append((position, pacer.rate))
            while next_cp < len(self.checkpoints) and position >= self.checkpoints[next_cp]:
                acc, f1 = evaluate(replay.c.learner.served_snapshot(), test_X, test_y)
                result.curve.append(CurvePoint(position, replay.out.labels_used, acc, f1))
                next_cp += 1
            if progress:
                progress(len(rows))
        replay.finish()  # what the budget still allows, and every label owed
        snapshot = replay.c.learner.served_snapshot()  # what predicts (the selecting model
        acc, f1 = evaluate(snapshot, test_X, test_y)  # unless learner.served_rule is set)
        result.labels_used = replay.out.labels_used
        result.gains = replay.out.gains
        result.bought = [p.item_id for p in replay.out.purchases]
        result.curve[-1] = CurvePoint(self.stream_length, result.labels_used, acc, f1)
        result.final_accuracy, result.macro_f1 = acc, f1
        result.reliability = held_out_reliability(snapshot, test_X, test_y)
        result.auc = area_under_curve(result.curve, self.stream_length)
        if (pacer := replay.c.governance.pacer) is not None:
            result.labels_saved = pacer.labels_saved
        self.last_replay = replay
        return result

    def replay(self, strategy: str, record: bool = False,
               vendor: Vendor | None = None) -> Replay:
        """A fresh coordinator for ``strategy``, its vendor and the replay loop."""
        return Replay.of(self.settings, strategy, self.embedder, self.texts, self.X,
                         vendor or self.vendor(), record)

    @property
    def truth(self) -> dict[str, str]:
        """Stream item id -> its true class."""
        return {str(r): str(self.y[r]) for r in self.split.stream.tolist()}

    @property
    def label_delay_s(self) -> float:
        """Simulated seconds between a purchase and its labels (``simulation.label_delay``
        stream items)."""
        sim = self.settings.simulation
        return sim.label_delay * sim.seconds_per_item

    def vendor(self) -> SimulatedVendor:
        """The default vendor: ``annotation.max_annotators`` annotators, each right with
        ``simulation.annotator_accuracy``, answering ``label_delay`` items after a purchase."""
        return simulated_vendor(self.truth, self.settings.simulation,
                                self.settings.annotation.max_annotators)


def held_out_reliability(snapshot: ModelSnapshot, X: np.ndarray,
                         y: Sequence[str]) -> ReliabilityDiagram | None:
    """Reliability diagram of the model on the held-out split (items of unseen classes count
    as wrong)."""
    if not snapshot.ready:
        return None
    col = {c: i for i, c in enumerate(snapshot.classes)}
    truth = np.array([col.get(label, -1) for label in y])
    return reliability_diagram(snapshot.predict_proba_many(X), truth)
