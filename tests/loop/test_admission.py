"""Which labels reach the coordinator: the class cap and the annotators-per-item cap, live and
replayed by a rebuild, in every driver."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_al.config import KafkaSettings, Settings
from stream_al.labels import Label
from stream_al.loop.admission import Admission

SETTINGS = Settings(kafka={"new_classes_per_hour": 2}, annotation={"max_annotators": 3})


def admission(settings: Settings = SETTINGS) -> Admission:
    return Admission(settings.kafka, settings.annotation.max_annotators)


def said(item: str, name: str, annotator: str) -> Label:
    return Label(item, name, annotator, 0.0)


def test_labels_over_either_cap_come_back_with_the_reason():
    labels = [said("x", "World", "a"), said("x", "junk-1", "b"), said("y", "junk-2", "c"),
              said("y", "junk-3", "d"), *(said("z", "World", f"bot-{n}") for n in range(4))]
    kept, refused = admission().admit_many(labels, {"World"}, now=0.0)
    assert [x.label for x in kept] == ["World", "junk-1", "junk-2", "World", "World", "World"]
    assert [(x.label, x.annotator_id, r.reason) for x, r in refused] == [
        ("World", "bot-3", "invalid_field"), ("junk-3", "d", "class_cap")]


def test_a_rebuild_refuses_what_the_live_driver_refused():
    labels = [said(f"i{n % 5}", f"c{n}", f"a{n}") for n in range(30)]
    times = [float(n) for n in range(30)]
    live = admission()
    accepted = []
    for x, t in zip(labels, times, strict=True):
        kept, _ = live.admit_many([x], set(), t)
        live.accepted_many(kept)
        accepted += kept
    assert admission().replay_many(labels, times) == accepted
    assert len({x.label for x in accepted}) == 2


def test_under_the_reject_policy_only_the_item_cap_applies():
    reject = Settings(kafka={"label_policy": "reject", "label_classes": ["A"]},
                      annotation={"max_annotators": 3})
    kept, refused = admission(reject).admit_many(
        [said("x", f"c{n}", "a") for n in range(5)], set(), 0.0)
    assert len(kept) == 5 and not refused


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 3),
                          st.floats(0, 10_000)), max_size=60), st.integers(1, 4),
       st.sampled_from(["reject", "accept_new_class"]), st.integers(0, 3))
def test_a_replay_keeps_what_admitting_each_label_in_turn_keeps(rows, max_annotators, policy,
                                                                 per_hour):
    """The replay's one step a label keeps exactly the labels that admitting them one by one
    (admit_many, then accepted_many of the kept) keeps, under either policy."""
    def admission_of() -> Admission:
        return Admission(KafkaSettings(label_policy=policy, new_classes_per_hour=per_hour,
                                       label_classes=["c0"]), max_annotators)

    labels = [said(f"i{i}", f"c{c}", f"a{a}") for i, a, c, _ in rows]
    times = [t for *_, t in rows]
    slow = admission_of()
    kept = []
    for n in sorted(range(len(labels)), key=lambda n: times[n]):
        ok, _ = slow.admit_many([labels[n]], set(), times[n])
        slow.accepted_many(ok)
        kept += [n] if ok else []
    fast = admission_of()
    assert fast.replay_many(labels, times) == [labels[n] for n in sorted(kept)]
    assert [fast.items.first_answer(x.item_id, x.annotator_id) for x in labels] == [
        slow.items.first_answer(x.item_id, x.annotator_id) for x in labels]
    assert fast.classes.admitted == slow.classes.admitted
    assert fast.classes.refused == slow.classes.refused
