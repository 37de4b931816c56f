"""Simulated annotators and a stream replay under a cost budget, for tests and benchmarks.

Annotators have a known error rate and kind: ``honest`` (wrong labels spread over the other
classes), ``spammer`` (a uniformly random class, whatever the item) or ``adversarial`` (with
probability ``error_rate`` the next class in a fixed order: a systematic confusion). Their
time per item follows :class:`ReadingTime` (reading grows with characters), so their label
timestamps carry durations a cost model can learn from.

:func:`run_under_budget` replays a labelled dataset through the production selection stage with
a :class:`CostBudget`, optionally wrapping the selector in :class:`CostAware`, and reports
accuracy against annotator minutes actually spent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stream_al.config import Settings
from stream_al.labels.base import Label
from stream_al.learn.online import OnlineLearner
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.cost import CostBudget, CostModel
from stream_al.select.cost_aware import CostAware
from stream_al.select.factory import make_selector
from stream_al.select.stage import SelectionStage
from stream_al.simulate.simulator import evaluate, label_gain


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


# ---- a stream replay under a cost budget ---------------------------------------------------------
@dataclass
class BudgetRun:
    name: str
    labels: int = 0
    minutes: float = 0.0
    accuracy: float = 0.0
    curve: list[tuple[float, float]] = field(default_factory=list)  # (minutes spent, accuracy)

    def accuracy_at(self, minutes: float) -> float:
        """Accuracy of the last checkpoint that had spent at most ``minutes``."""
        best = 0.0
        for spent, acc in self.curve:
            if spent <= minutes + 1e-9:
                best = acc
        return best


def run_under_budget(X: np.ndarray, y: np.ndarray, chars: np.ndarray, true_seconds: np.ndarray,
                     stream: np.ndarray, test: np.ndarray, settings: Settings,
                     budget: CostBudget, strategy: str, cost_aware: bool,
                     label_delay: int = 50, chunk: int = 50,
                     learn_cost: CostModel | None = None, checkpoints: int = 10) -> BudgetRun:
    """Replay ``stream`` rows; labels come back ``label_delay`` items after purchase and cost
    ``true_seconds``. ``learn_cost`` (usually ``budget.model``) learns from those seconds."""
    learner = OnlineLearner(X.shape[1], settings.learner)
    stage = SelectionStage(settings, X.shape[1], strategy)
    stage.budget = budget  # type: ignore[assignment]  # a BudgetLike in minutes or money
    if cost_aware:
        sel = settings.selection
        stage.selector = CostAware.of(
            lambda r: make_selector(strategy, sel, settings.budget, r), stage, kind=sel.uncertainty)
    run = BudgetRun(("cost-aware " if cost_aware else "") + strategy)
    pending: deque[tuple[int, int]] = deque()
    marks = set(np.linspace(0, len(stream), checkpoints + 1).astype(int)[1:].tolist())
    for start in range(0, len(stream), chunk):
        rows = stream[start : start + chunk]
        stage.set_model(learner.snapshot())
        batch = ScoredBatch([str(r) for r in rows], X[rows], score_many(learner.snapshot(), X[rows]),
                            costs=budget.cost_many(chars[rows]))
        for s in stage.select_many(batch):
            pending.append((start + len(rows) + label_delay, int(s.item_id)))
        _deliver(learner, stage, pending, start + len(rows), X, y, chars, true_seconds,
                 learn_cost, run)
        if any(start < m <= start + len(rows) for m in marks):
            run.curve.append((run.minutes, evaluate(learner.snapshot(), X[test], y[test])[0]))
    for s in stage.flush():
        pending.append((0, int(s.item_id)))
    _deliver(learner, stage, pending, None, X, y, chars, true_seconds, learn_cost, run)
    run.accuracy = evaluate(learner.snapshot(), X[test], y[test])[0]
    run.curve.append((run.minutes, run.accuracy))
    return run


def _deliver(learner: OnlineLearner, stage: SelectionStage, pending: deque[tuple[int, int]],
             position: int | None, X: np.ndarray, y: np.ndarray, chars: np.ndarray,
             true_seconds: np.ndarray, learn_cost: CostModel | None, run: BudgetRun) -> None:
    rows = []
    while pending and (position is None or pending[0][0] <= position):
        rows.append(pending.popleft()[1])
    if not rows:
        return
    labels = list(y[rows])
    gains = label_gain(learner.snapshot(), X[rows], labels)
    learner.learn_many(X[rows], labels)
    stage.labelled([str(r) for r in rows], gains.tolist())
    run.labels += len(rows)
    run.minutes += float(true_seconds[rows].sum()) / 60.0
    if learn_cost is not None:
        learn_cost.observe_many(chars[rows], true_seconds[rows])
