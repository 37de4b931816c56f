"""Which labels reach the coordinator: the class cap and the cap on annotators per item.

Both bound what a vendor can make the coordinator hold, whatever it sends: new classes per hour
(:class:`~stream_al.stream.class_gate.ClassGate`) and annotators per item
(:class:`~stream_al.stream.item_cap.ItemCap`). :class:`Admission` applies them to a control
record's labels before the coordinator sees them (pure; the shell dead-letters the refused
ones), and replays them on a rebuild, so labels refused live stay refused after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stream_al.config import Settings
from stream_al.stream.class_gate import ClassGate
from stream_al.stream.item_cap import ItemCap, Said
from stream_al.stream.messages import DeadLetterReason, LabelIn, LabelsRecord


@dataclass
class Admitted:
    record: LabelsRecord
    """The labels that may go on, with their arrival times."""
    refused: list[tuple[LabelIn, DeadLetterReason]] = field(default_factory=list)

    @property
    def class_capped(self) -> list[LabelIn]:
        return [x for x, r in self.refused if r.reason == "class_cap"]


class Admission:
    def __init__(self, settings: Settings) -> None:
        k = settings.kafka
        self.gate_classes = k.label_policy == "accept_new_class"
        self.classes = ClassGate(k.new_classes_per_hour, k.label_classes)
        self.items = ItemCap(settings.annotation.max_annotators)

    def admit(self, record: LabelsRecord, known_classes: set[str], now: float) -> Admitted:
        """``record`` without the labels over either cap (those come back with the reason)."""
        kept, refused = self.items.admit_many(list(record.labels))
        if self.gate_classes:
            kept, capped = self.classes.admit_many(kept, known_classes, now)
            refused += capped
        if not refused:
            return Admitted(record)
        keep = {id(x) for x in kept}
        where = record.sources or [None] * len(record.labels)
        rows = [(x, t, s) for x, t, s in zip(record.labels, record.received_at, where,
                                             strict=True) if id(x) in keep]
        return Admitted(record.model_copy(update={
            "labels": [x for x, _, _ in rows], "received_at": [t for _, t, _ in rows],
            "sources": [s for _, _, s in rows] if record.sources else []}), refused)

    def accepted_many(self, labels: Iterable[Said]) -> None:
        """The labels the coordinator accepted (they count against their item's cap)."""
        self.items.accepted_many(labels)

    def replay_many(self, labels: list[LabelIn], times: list[float]) -> list[LabelIn]:
        """What a live worker would have admitted of ``labels``, appended to the labels
        topics at ``times`` (the broker's clock: labels topics use LogAppendTime)."""
        order = sorted(range(len(labels)), key=lambda i: times[i])
        admitted: set[int] = set()
        for i in order:
            record = LabelsRecord(schema_version=1, labels=[labels[i]], received_at=[times[i]])
            outcome = self.admit(record, set(), times[i])
            self.accepted_many(outcome.record.labels)
            admitted.update(id(x) for x in outcome.record.labels)
        return [x for x in labels if id(x) in admitted]
