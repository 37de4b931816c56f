"""The caps on a control record's labels: the refused leave the record, with where they were
read and a dead-letter reason (the caps themselves: tests/loop/test_admission.py)."""

from __future__ import annotations

from stream_al.config import Settings
from stream_al.stream.admission import Admission
from stream_al.stream.messages import DeadLetterReason, LabelIn, LabelsRecord

SETTINGS = Settings(kafka={"new_classes_per_hour": 2}, annotation={"max_annotators": 3})


def admission() -> Admission:
    return Admission(SETTINGS.kafka, SETTINGS.annotation.max_annotators)


def said(item: str, name: str, annotator: str) -> LabelIn:
    return LabelIn(schema_version=1, item_id=item, label=name, annotator_id=annotator,
                   timestamp=0.0)


def record(labels: list[LabelIn]) -> LabelsRecord:
    return LabelsRecord(schema_version=1, labels=labels, received_at=[1.0] * len(labels))


def test_refused_labels_leave_the_record_with_their_times():
    labels = [said("x", "World", "a"), said("x", "junk-1", "b"), said("y", "junk-2", "c"),
              said("y", "junk-3", "d")]
    admitted = admission().admit(record(labels), {"World"}, now=0.0)
    assert [x.label for x in admitted.record.labels] == ["World", "junk-1", "junk-2"]
    assert len(admitted.record.received_at) == 3
    assert [x.label for x in admitted.class_capped] == ["junk-3"]
    assert all(isinstance(r, DeadLetterReason) for _, r in admitted.refused)


def test_a_refused_label_keeps_where_it_was_read():
    labels = [said("x", "World", "a"), said("x", "World", "b"), said("x", "World", "c"),
              said("x", "World", "d")]
    sources = [("stream-al.labels.acme", 1, 10 + n) for n in range(4)]
    rec = LabelsRecord(schema_version=1, labels=labels, received_at=[1.0] * 4, sources=sources)
    admitted = admission().admit(rec, {"World"}, 0.0)
    assert admitted.record.sources == sources[:3]
    (refused, _), = admitted.refused
    where = rec.where()[id(refused)]
    assert (where.topic, where.partition, where.offset) == ("stream-al.labels.acme", 1, 13)


def test_a_rebuild_replays_the_caps_on_wire_labels():
    labels = [said(f"i{n % 5}", f"c{n}", f"a{n}") for n in range(30)]
    kept = admission().replay_many(labels, [float(n) for n in range(30)])
    assert len({x.label for x in kept}) == 2 and all(isinstance(x, LabelIn) for x in kept)
