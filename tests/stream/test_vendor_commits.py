"""The reference vendor commits an offset of ``selected`` only once the answers of every item
before it are acknowledged: killed at any moment, it answers again after a restart whatever was
not on the labels topic yet, with the same annotators and labels (idempotent by (item,
annotator))."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import orjson
import pytest

from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.vendor import Vendor, VendorOptions
from stream_al.stream.vendor_commits import AnsweredOffsets
from tests.reliability.faults import Background
from tests.stream.harness import (
    AG_NEWS,
    pipeline_config,
    read_topic,
    send_raw,
    settings_of,
    wait_for,
)


def selected(item_id: str, annotators: int = 1) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "item_id": item_id, "text": "t", "batch_id": "b",
        "strategy": "s", "reason": "r", "scores": {}, "model_version": 0,
        "deadline": time.time() + 3600, "cost": 1.0, "group": 0, "annotators": annotators})


def committed(bootstrap: str, group: str) -> list[int]:
    admin = clients.admin(KafkaSettings(bootstrap=bootstrap))
    try:
        return [o.offset for o in admin.list_group_offsets({group: None}).get(group, {}).values()]
    finally:
        admin.close()


def test_an_offset_is_committable_only_below_every_item_still_owing_answers():
    offsets = AnsweredOffsets()
    offsets.received(0, 0, answers=1)
    offsets.received(0, 1, answers=2)
    offsets.received(0, 2, answers=0)  # an unknown id: nothing owed
    offsets.received(1, 5, answers=1)
    assert offsets.committable() == {0: 0, 1: 5}
    offsets.committed({0: 0, 1: 5})
    offsets.sent(0, 1)
    assert offsets.committable() == {}  # offset 0 and one answer of offset 1 still owed
    offsets.sent(0, 0)
    assert offsets.committable() == {0: 1}
    offsets.sent(0, 1)
    offsets.sent(1, 5)
    assert offsets.committable() == {0: 3, 1: 6}


def test_revoked_partitions_are_forgotten_and_resumed_from_their_last_commit():
    offsets = AnsweredOffsets()
    offsets.received(3, 7, answers=1)
    offsets.forget({3})
    offsets.sent(3, 7)  # answered anyway after the revocation: nothing to commit for it here
    assert offsets.committable() == {}


def test_an_item_gets_the_same_annotators_and_labels_every_time_it_is_answered():
    options = VendorOptions(gold=Path(AG_NEWS), id_prefix="ag", annotators=5, per_item=2,
                           noise=0.5, seed=3)
    answers = []
    for _ in range(2):  # two vendor processes (a restart), the items in another order
        vendor = Vendor(KafkaSettings(), options)
        for item in ("ag-7", "ag-3", "ag-11")[:: 1 if not answers else -1]:
            vendor.answer(selected(item, annotators=3), 0.0)
        answers.append(sorted((i, x["annotator_id"], x["label"]) for i, x, _ in vendor.due(1.0)))
    assert answers[0] == answers[1] and len(answers[0]) == 9


@pytest.mark.kafka
def test_a_vendor_killed_before_answering_answers_every_item_after_its_restart(
    kafka_bootstrap, tmp_path
):
    config = pipeline_config(kafka_bootstrap, tmp_path)
    topics = settings_of(config)["kafka"]["topics"]
    items = [f"ag-{row}" for row in range(40)]
    send_raw(kafka_bootstrap, topics["selected"], [(i.encode(), selected(i, 2)) for i in items])
    vendor_args = ("vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag",
                   "--annotators", "3", "--seed", "5")
    first = Background(tmp_path / "vendor-1.log", *vendor_args, "--delay", "600")
    try:
        wait_for(lambda: "40 items received" in first.output(), 90, "the vendor to read all 40")
        group = f"{settings_of(config)['kafka']['app_id']}-vendor"
        # none answered: nothing committed past the first item (a commit of 0, or none yet;
        # the restart below shows no item was skipped)
        assert set(committed(kafka_bootstrap, group)) <= {0}
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        first.stop()
    assert "40 items received, 0 labels sent" in first.output()  # killed before answering

    second = Background(tmp_path / "vendor-2.log", *vendor_args, "--max-idle", "5")
    try:
        assert second.wait(120) == 0, second.output()
    finally:
        second.stop()
    labels = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topics["labels"])]
    assert sorted({x["item_id"] for x in labels}) == sorted(items)
    assert len({(x["item_id"], x["annotator_id"]) for x in labels}) == len(labels) == 80
