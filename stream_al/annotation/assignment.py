"""How many annotators label an item, and which ones.

Every item gets ``annotators_per_item`` labels. Two kinds get more: a ``gold_fraction`` of
items (chosen by a seeded hash of the id, so a replay or a second worker picks the same ones)
get ``gold_annotators`` labels, which measure agreement and annotator quality; items the model
was unsure of (confidence below ``low_confidence``) get ``low_confidence_annotators``, since
their single label is the likeliest to be wrong and the most expensive to get wrong.

>>> from stream_al.annotation.base import AnnotationSettings
>>> policy = AssignmentPolicy(AnnotationSettings(annotators_per_item=1, low_confidence=0.5,
...                                              low_confidence_annotators=3))
>>> policy.assign_one("item-1", confidence=0.3)
Assignment(item_id='item-1', annotators=3, reasons=('low_confidence',))
>>> policy.pick(policy.assign_one("item-2", confidence=0.9), ["ann-a", "ann-b"])
['ann-a']
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from stream_al.annotation.base import AnnotationSettings
from stream_al.select.base import Selection


@dataclass(frozen=True)
class Assignment:
    item_id: str
    annotators: int
    reasons: tuple[str, ...] = ()


class AssignmentPolicy:
    def __init__(self, settings: AnnotationSettings, seed: int = 0) -> None:
        self.settings = settings
        self.seed = seed
        self.load: Counter[str] = Counter()  # labels asked of each annotator so far

    def is_gold(self, item_id: str) -> bool:
        """Whether ``item_id`` falls in the gold fraction (stable for a seed)."""
        if self.settings.gold_fraction <= 0:
            return False
        h = hashlib.blake2b(f"{self.seed}:{item_id}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2**64 < self.settings.gold_fraction

    def assign_one(self, item_id: str, confidence: float | None = None) -> Assignment:
        """``confidence`` is the model's top-class probability; None or 0 (a cold model)
        means unknown and adds no annotators."""
        s = self.settings
        k, reasons = s.annotators_per_item, []
        if self.is_gold(item_id):
            k, reasons = max(k, s.gold_annotators), [*reasons, "gold"]
        if confidence is not None and 0 < confidence < s.low_confidence:
            k, reasons = max(k, s.low_confidence_annotators), [*reasons, "low_confidence"]
        return Assignment(item_id, min(k, s.max_annotators), tuple(reasons))

    def annotators_many(self, ids: Sequence[str],
                        confidence: np.ndarray | None = None) -> np.ndarray:
        """``assign_one(...).annotators`` for every item at once (what pricing a batch of
        candidates needs): the gold hash only when there is a gold fraction, the confidence
        rule over the whole array."""
        s = self.settings
        k = np.full(len(ids), s.annotators_per_item, dtype=np.int64)
        if s.gold_fraction > 0:
            gold = np.fromiter((self.is_gold(i) for i in ids), dtype=bool, count=len(ids))
            k[gold] = np.maximum(k[gold], s.gold_annotators)
        if confidence is not None:
            c = np.asarray(confidence, dtype=np.float64)
            low = (c > 0) & (c < s.low_confidence)
            k[low] = np.maximum(k[low], s.low_confidence_annotators)
        return np.minimum(k, s.max_annotators)

    def assign_many(self, selections: Sequence[Selection]) -> list[Assignment]:
        """Assignments for selected items, reading the model confidence from their scores."""
        return [self.assign_one(s.item_id, s.scores.get("confidence")) for s in selections]

    def pick(self, assignment: Assignment, pool: Sequence[str],
             exclude: Collection[str] = ()) -> list[str]:
        """The least-loaded annotators of ``pool`` (ties in pool order), skipping ``exclude``
        (those who already labelled the item, when it is offered again)."""
        free = [a for a in pool if a not in exclude]
        if len(free) < assignment.annotators:
            raise ValueError(f"{assignment.item_id} needs {assignment.annotators} annotators but "
                             f"only {len(free)} of the pool of {len(pool)} are free; grow the "
                             "pool or lower annotation.*_annotators")
        chosen = sorted(free, key=lambda a: self.load[a])[: assignment.annotators]
        self.load.update(chosen)
        return chosen
