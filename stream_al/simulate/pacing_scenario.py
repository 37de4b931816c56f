"""Streams for budget pacing, and a run that records the pacer's rate beside the accuracy.

Four streams, built from real labelled datasets (only the order of their rows is chosen):

- :func:`~stream_al.simulate.drift_scenario.stationary`: every class shuffled, no change;
- :func:`class_mix_shift`: half of the classes make ``share`` of the stream until the change,
  the other half after it (every class is present throughout);
- :func:`late_class`: one class appears only after the change (``emerging_classes``);
- :func:`domain_switch`: one dataset, then another (:func:`joined` puts two datasets in one
  row space; labels keep their names when both sets have the same classes, else they are
  prefixed with the set's name, so the second set's classes are new).

:class:`PacingRun` (:meth:`PacingRun.run_with`) replays a :class:`~stream_al.simulate.drift_scenario.ShiftStream` through the
worker's coordinator (:mod:`stream_al.simulate.replay`) and records, at every checkpoint,
held-out accuracy (on the classes the stream holds then), the budget spent and the pacer's
rate; :class:`PacedResult` says when the pacer resumed after the change and what it saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_al.config import Settings
from stream_al.pace.pacer import PaceChange
from stream_al.simulate.drift_scenario import DriftScenario, ShiftStream, emerging_classes
from stream_al.simulate.replay import Replay
from stream_al.simulate.simulator import evaluate


def _held_out(y: np.ndarray, test_per_class: int, rng: np.random.Generator,
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``test_per_class`` rows of each class held out; the rest of each class, shuffled."""
    test, pools = [], {}
    for c in sorted(set(y.tolist())):
        rows = rng.permutation(np.flatnonzero(y == c))
        test.append(rows[:test_per_class])
        pools[c] = rows[test_per_class:]
    return np.concatenate(test), pools


