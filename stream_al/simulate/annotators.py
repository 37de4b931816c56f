"""Simulated annotators and a stream replay under a cost budget, for tests and benchmarks.

Annotators have a known error rate and kind: ``honest`` (wrong labels spread over the other
classes), ``spammer`` (a uniformly random class, whatever the item) or ``adversarial`` (with
probability ``error_rate`` the next class in a fixed order: a systematic confusion). Their
time per item follows :class:`ReadingTime` (reading grows with characters), so their label
timestamps carry durations a cost model can learn from.

:class:`AnnotatorVendor` is a vendor of such annotators for the simulator's replay loop, and
:func:`run_under_budget` runs a :class:`~stream_al.simulate.simulator.Simulation` with it: the
coordinator the Kafka worker runs (selection stack, pricing, adjudication) buys under the
budget of ``settings.cost`` (labels, annotator minutes or money; cost-aware with
``cost.aware``), the annotators take their true reading time per item, and the run reports
accuracy against the annotator minutes actually spent. The coordinator's cost model learns
those times as it does live: from the gaps between one annotator's label timestamps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stream_al.labels.base import Label
from stream_al.loop.records import Purchase
from stream_al.select.cost import CostModel
from stream_al.simulate.simulator import Simulation


@dataclass(frozen=True)
class ReadingTime:
    """Seconds to label an item: ``base_seconds + chars / chars_per_second``, times
    log-normal noise of spread ``noise`` when a generator is given."""

    base_seconds: float = 4.0
    chars_per_second: float = 15.0
    noise: float = 0.3

    def seconds_many(self, chars: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        mean = self.base_seconds + np.asarray(chars, dtype=np.float64) / self.chars_per_second
        if rng is None or self.noise == 0:
            return mean
        # mean-preserving log-normal: E[exp(N(-s^2/2, s))] = 1
        return mean * rng.lognormal(-self.noise**2 / 2, self.noise, size=mean.shape)


@dataclass(frozen=True)
class SimulatedAnnotator:
    annotator_id: str
    error_rate: float = 0.0
    kind: Literal["honest", "spammer", "adversarial"] = "honest"

    def answer_many(self, truth: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
        """Class indices this annotator gives for items of true classes ``truth``."""
        n = len(truth)
        if n_classes < 2:  # nothing else to answer
            return np.asarray(truth).copy()
        if self.kind == "spammer":
            return rng.integers(0, n_classes, n)
        wrong = rng.random(n) < self.error_rate
        if self.kind == "adversarial":
            other = (truth + 1) % n_classes
        else:
            other = (truth + rng.integers(1, n_classes, n)) % n_classes  # any other class
        return np.where(wrong, other, truth)


def crowd_labels(annotators: Sequence[SimulatedAnnotator], item_ids: Sequence[str],
                 truth: Sequence[str], classes: Sequence[str], per_item: int,
                 rng: np.random.Generator, chars: np.ndarray | None = None,
                 time: ReadingTime | None = None) -> list[Label]:
    """``per_item`` labels per item from distinct annotators drawn at random.

    With ``chars`` and ``time``, each annotator works through their items in order and
    timestamps advance by the simulated seconds (the first label lands at t = its duration).
    """
    if not 1 <= per_item <= len(annotators):
        raise ValueError(f"per_item must be in [1, {len(annotators)}], got {per_item}")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[t] for t in truth])
    who = np.argsort(rng.random((len(item_ids), len(annotators))), axis=1)[:, :per_item]
    seconds = (time.seconds_many(chars, rng) if time is not None and chars is not None
               else np.ones(len(item_ids)))
    clock = np.zeros(len(annotators))
    answers = [a.answer_many(y, len(classes), rng) for a in annotators]
    out = []
    for i, item in enumerate(item_ids):
        for a in who[i]:
            clock[a] += seconds[i]
            out.append(Label(item, classes[answers[a][i]], annotators[a].annotator_id,
                             float(clock[a])))
    return out


# ---- a vendor of timed annotators -----------------------------------------------------------
class AnnotatorVendor:
    """A :class:`~stream_al.simulate.vendor.Vendor` whose purchases are labelled by ``k`` of
    ``pool`` (k: the purchase's ``annotators``), drawn at random.

    Each annotator works through their items back to back: a label's timestamp is the
    annotator's own working clock, advanced by ``seconds[item]`` (so the gaps between one
    annotator's labels are the times the items took, which the coordinator's cost model
    learns). The labels come back ``delay_s`` after the purchase.

    >>> vendor = AnnotatorVendor([SimulatedAnnotator("a")], {"7": "x"}, ["x", "y"],
    ...                          {"7": 12.0}, delay_s=5.0)
    >>> vendor.buy_many([Purchase("7", "t", "b", "random", "random", {}, 0, 60.0, 1.0, 0)], 0.0)
    >>> [(x.item_id, x.label, x.timestamp) for x in vendor.due_many(5.0)], vendor.minutes
    ([('7', 'x', 12.0)], 0.2)
    """

    def __init__(self, pool: Sequence[SimulatedAnnotator], truth: Mapping[str, str],
                 classes: Sequence[str], seconds: Mapping[str, float], delay_s: float,
                 seed: int = 0) -> None:
        if not pool:
            raise ValueError("an annotator vendor needs at least one annotator in its pool")
        self.pool = list(pool)
        self.truth = truth
        self.classes = list(classes)
        self._column = {c: i for i, c in enumerate(self.classes)}
        self.seconds = seconds
        self.delay_s = delay_s
        self._rng = np.random.default_rng(seed)
        self._clock = np.zeros(len(self.pool))
        self._queue: deque[tuple[float, Label]] = deque()
        self.labels = 0
        """Labels delivered so far."""
        self.minutes = 0.0
        """Annotator minutes the delivered labels took."""

    def buy_many(self, purchases: Sequence[Purchase], now: float) -> None:
        at = now + self.delay_s
        for p in purchases:
            truth = np.array([self._column[self.truth[p.item_id]]])
            k = min(p.annotators, len(self.pool))
            for a in sorted(self._rng.permutation(len(self.pool))[:k].tolist()):
                answer = int(self.pool[a].answer_many(truth, len(self.classes), self._rng)[0])
                self._clock[a] += self.seconds[p.item_id]
                self._queue.append((at, Label(p.item_id, self.classes[answer],
                                              self.pool[a].annotator_id, float(self._clock[a]),
                                              None, at)))

    def due_many(self, now: float) -> list[Label]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(self._queue.popleft()[1])
        self.labels += len(out)
        self.minutes += sum(self.seconds[x.item_id] for x in out) / 60.0
        return out

    @property
    def last_due(self) -> float | None:
        return self._queue[-1][0] if self._queue else None


# ---- a simulation under a cost budget -----------------------------------------------------
@dataclass
class BudgetRun:
    name: str
    labels: int = 0
    minutes: float = 0.0
    accuracy: float = 0.0
    curve: list[tuple[float, float]] = field(default_factory=list)  # (minutes spent, accuracy)
    cost_model: CostModel | None = None
    """The coordinator's cost model, as it learned from the labels' timestamps."""
    bought: list[str] = field(default_factory=list)
    """Item ids (stream rows) in the order they were bought."""

    def accuracy_at(self, minutes: float) -> float:
        """Accuracy of the last checkpoint that had spent at most ``minutes``."""
        best = 0.0
        for spent, acc in self.curve:
            if spent <= minutes + 1e-9:
                best = acc
        return best


def run_under_budget(simulation: Simulation, strategy: str, seconds: np.ndarray,
                     pool: Sequence[SimulatedAnnotator] | None = None) -> BudgetRun:
    """Replay ``simulation``'s stream with ``strategy`` under ``settings.cost``; the labels
    come from ``pool`` (by default ``annotation.max_annotators`` annotators, each wrong with
    probability ``1 - simulation.annotator_accuracy``), ``simulation.label_delay`` items after
    purchase, and take ``seconds[row]`` annotator seconds per dataset row."""
    s = simulation.settings
    if len(seconds) != len(simulation.X):
        raise ValueError(f"{len(seconds)} labelling times for {len(simulation.X)} rows")
    if pool is None:
        error = 1.0 - s.simulation.annotator_accuracy
        pool = [SimulatedAnnotator(f"sim-{i}", error) for i in range(s.annotation.max_annotators)]
    truth = simulation.truth
    vendor = AnnotatorVendor(pool, truth, sorted(set(truth.values())),
                             {str(r): float(seconds[r]) for r in simulation.split.stream.tolist()},
                             simulation.label_delay_s, seed=s.simulation.seed)
    minutes_at: dict[int, float] = {}

    def spent(n_rows: int) -> None:
        minutes_at[max(minutes_at, default=0) + n_rows] = vendor.minutes

    result = simulation.run(strategy, progress=spent, vendor=vendor)
    aware = s.cost.aware and s.cost.unit != "labels"
    run = BudgetRun(("cost-aware " if aware else "") + strategy, labels=vendor.labels,
                    minutes=vendor.minutes, accuracy=result.final_accuracy,
                    cost_model=simulation.last_replay.c.pricing.model, bought=result.bought)
    run.curve = [(minutes_at.get(p.position, vendor.minutes), p.accuracy)
                 for p in result.curve[:-1]]
    run.curve.append((vendor.minutes, run.accuracy))
    return run
