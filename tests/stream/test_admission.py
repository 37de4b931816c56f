"""Which labels reach the coordinator: the class cap and the annotators-per-item cap, live and
replayed by a rebuild."""

from __future__ import annotations

from stream_al.config import Settings
from stream_al.stream.admission import Admission
from stream_al.stream.item_cap import ItemCap
from stream_al.stream.messages import LabelIn, LabelsRecord

SETTINGS = Settings(kafka={"new_classes_per_hour": 2}, annotation={"max_annotators": 3})


def said(item: str, name: str, annotator: str) -> LabelIn:
    return LabelIn(schema_version=1, item_id=item, label=name, annotator_id=annotator,
                   timestamp=0.0)


def record(labels: list[LabelIn]) -> LabelsRecord:
    return LabelsRecord(schema_version=1, labels=labels, received_at=[1.0] * len(labels))


def test_2000_annotators_on_one_item_keep_only_the_cap():
    cap = ItemCap(max_annotators=3)
    kept, refused = cap.admit_many([said("x", "A", f"bot-{i}") for i in range(2000)])
    assert len(kept) == 3 and len(refused) == 1997
    assert {r.reason for _, r in refused} == {"invalid_field"}


def test_an_annotator_answering_again_is_left_to_the_coordinator():
    cap = ItemCap(max_annotators=1)
    cap.accepted_many([said("x", "A", "ann-1")])
    kept, _ = cap.admit_many([said("x", "B", "ann-1"), said("x", "A", "ann-2")])
    assert [x.annotator_id for x in kept] == ["ann-1"]


def test_refused_labels_leave_the_record_with_their_times():
    labels = [said("x", "World", "a"), said("x", "junk-1", "b"), said("y", "junk-2", "c"),
              said("y", "junk-3", "d")]
    admitted = Admission(SETTINGS).admit(record(labels), {"World"}, now=0.0)
    assert [x.label for x in admitted.record.labels] == ["World", "junk-1", "junk-2"]
    assert len(admitted.record.received_at) == 3
    assert [x.label for x in admitted.class_capped] == ["junk-3"]


def test_a_rebuild_refuses_what_the_live_worker_refused():
    labels = [said(f"i{n % 5}", f"c{n}", f"a{n}") for n in range(30)]
    times = [float(n) for n in range(30)]
    live = Admission(SETTINGS)
    accepted = []
    for x, t in zip(labels, times, strict=True):
        kept = live.admit(record([x]), set(), t).record.labels
        live.accepted_many(kept)
        accepted += kept
    assert Admission(SETTINGS).replay_many(labels, times) == accepted
    assert len({x.label for x in accepted}) == 2


def test_under_the_reject_policy_only_the_item_cap_applies():
    reject = Settings(kafka={"label_policy": "reject", "label_classes": ["A"]},
                      annotation={"max_annotators": 3})
    admitted = Admission(reject).admit(record([said("x", f"c{n}", "a") for n in range(5)]),
                                       set(), 0.0)
    assert len(admitted.record.labels) == 5


def test_a_refused_label_keeps_where_it_was_read():
    labels = [said("x", "World", "a"), said("x", "World", "b"), said("x", "World", "c"),
              said("x", "World", "d")]
    sources = [("stream-al.labels.acme", 1, 10 + n) for n in range(4)]
    rec = LabelsRecord(schema_version=1, labels=labels, received_at=[1.0] * 4, sources=sources)
    admitted = Admission(SETTINGS).admit(rec, {"World"}, 0.0)
    assert admitted.record.sources == sources[:3]
    (refused, _), = admitted.refused
    where = rec.where()[id(refused)]
    assert (where.topic, where.partition, where.offset) == ("stream-al.labels.acme", 1, 13)


def test_the_first_accepted_answer_of_an_annotator_is_remembered():
    cap = ItemCap(max_annotators=3)
    cap.accepted_many([said("x", "World", "ann-1"), said("x", "Sports", "ann-1")])
    assert cap.first_answer("x", "ann-1") == "World"
    assert cap.first_answer("x", "ann-2") is None
