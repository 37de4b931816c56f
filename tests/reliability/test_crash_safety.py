"""kill -9 the worker at random moments while texts and labels flow, three times, restarting it
each time: no label is lost or learned twice, the budget ledger matches what was sent, and no
item is sent to the vendor twice."""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.reliability.faults import (
    Background,
    gold_with_gaps,
    group_caught_up,
    observe,
    restores,
    settled,
)
from tests.stream.harness import (
    AG_NEWS,
    Worker,
    pipeline_config,
    read_topic,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

TEXTS = 1000
KILLS = 3
FRACTION, WARMUP = 0.1, 4
NO_ANSWER_EVERY = 9
"""The vendor never answers every 9th item (blank gold label): those selections expire."""


def test_killed_workers_lose_no_label_and_send_no_item_twice(kafka_bootstrap, tmp_path):
    config = pipeline_config(
        kafka_bootstrap,
        tmp_path,
        budget={"fraction": FRACTION, "warmup_labels": WARMUP},
        kafka={"label_deadline_s": 4.0},
        annotation={"learn_from": "labels"},  # every (item, annotator) label is learned
    )
    settings = settings_of(config)
    topics, group = settings["kafka"]["topics"], settings["kafka"]["app_id"]
    gold = gold_with_gaps(tmp_path, TEXTS, NO_ANSWER_EVERY)
    rng = random.Random(5)

    worker = Worker(config, tmp_path / "worker-0.log")
    producer = Background(
        tmp_path / "producer.log",
        *("produce", "--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag"),
        *("--limit", str(TEXTS), "--rate", "22"),
    )
    vendor = Background(
        tmp_path / "vendor.log",
        *("vendor", "--config", str(config), "--gold", str(gold), "--id-prefix", "ag"),
        *("--delay", "0.3", "--annotators", "3", "--per-item", "2", "--noise", "0.2"),
    )
    kills: list[float] = []
    try:
        wait_for(lambda: read_topic(kafka_bootstrap, topics["selected"]), 60, "an item bought")
        for n in range(1, KILLS + 1):
            time.sleep(rng.uniform(0.3, 3.0))  # mid-stream: records in flight, labels due
            worker.stop(signal.SIGKILL)
            kills.append(time.monotonic())
            worker = Worker(config, tmp_path / f"worker-{n}.log")
            wait_for(
                lambda n=n: restores(kafka_bootstrap, topics) >= n + 1,
                60,
                f"incarnation {n} to rebuild the coordinator from the topics",
            )
        assert producer.wait(120) == 0, producer.output()

        def done():
            if not group_caught_up(
                kafka_bootstrap, group, [topics["texts"], topics["labels"], topics["control"]]
            ):
                return None
            seen = observe(kafka_bootstrap, topics)
            answered = {i for i in seen.selected_ids if int(i.split("-")[1]) % NO_ANSWER_EVERY}
            labelled = {row.item_id for row in seen.snapshot.rows}
            done = answered <= labelled and set(seen.selected_ids) - answered <= set(seen.expired)
            return done and seen.learned_the_topics() and seen

        seen = wait_for(
            settled(done), 240, "the last worker to learn every label and expire the rest"
        )
    finally:
        vendor.stop()
        producer.stop()
        spent_metric = worker.metric("stream_al_budget_spent_labels")
        alive = worker.process.poll() is None
        worker.stop()

    assert alive, worker.output()
    print(seen.summary())
    assert seen.restores == KILLS + 1
    # no item sent to the vendor twice
    assert not seen.duplicates_on_selected, seen.summary()
    # every label on the labels topic is in the label store exactly once: the latest model
    # learned as many labels as the topics hold distinct (item, annotator) pairs, and the same
    # ones (its label-set hash is the hash of the dataset rebuilt from the topics alone)
    pairs = {(x.item_id, x.annotator_id) for x in seen.labels}
    assert len(seen.snapshot) == len(pairs) == seen.model.n_labels, seen.summary()
    assert seen.model.labels_hash == seen.snapshot.label_set_hash
    # the ledger is what was sent: cost of distinct ids on `selected` minus expiries
    assert seen.expired, "the test meant some selections to expire"
    assert seen.ledger.spent == pytest.approx(seen.spent_by_the_topics)
    assert spent_metric == pytest.approx(seen.spent_by_the_topics)
    # and never more than the budget allows for the texts that were actually produced
    assert seen.spent_by_the_topics <= FRACTION * TEXTS + WARMUP, seen.summary()
    assert seen.ledger.seen == TEXTS, "a text was not counted, or counted twice"
    versions = [m.version for m in seen.models]
    assert versions == sorted(versions), "model versions went back after a restart"