def class_mix_shift(labels: Sequence[str], length: int, shift_at: int, share: float = 0.8,
                    test_per_class: int = 50, seed: int = 0) -> ShiftStream:
    """Classes split in two halves (seeded); the first half makes ``share`` of the stream until
    ``shift_at``, the second half after it. A half that runs out is filled from the other."""
    y = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    test, pools = _held_out(y, test_per_class, rng)
    classes = list(rng.permutation(sorted(pools)))
    half = max(1, len(classes) // 2)
    groups = [list(rng.permutation(np.concatenate([pools[c] for c in part])))
              for part in (classes[:half], classes[half:])]
    order: list[int] = []
    for position in range(length):
        major = 0 if position < shift_at else 1
        pick = major if rng.random() < share else 1 - major
        if not groups[pick]:
            pick = 1 - pick
        if not groups[pick]:
            break
        order.append(int(groups[pick].pop()))
    return ShiftStream(np.asarray(order), shift_at, test, test,
                       f"{share:.0%} of the stream from classes {sorted(classes[:half])[:4]}... "
                       f"until item {shift_at}, then {share:.0%} from the others")


def late_class(labels: Sequence[str], length: int, shift_at: int, test_per_class: int = 50,
               seed: int = 0) -> ShiftStream:
    """Every class but one (a seeded choice among the classes with the median row count or
    more) from the start; that one too after ``shift_at``."""
    y = np.asarray(labels, dtype=object)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 3:
        raise ValueError(f"a late class needs at least 3 classes (2 before it), got {len(classes)}")
    large = classes[counts >= np.median(counts)]
    late = str(np.random.default_rng(seed).choice(large))
    first = [str(c) for c in classes if c != late]
    before = int(sum(max(0, int(k) - test_per_class) for c, k in zip(classes, counts,
                                                                     strict=True) if c != late))
    return emerging_classes(labels, first, min(shift_at, before), length, test_per_class, seed)


@dataclass(frozen=True)
class Joined:
    """Two datasets in one row space: rows of ``a`` first, then ``b``'s."""

    labels: list[str]
    X: np.ndarray
    texts: list[str]
    n_a: int


def joined(name_a: str, labels_a: Sequence[str], X_a: np.ndarray, texts_a: Sequence[str],
           name_b: str, labels_b: Sequence[str], X_b: np.ndarray, texts_b: Sequence[str],
           ) -> Joined:
    """Rows of ``a`` then ``b``; labels prefixed with the set's name unless both sets have the
    same classes (then a switch is a new domain of the same task)."""
    same = set(labels_a) == set(labels_b)
    la = list(labels_a) if same else [f"{name_a}:{x}" for x in labels_a]
    lb = list(labels_b) if same else [f"{name_b}:{x}" for x in labels_b]
    return Joined(la + lb, np.vstack([X_a, X_b]).astype(np.float32),
                  list(texts_a) + list(texts_b), len(labels_a))


def domain_switch(data: Joined, half: int, test_per_class: int = 50, seed: int = 0,
                  ) -> ShiftStream:
    """Up to ``half`` shuffled rows of the first set, then up to ``half`` of the second; held
    out per phase: the first set's rows, then the second's."""
    y = np.asarray(data.labels, dtype=object)
    rng = np.random.default_rng(seed)
    parts = []
    for rows in (np.arange(data.n_a), np.arange(data.n_a, len(y))):
        test, pools = _held_out(y[rows], test_per_class, rng)
        pool = rng.permutation(np.concatenate(list(pools.values())))[:half]
        parts.append((rows[test], rows[pool]))
    (test_a, stream_a), (test_b, stream_b) = parts
    return ShiftStream(np.concatenate([stream_a, stream_b]), len(stream_a), test_a, test_b,
                       f"{len(stream_a)} items of one set, then {len(stream_b)} of another")


@dataclass(frozen=True)
class PacePoint:
    position: int
    labels_used: int
    accuracy: float
    spent: float
    rate: float


@dataclass
class PacedResult:
    shift_at: int
    curve: list[PacePoint] = field(default_factory=list)
    rates: list[tuple[int, float]] = field(default_factory=list)
    """(stream position, pacer rate) after every chunk (1.0 throughout without pacing)."""
    changes: list[PaceChange] = field(default_factory=list)
    labels_used: int = 0
    spent: float = 0.0
    allowance_total: float = 0.0
    saved_labels: float = 0.0
    final_accuracy: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    max_overspend: float = 0.0
    """Largest excess of spending over ``fraction * seen + warmup`` at any chunk (0: never)."""

    @property
    def spend_fraction(self) -> float:
        return self.spent / self.allowance_total if self.allowance_total else 0.0

    def rate_at(self, position: int) -> float:
        return next((r for p, r in self.rates if p >= position), self.rates[-1][1])

    def resume_delay(self) -> int | None:
        """Items from the change until the rate was 1 again (0: it was 1 at the change; None:
        it never was)."""
        if self.rate_at(self.shift_at - 1) >= 1:
            return 0
        return next((p - self.shift_at for p, r in self.rates if p >= self.shift_at and r >= 1),
                    None)


class PacingRun(DriftScenario):
    """One :class:`ShiftStream` over rows ``labels``/``X``; run with any settings (the drift
    response and the OOD cap as they configure)."""

    def __init__(self, labels: Sequence[str], X: np.ndarray, stream: ShiftStream,
                 texts: Sequence[str] | None = None, eval_every: int = 500) -> None:
        super().__init__(labels, X, Settings.load(), stream, eval_every, texts)

    def run_with(self, settings: Settings, strategy: str | None = None) -> PacedResult:
        """Replay the stream under ``settings`` (pacing on or off), recording the rate; a
        driver of the simulator, it takes the whole :class:`Settings` to build the run's
        coordinator (:meth:`Replay.of`)."""
        self.settings = settings
        replay = self._replay(strategy or settings.selection.strategy, respond=True, ood=True)
        c = replay.c
        pacer = c.governance.pacer
        result = PacedResult(self.stream.shift_at)
        order, chunk = self.stream.order, settings.simulation.chunk_size
        next_eval = self.eval_every
        for start in range(0, len(order), chunk):
            replay.feed_many(order[start : start + chunk])
            rate = 1.0 if pacer is None else pacer.rate
            result.rates.append((replay.position, rate))
            b = c.stage.budget
            over = b.spent + c.governance.debt - (b.fraction * b.seen + b.warmup)
            result.max_overspend = max(result.max_overspend, over)
            if replay.position >= next_eval:
                result.curve.append(self._pace_point(replay, rate))
                next_eval += self.eval_every
        replay.finish()
        result.curve.append(self._pace_point(replay, result.rates[-1][1]))
        b = c.stage.budget
        result.labels_used = replay.out.labels_used
        result.spent = b.spent + c.governance.debt
        result.allowance_total = b.fraction * b.seen + b.warmup
        result.final_accuracy = result.curve[-1].accuracy
        result.reasons = dict(replay.out.reasons)
        if pacer is not None:
            result.changes = pacer.take_changes()
            result.saved_labels = pacer.labels_saved
        return result

    def _pace_point(self, replay: Replay, rate: float) -> PacePoint:
        position = replay.position
        rows = self._test_rows(position)
        acc, _ = evaluate(replay.c.learner.snapshot(), self.X[rows], list(self.y[rows]))
        spent = replay.c.stage.budget.spent + replay.c.governance.debt
        return PacePoint(position, replay.out.labels_used, acc, spent, rate)
