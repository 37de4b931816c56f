"""What an item costs the coordinator's budget, and how many labels it asks for.

The budget counts labels (``cost.unit: labels``: ``budget.fraction`` labels per stream item),
annotator minutes or money (``amount`` per ``period_items`` stream items, a
:class:`~stream_al.select.cost.CostBudget`). An item asked of k annotators (``annotation``: more for a
gold fraction and for items the model is unsure of, :class:`AssignmentPolicy`) costs k times
one label's price, where a label's price in minutes or money comes from a cost model by length
and task that learns from the labelling times the labels' timestamps reveal. Prices are in
ledger units (1 = one typical label), so every selector spends them as it spends counts; with
``cost.aware`` the selector ranks items by informativeness per unit of cost
(:class:`~stream_al.select.cost_aware.CostAware`).

>>> from stream_al.config import AnnotationSettings, CostSettings
>>> pricing = Pricing(CostSettings(), AnnotationSettings(low_confidence=0.5))
>>> costs, k = pricing.price_many(["a", "b"], ["short", "long text"], np.array([0.9, 0.3]))
>>> costs.tolist(), k.tolist()
([1.0, 3.0], [1, 3])
"""

from __future__ import annotations

import bisect
import copy
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from stream_al.annotation.assignment import AssignmentPolicy
from stream_al.config import AnnotationSettings, CostSettings
from stream_al.labels.base import Label
from stream_al.select.budget import Budget
from stream_al.select.cost import CostBudget, lengths_of, make_cost_model

RECENT_TIMESTAMPS = 64
"""Per annotator, the label timestamps kept to find the label before a new one."""


