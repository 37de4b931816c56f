"""kill -9 the worker holding the coordinator while texts and labels flow, with a checkpoint
every second: its successor rebuilds from the newest checkpoint and the records after it
(stream/checkpoint.py), not from every topic, and nothing is lost or counted twice: no item
on ``selected`` twice, the budget is the cost of the distinct items bought, and the last
model's ``n_labels`` and ``labels_hash`` are those of the dataset rebuilt from the topics."""

from __future__ import annotations

import csv
import signal

import pytest

from stream_al.stream.checkpoint_manifest import MANIFEST
from stream_al.stream.messages import Event
from tests.reliability.faults import (
    Background,
    all_labelled,
    assert_nothing_lost,
    parsed,
    progress,
    settled,
)
from tests.stream.harness import AG_NEWS, Worker, pipeline_config, read_topic, settings_of, wait_for

pytestmark = pytest.mark.kafka

TEXTS = 600
FRACTION, WARMUP = 0.1, 4


@pytest.mark.parametrize("image", [False, True], ids=["format2", "format3"])
def test_a_successor_rebuilds_from_the_checkpoint_and_loses_nothing(kafka_bootstrap, tmp_path,
                                                                    image):
    """``image``: format 3, the checkpoint holds an image of the restore (loop/resume.py)."""
    config = pipeline_config(
        kafka_bootstrap, tmp_path,
        budget={"fraction": FRACTION, "warmup_labels": WARMUP},
        annotation={"learn_from": "labels"},  # every (item, annotator) label is learned
        checkpoint={"enabled": True, "every_s": 1.0, "image": image},
    )
    settings = settings_of(config)
    topics, group = settings["kafka"]["topics"], settings["kafka"]["app_id"]
    gold = tmp_path / "gold.csv"  # every item answered
    with AG_NEWS.open(newline="", encoding="utf-8") as f, gold.open("w", newline="") as out:
        rows = csv.reader(f)
        csv.writer(out).writerows(row for _, row in zip(range(TEXTS + 1), rows, strict=False))

    def checkpoints() -> int:
        return sum(r.key == MANIFEST.encode()
                   for r in read_topic(kafka_bootstrap, topics["checkpoint"], timeout_s=3))

    def restored() -> list[dict]:
        return [e.detail for e in parsed(kafka_bootstrap, topics["events"], Event)
                if e.kind == "restored"]

    worker = Worker(config, tmp_path / "first.log")
    producer = Background(
        tmp_path / "producer.log",
        *("produce", "--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag"),
        *("--limit", str(TEXTS), "--rate", "30"),
    )
    vendor = Background(
        tmp_path / "vendor.log",
        *("vendor", "--config", str(config), "--gold", str(gold), "--id-prefix", "ag"),
        *("--delay", "0.2", "--annotators", "2", "--per-item", "2"),
    )
    try:
        # the first rebuild read every topic (and wrote the first checkpoint); wait for one
        # written later, with labels in it, then kill the owner mid-stream
        wait_for(lambda: len(read_topic(kafka_bootstrap, topics["labels"], timeout_s=3)) >= 10
                 and checkpoints() >= 3, 120, "labels, and three checkpoints")
        worker.stop(signal.SIGKILL)
        worker = Worker(config, tmp_path / "second.log")
        wait_for(lambda: len(restored()) >= 2, 90, "the successor's rebuild")
        assert producer.wait(120) == 0, producer.output()
        seen = wait_for(settled(all_labelled(kafka_bootstrap, group, topics)), 240,
                        "the successor to learn every label",
                        state=progress(kafka_bootstrap, group, topics))
        spent_metric = worker.metric("stream_al_budget_spent_labels")
    finally:
        vendor.stop()
        producer.stop()
        worker.stop()

    first, second = restored()[:2]
    assert first["checkpoint"] is None  # nothing to start from: every topic read
    assert second["checkpoint"] and "segment(s)" in second["checkpoint"], second
    if image and not second["image"]:
        # the owner's expert request for an item the last image holds labels of, written after
        # that checkpoint (1 run in 4 with a checkpoint every second): resume refuses it
        # (loop/resume.py) and every record is restored, as the log says
        assert "expert requests on items labelled before the image" in (
            tmp_path / "second.log").read_text()
    else:
        assert second["image"] is image, second  # format 3: the image resumed, not every record
    assert_nothing_lost(seen, spent_metric, TEXTS, FRACTION * TEXTS + WARMUP)
