"""The cap on annotators per item: never more than ``annotation.max_annotators`` answer one."""

from __future__ import annotations

from stream_al.labels import Label
from stream_al.loop.item_cap import ItemCap


def said(item: str, name: str, annotator: str) -> Label:
    return Label(item, name, annotator, 0.0)


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


def test_the_first_accepted_answer_of_an_annotator_is_remembered():
    cap = ItemCap(max_annotators=3)
    cap.accepted_many([said("x", "World", "ann-1"), said("x", "Sports", "ann-1")])
    assert cap.first_answer("x", "ann-1") == "World"
    assert cap.first_answer("x", "ann-2") is None
