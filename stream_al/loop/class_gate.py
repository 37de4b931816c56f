"""How fast labels may invent classes under ``label_policy: accept_new_class``.

Every class the model has costs memory and time in every later refit, score and adjudication,
and a class once learned stays on the labels topic for every rebuild; a vendor that invents
thousands of class names would grow the worker without bound. :class:`ClassGate` admits at
most ``kafka.new_classes_per_hour`` classes the model does not know yet in any hour (sliding
window), and never more than :data:`MAX_CLASSES` in all; labels of a class beyond the cap are
refused (``class_cap``) one by one, the others of their record go on. Classes in
``kafka.label_classes`` are always admitted. Labels are anything with an item, a class and an
annotator (:class:`~stream_al.loop.item_cap.Said`): domain labels in the simulator, the wire's
labels in the Kafka shell.

>>> from stream_al.labels import Label
>>> gate = ClassGate(per_hour=1, allowed=["World"])
>>> said = [Label(str(i), c, "a", 0.0) for i, c in enumerate(["World", "Sports", "Sports", "Junk"])]
>>> kept, refused = gate.admit_many(said, known=set(), now=0.0)
>>> [x.label for x in kept], [x.label for x, _ in refused]
(['World', 'Sports', 'Sports'], ['Junk'])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TypeVar

from stream_al.loop.item_cap import Said
from stream_al.loop.records import Refusal

HOUR_S = 3600.0
MAX_CLASSES = 1000
"""Classes a model may have (a model snapshot with more is refused on the wire too)."""
S = TypeVar("S", bound=Said)


class ClassGate:
    """New classes admitted per hour (sliding window) and in all."""

    def __init__(self, per_hour: int, allowed: Iterable[str] = (),
                 max_classes: int = MAX_CLASSES) -> None:
        self.per_hour = per_hour
        self.max_classes = max_classes
        self.allowed = set(allowed)
        self.admitted: set[str] = set()
        self.times: deque[float] = deque()
        """When each class in the last hour was admitted."""
        self.refused = 0
        """Labels refused so far (a metric)."""

    def admit_many(
        self, labels: list[S], known: set[str], now: float
    ) -> tuple[list[S], list[tuple[S, Refusal]]]:
        """The labels whose class is known, allowed or still within the cap, and the others
        with the reason; ``known``: the classes the model has now."""
        while self.times and self.times[0] <= now - HOUR_S:
            self.times.popleft()
        kept: list[S] = []
        refused: list[tuple[S, Refusal]] = []
        for label in labels:
            name = label.label
            if name in known or name in self.allowed or name in self.admitted:
                kept.append(label)
            elif len(self.times) < self.per_hour and len(known | self.admitted) < self.max_classes:
                self.admitted.add(name)
                self.times.append(now)
                kept.append(label)
            else:
                self.refused += 1
                refused.append((label, Refusal(
                    "class_cap", f"new class {name[:40]!r} over the cap of {self.per_hour} new "
                    f"classes an hour (kafka.new_classes_per_hour) or {self.max_classes} in all; "
                    "list the classes in kafka.label_classes to admit them")))
        return kept, refused
