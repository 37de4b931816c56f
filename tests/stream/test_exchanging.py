"""Choosing the selected items to export, and which imported labels to send (no broker)."""

from __future__ import annotations

from pathlib import Path

from stream_al.config import KafkaSettings
from stream_al.stream.exchanging import BatchFilter, chosen_items, to_send
from stream_al.stream.messages import LabelIn, SelectedItem
from stream_al.stream.vendor import REJOIN_S, GroupJoin, Vendor, VendorOptions
from stream_al.stream.vendor_files import ImportResult
from tests.stream.harness import AG_NEWS


def item(item_id: str, batch: str = "b1", k: int = 1) -> SelectedItem:
    return SelectedItem(schema_version=1, item_id=item_id, text="t", batch_id=batch,
                        strategy="random", reason="random", scores={}, model_version=0,
                        deadline=100.0, cost=float(k), group=0, annotators=k)


def label(item_id: str, annotator: str, name: str = "World") -> LabelIn:
    return LabelIn(schema_version=1, item_id=item_id, label=name, annotator_id=annotator,
                   timestamp=1.0)


def test_items_are_chosen_by_batch_and_time_once_each():
    records = [(item("a", "b1"), 10.0), (item("b", "b2"), 20.0), (item("a", "b1"), 30.0),
               (item("c", "b1"), 40.0)]
    assert [x.item_id for x in chosen_items(records, [], BatchFilter())] == ["a", "b", "c"]
    assert [x.item_id for x in chosen_items(records, [], BatchFilter(batch_ids={"b1"}))] == \
        ["a", "c"]
    assert [x.item_id for x in chosen_items(records, [], BatchFilter(since=15, until=35))] == ["b"]


def test_open_items_are_those_short_of_the_labels_they_asked_for():
    records = [(item("a", k=3), 1.0), (item("b"), 1.0), (item("c"), 1.0)]
    labels = [label("a", "v1"), label("a", "v2"), label("b", "v1"), label("b", "v1")]
    assert [x.item_id for x in chosen_items(records, labels, BatchFilter(open_only=True))] == \
        ["a", "c"]


def test_labels_already_on_the_topic_are_not_sent_again_and_changed_answers_are_conflicts():
    result = ImportResult(labels=[label("a", "v1"), label("b", "v1"), label("c", "v1", "Sports")])
    report = to_send(result, [label("a", "v1"), label("c", "v1", "World")])
    assert [x.item_id for x in report.sent] == ["b"]
    assert [x.item_id for x in report.already] == ["a"]
    assert [(x.item_id, there) for x, there in report.conflicts] == [("c", "World")]


def test_the_simulated_vendor_answers_as_many_annotators_as_an_item_asks_for():
    vendor = Vendor(KafkaSettings(), VendorOptions(gold=Path(AG_NEWS), annotators=4, per_item=1))
    assert [vendor.labels_for({"annotators": k}) for k in (1, 3, 9)] == [1, 3, 4]
    assert vendor.labels_for({}) == 1 and vendor.labels_for({"annotators": "x"}) == 1


def test_a_vendor_stuck_joining_its_group_is_told_from_one_given_no_partitions():
    """A rebalance begins (partitions revoked) and completes (partitions assigned, possibly
    none). Only a join begun and not completed for REJOIN_S is stuck; a member of a group with
    more vendors than partitions has completed its join and stays."""
    join = GroupJoin()
    assert not join.stuck(0.0)
    join.began(100.0)
    assert not join.stuck(100.0 + REJOIN_S - 1)
    assert join.stuck(100.0 + REJOIN_S + 1)
    join.completed()  # assigned nothing: still a completed join
    assert not join.stuck(100.0 + 10 * REJOIN_S)
    join.began(500.0)  # the next rebalance
    assert join.stuck(500.0 + REJOIN_S + 1)
