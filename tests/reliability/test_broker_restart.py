"""The broker stops and comes back while texts and labels flow: the worker reconnects and resumes,
every text produced is accounted for and every label learned.

The session broker is shared by the whole suite, so this test starts a broker of its own."""

from __future__ import annotations

import pytest

from stream_al.stream.messages import TextIn
from tests.reliability.faults import (
    Background,
    PrivateBroker,
    all_labelled,
    dead_letters,
    parsed,
    progress,
    scored_ids,
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

TEXTS = 450


def test_a_restarted_broker_loses_no_text_and_no_label(tmp_path):
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    try:
        run_through_a_broker_restart(broker, tmp_path)
    finally:
        broker.stop()


def run_through_a_broker_restart(broker: PrivateBroker, tmp_path) -> None:
    bootstrap = broker.bootstrap
    config = pipeline_config(bootstrap, tmp_path, annotation={"learn_from": "labels"})
    settings = settings_of(config)
    topics, group = settings["kafka"]["topics"], settings["kafka"]["app_id"]
    with Worker(config, tmp_path / "worker.log") as worker:
        producer = Background(
            tmp_path / "producer.log",
            *("produce", "--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag"),
            *("--limit", str(TEXTS), "--rate", "30"),
        )
        vendor = Background(
            tmp_path / "vendor.log",
            *("vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag"),
            *("--delay", "0.2", "--annotators", "2", "--per-item", "2"),
        )
        try:
            wait_for(
                lambda: read_topic(bootstrap, topics["labels"]),
                60,
                "labels flowing before the broker goes down",
            )
            broker.stop()  # under load: the producer and the vendor keep trying meanwhile
            broker.start()
            assert producer.wait(120) == 0, producer.output()

            seen = wait_for(settled(all_labelled(bootstrap, group, topics)), 90,
                            "the worker to catch up and learn every label",
                            state=progress(bootstrap, group, topics))
        finally:
            vendor.stop()
            producer.stop()
        assert worker.process.poll() is None, "the worker died with the broker"

        # every text produced is accounted for: scored and counted once, or dead-lettered
        produced = {t.id for t in parsed(bootstrap, topics["texts"], TextIn)}
        assert len(produced) == TEXTS
        refused = {x.key for x in dead_letters(bootstrap, topics) if x.topic == topics["texts"]}
        assert produced <= scored_ids(bootstrap, topics) | refused
        assert seen.ledger.seen == TEXTS - len(refused)
        # every label is learned once; no item sent twice; the ledger matches what was sent
        assert len(seen.snapshot) == 2 * len(set(seen.selected_ids)) == seen.model.n_labels
        assert not seen.duplicates_on_selected, seen.summary()
        assert seen.ledger.spent == pytest.approx(seen.spent_by_the_topics)
