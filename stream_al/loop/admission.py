"""Which labels reach the coordinator: the class cap and the cap on annotators per item.

Both bound what a vendor can make the coordinator hold, whatever it sends: new classes per hour
(:class:`~stream_al.loop.class_gate.ClassGate`) and annotators per item
(:class:`~stream_al.loop.item_cap.ItemCap`). Every driver applies them to labels before the
coordinator sees them: the Kafka worker to a control record's labels (it dead-letters the
refused ones: ``stream_al/stream/admission.py``), the simulator to what its vendor delivers
(``stream_al/simulate/replay.py``). A rebuild replays them, so labels refused live stay
refused after a restart.

>>> from stream_al.labels import Label
>>> admission = Admission(KafkaSettings(), max_annotators=1)
>>> kept, refused = admission.admit_many([Label("x", "A", "ann-1", 0.0),
...                                       Label("x", "A", "ann-2", 0.0)], set(), now=0.0)
>>> [x.annotator_id for x in kept], [(x.annotator_id, r.reason) for x, r in refused]
(['ann-1'], [('ann-2', 'invalid_field')])
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from stream_al.config import KafkaSettings
from stream_al.loop.class_gate import ClassGate
from stream_al.loop.item_cap import ItemCap, Said
from stream_al.loop.records import Refusal

S = TypeVar("S", bound=Said)


@dataclass
class AdmissionState:
    """What the caps remember (a checkpoint's image holds it: a rebuild then replays only the
    labels after it)."""

    answers: dict[str, dict[str, str]]
    """Item -> annotator -> the first answer accepted (:class:`ItemCap`)."""
    admitted: list[str]
    """New classes the gate admitted, and when (:class:`ClassGate`)."""
    times: list[float]
    refused: int
    until: float
    """The latest arrival time replayed (-inf: none)."""


class Admission:
    """The two caps; ``kafka``: the label policy and class cap, ``max_annotators``:
    ``annotation.max_annotators``."""

    def __init__(self, kafka: KafkaSettings, max_annotators: int) -> None:
        self.gate_classes = kafka.label_policy == "accept_new_class"
        self.classes = ClassGate(kafka.new_classes_per_hour, kafka.label_classes)
        self.items = ItemCap(max_annotators)
        self.until = -math.inf
        """The latest arrival time :meth:`replay_many` replayed."""

    def admit_many(self, labels: Sequence[S], known_classes: set[str],
                   now: float) -> tuple[list[S], list[tuple[S, Refusal]]]:
        """``labels`` without those over either cap (those come back with the reason);
        ``known_classes``: the classes the model has now."""
        kept, refused = self.items.admit_many(list(labels))
        if self.gate_classes:
            kept, capped = self.classes.admit_many(kept, known_classes, now)
            refused += capped
        return kept, refused

    def accepted_many(self, labels: Iterable[Said]) -> None:
        """The labels the coordinator accepted (they count against their item's cap)."""
        self.items.accepted_many(labels)

    def replay_many(self, labels: Sequence[S], times: Sequence[float]) -> list[S]:
        """What a live driver would have admitted of ``labels``, that arrived at ``times``
        (on Kafka, the broker's clock: labels topics use LogAppendTime), in their order.
        The same decisions as :meth:`admit_many` and :meth:`accepted_many` of one label at a
        time, without their lists: the class gate is asked only of a class it has not admitted
        (a rebuild replays every label: 5 µs a label the long way)."""
        gate = self.classes
        self.until = max(self.until, max(times, default=-math.inf))
        kept = [False] * len(labels)
        for i in sorted(range(len(labels)), key=times.__getitem__):
            x = labels[i]
            if not self.items.fits(x):
                continue
            if (self.gate_classes and x.label not in gate.allowed and x.label not in gate.admitted
                    and not gate.admit_many([x], set(), times[i])[0]):
                continue
            self.items.accept_one(x)
            kept[i] = True
        return [x for x, k in zip(labels, kept, strict=True) if k]

    def state(self) -> AdmissionState:
        """What the caps remember now (shared, not copied: encode it before admitting more)."""
        gate = self.classes
        return AdmissionState(self.items.answers, sorted(gate.admitted), list(gate.times),
                              gate.refused, self.until)

    def load_state(self, state: AdmissionState) -> None:
        """Continue from ``state`` (of caps with the same settings)."""
        self.items.answers = state.answers
        gate = self.classes
        gate.admitted, gate.times, gate.refused = set(state.admitted), deque(state.times), \
            state.refused
        self.until = state.until
