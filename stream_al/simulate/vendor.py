"""A simulated labelling vendor: k annotators of known accuracy, answering after a delay.

Each purchase asks for ``annotators`` labels (the coordinator's pricing decides k per item);
the vendor gives them from that many distinct annotators of its pool, each right with
probability ``accuracy`` (otherwise another class, uniformly), ``delay_s`` seconds after the
purchase. A delay past the purchase's deadline makes the labels late, as a slow vendor's
would be: the coordinator has expired the item by then and learns the labels anyway.

>>> from stream_al.loop.records import Purchase
>>> vendor = SimulatedVendor({"7": "Sports"}, ["Sports", "World"], delay_s=10.0)
>>> vendor.buy_many([Purchase("7", "text", "b", "random", "random", {}, 0, 60.0, 1.0, 0)], 0.0)
>>> vendor.due_many(5.0), [(x.item_id, x.label) for x in vendor.due_many(10.0)]
([], [('7', 'Sports')])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from stream_al.config import SimulationSettings
from stream_al.labels import Label
from stream_al.loop.records import Purchase


class Vendor(Protocol):
    """What the replay loop (:class:`~stream_al.simulate.replay.Replay`) asks of a vendor."""

    def buy_many(self, purchases: Sequence[Purchase], now: float) -> None:
        """Take the purchases made at ``now``."""
        ...

    def due_many(self, now: float) -> list[Label]:
        """The labels answered by ``now``, in the order they were answered."""
        ...

    @property
    def last_due(self) -> float | None:
        """When the last label still owed will be answered (None: nothing owed)."""
        ...


def simulated_vendor(truth: Mapping[str, str], simulation: SimulationSettings,
                     annotators: int) -> SimulatedVendor:
    """The simulator's default vendor: a pool of ``annotators`` (``annotation.max_annotators``),
    each right with ``simulation.annotator_accuracy``, answering ``simulation.label_delay``
    stream items after a purchase (on the simulated clock, ``seconds_per_item``)."""
    return SimulatedVendor(truth, sorted(set(truth.values())),
                           simulation.label_delay * simulation.seconds_per_item,
                           simulation.annotator_accuracy, pool=annotators, seed=simulation.seed)


class SimulatedVendor:
    """Answers purchases with the true class of each item, or a wrong one at a known rate."""

    def __init__(self, truth: Mapping[str, str], classes: Sequence[str], delay_s: float,
                 accuracy: float = 1.0, pool: int = 5, seed: int = 0) -> None:
        if not 0 <= accuracy <= 1:
            raise ValueError(f"annotator accuracy must be in [0, 1], got {accuracy}")
        self.truth = truth
        self.classes = list(classes)
        self.delay_s = delay_s
        self.accuracy = accuracy
        self.annotators = [f"sim-{i}" for i in range(pool)]
        self._rng = np.random.default_rng(seed)
        self._queue: deque[Label] = deque()

    def buy_many(self, purchases: Sequence[Purchase], now: float) -> None:
        """Take the purchases made at ``now``; their labels are due at ``now + delay_s``."""
        at = now + self.delay_s
        for p in purchases:
            k = min(p.annotators, len(self.annotators))
            who = self._rng.permutation(len(self.annotators))[:k]
            for a in sorted(who.tolist()):
                self._queue.append(Label(p.item_id, self._answer(p.item_id),
                                         self.annotators[a], at, None, at))

    def _answer(self, item_id: str) -> str:
        true = self.truth[item_id]
        right = self._rng.random() < self.accuracy
        if right or len(self.classes) < 2:
            return true
        others = [c for c in self.classes if c != true]
        return others[int(self._rng.integers(len(others)))]

    def due_many(self, now: float) -> list[Label]:
        """The labels answered by ``now``, in the order they were answered."""
        out = []
        while self._queue and self._queue[0].timestamp <= now:
            out.append(self._queue.popleft())
        return out

    @property
    def last_due(self) -> float | None:
        """When the last label still owed will be answered (None: nothing owed)."""
        return self._queue[-1].timestamp if self._queue else None
