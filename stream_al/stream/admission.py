"""The caps on labels (``stream_al/loop/admission.py``) on the wire: a control record's labels.

:meth:`Admission.admit` takes a :class:`LabelsRecord`, lets the core's caps judge its labels
and returns the record without the refused ones (their arrival times and sources go with
them), and the refused ones with a dead-letter reason, which the shell dead-letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_al.loop import admission
from stream_al.stream.conversion import dead_letter_reason
from stream_al.stream.messages import DeadLetterReason, LabelIn, LabelsRecord


@dataclass
class Admitted:
    record: LabelsRecord
    """The labels that may go on, with their arrival times."""
    refused: list[tuple[LabelIn, DeadLetterReason]] = field(default_factory=list)

    @property
    def class_capped(self) -> list[LabelIn]:
        return [x for x, r in self.refused if r.reason == "class_cap"]


class Admission(admission.Admission):
    """The core's caps, plus :meth:`admit` on a wire record."""

    def admit(self, record: LabelsRecord, known_classes: set[str], now: float) -> Admitted:
        """``record`` without the labels over either cap (those come back with the reason)."""
        kept, refused = self.admit_many(record.labels, known_classes, now)
        if not refused:
            return Admitted(record)
        keep = {id(x) for x in kept}
        where = record.sources or [None] * len(record.labels)
        rows = [(x, t, s) for x, t, s in zip(record.labels, record.received_at, where,
                                             strict=True) if id(x) in keep]
        return Admitted(record.model_copy(update={
            "labels": [x for x, _, _ in rows], "received_at": [t for _, t, _ in rows],
            "sources": [s for _, _, s in rows] if record.sources else []}),
            [(x, dead_letter_reason(r)) for x, r in refused])
