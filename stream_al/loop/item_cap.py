"""At most ``annotation.max_annotators`` annotators' labels per item.

An item is asked of k annotators (k <= ``max_annotators``); a vendor that answers one item under
thousands of invented annotator ids would otherwise grow the label store and every
adjudication of that item. :class:`ItemCap` remembers the annotators whose labels the
coordinator accepted, per item, and refuses (``invalid_field``, one by one) a label from a new
annotator once an item has ``max_annotators``. The same annotator answering again passes: the
coordinator's own rules (first answer wins) decide about it.

>>> from stream_al.labels import Label
>>> cap = ItemCap(max_annotators=2)
>>> said = [Label("x", "A", a, 0.0) for a in ("ann-1", "ann-2", "ann-3", "ann-1")]
>>> cap.accepted_many(said[:2])
>>> kept, refused = cap.admit_many(said[2:])
>>> [x.annotator_id for x in kept], [x.annotator_id for x, _ in refused]
(['ann-1'], ['ann-3'])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from stream_al.loop.records import Refusal


class Said(Protocol):
    """A label as the caps read it: a domain :class:`~stream_al.labels.Label` or the wire's."""

    @property
    def item_id(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def annotator_id(self) -> str: ...


S = TypeVar("S", bound=Said)


class ItemCap:
    """Annotators per item, of the labels accepted so far."""

    def __init__(self, max_annotators: int) -> None:
        self.max_annotators = max_annotators
        self.answers: dict[str, dict[str, str]] = {}
        """item -> annotator -> the first answer the coordinator accepted."""

    def accepted_many(self, labels: Iterable[Said]) -> None:
        """Count the labels the coordinator accepted (the first answer of each annotator)."""
        for x in labels:
            self.answers.setdefault(x.item_id, {}).setdefault(x.annotator_id, x.label)

    def fits(self, x: Said) -> bool:
        """Would ``admit_many([x])`` keep ``x``?"""
        answers = self.answers.get(x.item_id)
        if answers is None:
            return self.max_annotators >= 1
        return x.annotator_id in answers or len(answers) < self.max_annotators

    def accept_one(self, x: Said) -> None:
        """``accepted_many([x])`` (a rebuild's replay, one label at a time)."""
        self.answers.setdefault(x.item_id, {}).setdefault(x.annotator_id, x.label)

    def first_answer(self, item_id: str, annotator_id: str) -> str | None:
        """What ``annotator_id`` answered first for ``item_id`` (None: nothing accepted)."""
        return self.answers.get(item_id, {}).get(annotator_id)

    def admit_many(
        self, labels: list[S]
    ) -> tuple[list[S], list[tuple[S, Refusal]]]:
        """The labels that fit, and the others with the reason. Labels of one record count
        against each other too (as if each were accepted)."""
        kept: list[S] = []
        refused: list[tuple[S, Refusal]] = []
        pending: dict[str, set[str]] = {}
        for x in labels:
            have = set(self.answers.get(x.item_id, {})) | pending.get(x.item_id, set())
            if x.annotator_id in have or len(have) < self.max_annotators:
                pending.setdefault(x.item_id, set()).add(x.annotator_id)
                kept.append(x)
            else:
                refused.append((x, Refusal(
                    "invalid_field", f"item {x.item_id[:40]!r} already has labels of "
                    f"{len(have)} annotators (annotation.max_annotators)")))
        return kept, refused