class Pricing:
    """Prices (ledger units) and annotator counts per item; learns labelling times."""

    def __init__(self, cost: CostSettings, annotation: AnnotationSettings,
                 budget: CostBudget | None = None, *, seed: int = 0, warmup: float = 0.0,
                 memory: int = 50_000) -> None:
        """``budget``: the selection stage's cost budget (``stage.cost_budget``, built with the
        stack by :func:`stream_al.select.stack.build_stage`), whose cost model the labelling
        times teach; None with ``cost.unit: labels`` (with minutes or money, a budget of its
        own, ``warmup`` labels' worth at the start). ``seed``: which items are gold
        (``selection.seed``)."""
        self.cost = cost
        self.annotation = annotation
        self.assignment = AssignmentPolicy(annotation, seed=seed)
        if budget is None and cost.unit != "labels":
            budget = CostBudget(cost, make_cost_model(cost), cost.task, warmup=warmup)
        self.budget = budget
        self.model = budget.model if budget is not None else make_cost_model(cost)
        self._wanted: OrderedDict[str, int] = OrderedDict()
        self._memory = memory
        self._times: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.observed = 0
        """Labelling times the cost model learned from."""

    @property
    def memory(self) -> int:
        """Items whose annotator count is remembered after pricing (the most recent)."""
        return self._memory

    def state(self) -> tuple[int, dict[str, list[tuple[float, str]]], dict]:
        """Copies of what the labelling times taught (the count, each annotator's recent
        times, the cost model's fitted state) for :meth:`load_state` (a checkpoint's image)."""
        model = {k: v for k, v in vars(self.model).items() if k != "settings"}
        return self.observed, copy.deepcopy(dict(self._times)), copy.deepcopy(model)

    def load_state(self, state: tuple[int, dict[str, list[tuple[float, str]]], dict]) -> None:
        observed, times, model = state
        self.observed = observed
        self._times.clear()
        self._times.update(copy.deepcopy(times))
        for name, value in copy.deepcopy(model).items():
            now = getattr(self.model, name, None)
            if isinstance(now, dict):  # in place: it may be a defaultdict
                now.clear()
                now.update(value)
            else:
                setattr(self.model, name, value)

    @property
    def ledger(self) -> Budget | None:
        return None if self.budget is None else self.budget.ledger

    # ---- prices -------------------------------------------------------------------------------
    def price_many(self, ids: Sequence[str], texts: Sequence[str],
                   confidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ledger cost, annotators wanted) per item; ``confidence``: the model's top-class
        probability (0 or None: not known, no low-confidence annotators)."""
        k = self.assignment.annotators_many(ids, confidence)
        if self.budget is None:
            costs = k.astype(np.float32)
        else:
            costs = self.budget.cost_many(lengths_of(texts), k)
        for item_id, n in zip(ids, k.tolist(), strict=True):
            self._wanted[item_id] = n
            self._wanted.move_to_end(item_id)
        while len(self._wanted) > self._memory:
            self._wanted.popitem(last=False)
        return costs.astype(np.float32), k

    def price_ranked_many(self, ids: Sequence[str], texts: Sequence[str],
                          confidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`price_many`, with each item's k (float32) as :meth:`annotators_many` will
        read it back: when more than :attr:`memory` items are priced at once, the first ones
        are forgotten again (the selector ranks on what a purchase will carry)."""
        costs, k = self.price_many(ids, texts, confidence)
        if len(ids) > self._memory:
            return costs, self.annotators_many(ids)
        return costs, k.astype(np.float32)

    def annotators(self, item_id: str) -> int:
        """Labels asked for ``item_id`` when it was priced (the configured k if never priced)."""
        return self._wanted.get(item_id, self.annotation.annotators_per_item)

    def annotators_many(self, ids: Sequence[str]) -> np.ndarray:
        return np.array([self.annotators(i) for i in ids], dtype=np.float32)

    def units(self, ledger_cost: float) -> float:
        """A ledger amount in the budget's unit (labels, minutes or money)."""
        return ledger_cost if self.budget is None else self.budget.to_units(ledger_cost)

    # ---- labelling times ----------------------------------------------------------------------
    def observe_labels(self, labels: Iterable[Label], texts: Mapping[str, str]) -> int:
        """Learn from the time each annotator took: the gap to their previous label (as
        :func:`stream_al.select.cost.durations_from_labels`, one label at a time; gaps over
        ``cost.max_gap_s`` are breaks). Returns how many times were learned."""
        if self.cost.learn == "off":
            return 0
        chars, seconds = [], []
        labels = list(labels)
        if not self._times and len(labels) > RECENT_TIMESTAMPS:  # a rebuild: in bulk
            replayed = self._replay_sorted(labels)
            if replayed is not None:
                for label, gap in replayed:
                    if label.item_id in texts:
                        chars.append(len(texts[label.item_id]))
                        seconds.append(gap)
                labels = []
        for label in labels:
            for item_id, gap in self._gaps(label):
                if item_id in texts:
                    chars.append(len(texts[item_id]))
                    seconds.append(gap)
        if chars:
            self.model.observe_many(np.array(chars, dtype=np.float64), np.array(seconds),
                                    self.cost.task)
            self.observed += len(chars)
        return len(chars)

    def _gaps(self, label: Label) -> list[tuple[str, float]]:
        """(item, seconds) learned from ``label``: its own time (since the annotator's label
        before it) and, when it is the earliest so far, the time of the label after it (labels
        of one annotator reach the coordinator out of order across partitions)."""
        times = self._times[label.annotator_id]
        entry = (label.timestamp, label.item_id)
        at = bisect.bisect_left(times, entry)
        out = []
        if at:
            out.append((label.item_id, label.timestamp - times[at - 1][0]))
        elif times:
            out.append((times[0][1], times[0][0] - label.timestamp))
        times.insert(at, entry)
        if len(times) > RECENT_TIMESTAMPS:
            del times[0]
        return [(i, g) for i, g in out if 0 < g <= self.cost.max_gap_s]

    def _replay_sorted(self, labels: list[Label]) -> list[tuple[Label, float]] | None:
        """What :meth:`_gaps` of each label gives, in bulk, when no time was observed yet and
        ``labels`` come in time order (a rebuild's; None otherwise): each label's gap to its
        annotator's previous distinct timestamp, learned unless a label of the same time and
        a smaller item came before it (then its gap is 0) or 64 of them came before it (the
        kept times hold only those); and the last 64 times of each annotator kept."""
        n = len(labels)
        ts = np.fromiter((x.timestamp for x in labels), dtype=np.float64, count=n)
        if np.any(np.diff(ts) < 0):
            return None
        names: dict[str, int] = {}
        who = np.fromiter((names.setdefault(x.annotator_id, len(names)) for x in labels),
                          dtype=np.int64, count=n)
        order = np.argsort(who, kind="stable")  # by annotator, each in time order
        a, t = who[order], ts[order]
        run = np.r_[True, a[1:] != a[:-1]]  # an annotator's first label
        group = run | np.r_[True, t[1:] != t[:-1]]  # the first of equal times
        start = np.maximum.accumulate(np.where(group, np.arange(n), 0))
        learned = ~run[start]  # an earlier time of the same annotator exists
        gap = t - t[np.maximum(start - 1, 0)]
        for first in np.flatnonzero(group & ~np.r_[group[1:], True]).tolist():  # ties
            smallest = labels[order[first]].item_id
            j = first + 1
            while j < n and not group[j]:
                item = labels[order[j]].item_id
                learned[j] &= item <= smallest and j - first < RECENT_TIMESTAMPS
                smallest = min(smallest, item)
                j += 1
        learned &= (gap > 0) & (gap <= self.cost.max_gap_s)
        ends = np.r_[np.flatnonzero(run)[1:], n]
        for begin, end in zip(np.flatnonzero(run).tolist(), ends.tolist(), strict=True):
            tail = int(np.searchsorted(t[begin:end], t[max(begin, end - RECENT_TIMESTAMPS)]))
            kept = sorted((labels[i].timestamp, labels[i].item_id)
                          for i in order[begin + tail:end].tolist())
            self._times[labels[order[begin]].annotator_id] = kept[-RECENT_TIMESTAMPS:]
        was = np.zeros(n, dtype=bool)
        was[order] = learned
        seconds = np.empty(n)
        seconds[order] = gap
        kept = np.flatnonzero(was)
        return [(labels[i], gap) for i, gap in zip(kept.tolist(), seconds[kept].tolist(),
                                                   strict=True)]

    def seconds(self, chars: int) -> float:
        """Predicted annotator seconds for one label of an item of ``chars`` characters."""
        return float(self.model.seconds_many(np.array([float(chars)]), self.cost.task)[0])
