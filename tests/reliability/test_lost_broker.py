"""A broker of a 3-node cluster killed with ``kill -9`` while texts and labels flow: the
pipeline goes on with two (3 copies, ``min.insync.replicas`` 2, ``acks=all``), the node comes
back, and nothing acknowledged was lost: no item sent twice, the budget spent is the cost of
the distinct items bought, and the last model learned exactly the labels the topics hold."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaConnectionError

from tests.reliability.faults import (
    Background,
    all_labelled,
    assert_nothing_lost,
    progress,
    settled,
    topic_config,
)
from tests.stream.harness import AG_NEWS, Worker, pipeline_config, read_topic, settings_of, wait_for

pytestmark = pytest.mark.kafka

# the stream outlasts the kill by ~40 s (at 15 texts/s): purchases after it need texts still
# arriving once the clients have moved to the two brokers left (6-50 s seen)
TEXTS = 900
FRACTION, WARMUP = 0.1, 4


def count(bootstrap: str, topic: str) -> int | None:
    """Records on ``topic``; None while a connection is refused (a broker was just killed)."""
    try:
        return len(read_topic(bootstrap, topic, timeout_s=3))
    except KafkaConnectionError:
        return None


def test_a_killed_broker_loses_nothing_and_the_pipeline_goes_on_with_two(kafka_cluster, tmp_path):
    bootstrap = kafka_cluster.bootstrap
    config = pipeline_config(
        bootstrap,
        tmp_path,
        budget={"fraction": FRACTION, "warmup_labels": WARMUP},
        annotation={"learn_from": "labels"},
    )
    settings = settings_of(config)
    topics, group = settings["kafka"]["topics"], settings["kafka"]["app_id"]
    worker = Worker(config, tmp_path / "worker.log")
    producer = vendor = None
    killed = None
    try:
        # the defaults on 3 brokers: 3 copies, 2 in sync
        assert topic_config(bootstrap, topics["labels"])["min.insync.replicas"] == "2"
        assert len(kafka_cluster.in_sync(topics["labels"])) == 3
        producer = Background(
            tmp_path / "producer.log",
            *("produce", "--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag"),
            *("--limit", str(TEXTS), "--rate", "15"),
        )
        vendor = Background(
            tmp_path / "vendor.log",
            *("vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag"),
            *("--delay", "0.2", "--annotators", "3", "--per-item", "2", "--noise", "0.2"),
        )
        wait_for(lambda: len(read_topic(bootstrap, topics["labels"], timeout_s=3)) >= 10, 90,
                 "items bought and labels flowing")
        killed = kafka_cluster.leader_of(topics["control"])  # the coordinator's input
        kafka_cluster.kill(killed)
        # a reader may first try the dead node (it was in the bootstrap list, it led
        # partitions): refused connections until the metadata moves on, then the counts
        labels = wait_for(lambda: count(bootstrap, topics["labels"]), 60, "the labels read")
        bought = wait_for(lambda: count(bootstrap, topics["selected"]), 60, "the purchases read")
        wait_for(lambda: (count(bootstrap, topics["labels"]) or 0) > labels
                 and (count(bootstrap, topics["selected"]) or 0) > bought,
                 120, "items bought and labelled on the two brokers left")
        kafka_cluster.start(killed)
        killed = None
        wait_for(lambda: len(kafka_cluster.in_sync(topics["control"])) == 3, 120,
                 "the restarted node to catch up")
        assert producer.wait(180) == 0, producer.output()

        seen = wait_for(settled(all_labelled(bootstrap, group, topics)), 240,
                        "the worker to learn every label",
                        state=progress(bootstrap, group, topics))
        spent_metric = worker.metric("stream_al_budget_spent_labels")
        alive = worker.process.poll() is None
    finally:
        if killed is not None:
            kafka_cluster.start(killed)
        for background in (vendor, producer):
            if background is not None:
                background.stop()
        worker.stop()

    print(seen.summary())
    assert alive, worker.output()
    assert_nothing_lost(seen, spent_metric, TEXTS, most=FRACTION * TEXTS + WARMUP)
