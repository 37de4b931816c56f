"""A stream with a real shift, replayed with and without the drift-aware budget response.

The shift is *class emergence*, the drift a deployed text classifier meets most often: for the
first ``shift_at`` items the stream holds only some of a dataset's classes (AG News: World and
Sports), after that every class arrives (Business and Sci/Tech emerge, shuffled in with the
old ones). Nothing is synthetic: the texts and labels are the dataset's, only their order is
chosen. Accuracy is measured on held-out items of the classes the stream holds at the time
(before the shift, the first classes; after it, all of them), so a model that has not learned
the new classes loses accuracy at the shift and recovers as it buys their labels.

The loop is the simulator's (:mod:`stream_al.simulate.replay`): the worker's
:class:`~stream_al.loop.coordinator.Coordinator`, whose data health (drift monitor and OOD
detector) watches the stream's embeddings and uncertainty and the prequential correctness of
arriving labels, and whose alarms start the drift response of its selection stack. ``respond``
and ``ood`` switch the response and the OOD cap off for the comparison runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from stream_al.calibration import (
    CalibrationResult,
    TemperatureCalibrator,
    expected_calibration_error,
)
from stream_al.config import Settings
from stream_al.drift.base import DriftAlarm
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.simulate.replay import Replay
from stream_al.simulate.simulator import evaluate
from stream_al.simulate.vendor import simulated_vendor


@dataclass(frozen=True)
class ShiftStream:
    """Row indices in stream order with one shift, and the held-out rows for each phase."""

    order: np.ndarray
    shift_at: int
    test_before: np.ndarray
    test_after: np.ndarray
    description: str = ""


def emerging_classes(labels: Sequence[str], first: Sequence[str], shift_at: int,
                     length: int | None = None, test_per_class: int = 250,
                     seed: int = 0) -> ShiftStream:
    """Only classes ``first`` until ``shift_at``; then every class, shuffled together.

    ``test_per_class`` rows of each class are held out first; the rest of ``first``'s rows
    open the stream and every remaining row follows (cut to ``length`` items in all).
    """
    y = np.asarray(labels, dtype=object)
    classes = sorted(set(y.tolist()))
    missing = [c for c in first if c not in classes]
    if missing or not 0 < len(first) < len(classes):
        raise ValueError(f"first classes {list(first)} must be a proper subset of {classes}")
    rng = np.random.default_rng(seed)
    test, pool = [], []
    for c in classes:
        rows = rng.permutation(np.flatnonzero(y == c))
        test.append(rows[:test_per_class])
        pool.append(rows[test_per_class:])
    test_all = np.concatenate(test)
    pool_all = np.concatenate(pool)
    is_first = np.isin(y[pool_all], list(first))
    before = rng.permutation(pool_all[is_first])
    if len(before) < shift_at:
        raise ValueError(f"only {len(before)} rows of {list(first)} for a shift at {shift_at}")
    after = rng.permutation(np.concatenate([before[shift_at:], pool_all[~is_first]]))
    order = np.concatenate([before[:shift_at], after])[:length]
    return ShiftStream(order, shift_at, test_all[np.isin(y[test_all], list(first))], test_all,
                       f"{'+'.join(first)} until item {shift_at}, then all of {classes}")


def stationary(labels: Sequence[str], length: int | None = None, test_per_class: int = 250,
               seed: int = 0) -> ShiftStream:
    """The control: every class shuffled together from the start, no shift (``shift_at`` = end)."""
    y = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    test, pool = [], []
    for c in sorted(set(y.tolist())):
        rows = rng.permutation(np.flatnonzero(y == c))
        test.append(rows[:test_per_class])
        pool.append(rows[test_per_class:])
    order = rng.permutation(np.concatenate(pool))[:length]
    test_all = np.concatenate(test)
    return ShiftStream(order, len(order), test_all, test_all, "every class, shuffled: no shift")


@dataclass(frozen=True)
class ShiftPoint:
    position: int
    labels_used: int
    accuracy: float  # on held-out rows of the classes the stream holds at ``position``
    spent: float  # budget spent, borrowed included


@dataclass
class ScenarioResult:
    name: str
    shift_at: int
    alarms: list[DriftAlarm] = field(default_factory=list)
    curve: list[ShiftPoint] = field(default_factory=list)
    labels_used: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    final_accuracy: float = 0.0
    calibration: CalibrationResult | None = None
    ece_test: float = 0.0  # ECE on the final held-out set, uncalibrated
    ece_test_calibrated: float = 0.0  # ... with the temperature the calibrator adopted
    ece_test_fitted: float = 0.0  # ... with the last fitted temperature, adopted or not
    snapshot: ModelSnapshot | None = None  # the final model

    @property
    def alarm_delay(self) -> int | None:
        """Items from the shift to the first alarm at or after it (None: never)."""
        after = [a.position - self.shift_at for a in self.alarms if a.position >= self.shift_at]
        return min(after) if after else None

    @property
    def false_alarms(self) -> int:
        return sum(a.position < self.shift_at for a in self.alarms)

    def accuracy_at(self, items_after_shift: int) -> float:
        """Accuracy at the first checkpoint at least ``items_after_shift`` past the shift."""
        for p in self.curve:
            if p.position >= self.shift_at + items_after_shift:
                return p.accuracy
        return self.curve[-1].accuracy

    def recovery_auc(self, horizon: int) -> float:
        """Mean post-shift accuracy over the ``horizon`` items after the shift."""
        acc = [p.accuracy for p in self.curve
               if self.shift_at < p.position <= self.shift_at + horizon]
        return float(np.mean(acc)) if acc else 0.0

    def items_to_reach(self, accuracy: float) -> int | None:
        """Items after the shift until held-out accuracy first reaches ``accuracy``."""
        for p in self.curve:
            if p.position > self.shift_at and p.accuracy >= accuracy:
                return p.position - self.shift_at
        return None


class DriftScenario:
    """One dataset, its embeddings and a :class:`ShiftStream`; run any strategy on it.

    ``texts``: the rows' texts (the coordinator keeps what it bought); without them each row
    is known by its index. A driver of the simulator, as :class:`Simulation`: it takes the
    whole :class:`Settings` to build each run's coordinator (:meth:`Replay.of`)."""

    def __init__(self, labels: Sequence[str], X: np.ndarray, settings: Settings,
                 stream: ShiftStream, eval_every: int = 100,
                 texts: Sequence[str] | None = None) -> None:
        if len(labels) != len(X):
            raise ValueError(f"{len(labels)} labels but {len(X)} embeddings")
        self.y = np.asarray(labels, dtype=object)
        self.X = np.asarray(X, dtype=np.float32)
        self.texts = list(texts) if texts is not None else [f"row {i}" for i in range(len(X))]
        self.settings = settings
        self.stream = stream
        self.eval_every = eval_every

    def run(self, strategy: str, respond: bool, ood: bool = False) -> ScenarioResult:
        """Replay the stream with ``strategy`` through the worker's coordinator; ``respond``
        keeps the drift response (``drift.response_items``) and ``ood`` the OOD cap
        (``ood.max_share``) that the settings configure, otherwise they are switched off."""
        replay = self._replay(strategy, respond, ood)
        name = f"{strategy}{'+ood' if ood else ''}{'+response' if respond else ''}"
        result = ScenarioResult(name, self.stream.shift_at)
        next_eval = self.eval_every
        order, chunk = self.stream.order, self.settings.simulation.chunk_size
        for start in range(0, len(order), chunk):
            replay.feed_many(order[start : start + chunk])
            result.alarms += self._on_stream(replay.c.take_alarms(), replay.position)
            position = replay.position
            if position >= next_eval:
                result.curve.append(self._checkpoint(replay, position))
                next_eval = (position // self.eval_every + 1) * self.eval_every
        position = replay.position
        if not result.curve or result.curve[-1].position != position:
            result.curve.append(self._checkpoint(replay, position))
        result.labels_used = replay.out.labels_used
        result.reasons = dict(replay.out.reasons)
        result.final_accuracy = result.curve[-1].accuracy
        result.snapshot = replay.c.learner.snapshot()
        self._calibrate(result.snapshot, replay.c.governance.calibrator, result)
        return result

    def _on_stream(self, alarms: list[DriftAlarm], position: int) -> list[DriftAlarm]:
        """``alarms`` on the stream's time line: with ``scale.preselect`` each alarm is put at
        the stream position ``position`` after the chunk that raised it
        (``simulation.chunk_size`` resolution). The coordinator places them within the chunk
        (stream_al.loop.spans.at_stream_positions); the scenario keeps the chunk's end, so
        that its delays read as they did when the monitor's positions counted candidates."""
        if not self.settings.scale.preselect:
            return alarms
        return [replace(a, position=position) for a in alarms]

    def _replay(self, strategy: str, respond: bool, ood: bool) -> Replay:
        s = self.settings
        off = {}
        if not respond:
            off["drift"] = s.drift.model_copy(update={"response_items": 0})
        if not ood:
            off["ood"] = s.ood.model_copy(update={"max_share": 0.0})
        s = s.model_copy(update=off)
        truth = {str(r): str(self.y[r]) for r in self.stream.order.tolist()}
        vendor = simulated_vendor(truth, s.simulation, s.annotation.max_annotators)
        return Replay.of(s, strategy, LookupEmbedder(self.texts, self.X), self.texts, self.X,
                         vendor)

    def _test_rows(self, position: int) -> np.ndarray:
        stream = self.stream
        return stream.test_before if position <= stream.shift_at else stream.test_after

    def _checkpoint(self, replay: Replay, position: int) -> ShiftPoint:
        rows = self._test_rows(position)
        c = replay.c
        acc, _ = evaluate(c.learner.snapshot(), self.X[rows], list(self.y[rows]))
        spent = c.stage.budget.spent + c.governance.debt  # borrowed included
        return ShiftPoint(position, replay.out.labels_used, acc, spent)

    def _calibrate(self, snapshot: ModelSnapshot, calibrator: TemperatureCalibrator,
                   result: ScenarioResult) -> None:
        """ECE on the final held-out set, before and after the temperature fitted on labels."""
        if not snapshot.ready:
            return
        rows = self.stream.test_after
        col = {c: i for i, c in enumerate(snapshot.classes)}
        known = np.array([self.y[r] in col for r in rows])
        rows = rows[known]
        y = np.array([col[self.y[r]] for r in rows])
        raw = snapshot.with_temperature(1.0)  # the coordinator may have adopted a temperature
        result.ece_test = expected_calibration_error(raw.predict_proba_many(self.X[rows]), y)
        result.calibration = calibrator.fit()
        for attr, t in (("ece_test_calibrated", calibrator.temperature),
                        ("ece_test_fitted", result.calibration.temperature
                         if result.calibration else calibrator.temperature)):
            proba = raw.with_temperature(t).predict_proba_many(self.X[rows])
            setattr(result, attr, expected_calibration_error(proba, y))

