"""A coordinator paused past its session (SIGSTOP) while texts and labels flow: the other
worker takes over; when the old one resumes (SIGCONT) it is fenced (stream/fencing.py) and
nothing it does counts. No item is sent twice, the budget spent is the cost of the distinct
items bought, and the last model learned exactly the labels the topics hold."""

from __future__ import annotations

import os
import signal
import urllib.request

import pytest

from tests.reliability.faults import (
    Background,
    all_labelled,
    assert_nothing_lost,
    progress,
    restores,
    settled,
)
from tests.stream.harness import (
    AG_NEWS,
    Worker,
    group_assignments,
    pipeline_config,
    read_topic,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

TEXTS = 900
FRACTION, WARMUP = 0.1, 4


def owns_the_budget(worker: Worker) -> bool:
    """Only the coordinator exports the budget gauges (a worker that steps down drops them)."""
    page = urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).read()
    return any(line.startswith("stream_al_budget_spent_labels") for line in
               page.decode().splitlines())


def test_a_paused_coordinator_is_fenced_and_its_resumed_work_never_counts(
        kafka_bootstrap, tmp_path):
    config = pipeline_config(
        kafka_bootstrap,
        tmp_path,
        budget={"fraction": FRACTION, "warmup_labels": WARMUP},
        annotation={"learn_from": "labels"},  # every (item, annotator) label is learned
    )
    settings = settings_of(config)
    topics, group = settings["kafka"]["topics"], settings["kafka"]["app_id"]
    workers = [Worker(config, tmp_path / "w1.log"), Worker(config, tmp_path / "w2.log")]
    producer = vendor = None
    paused: Worker | None = None
    try:
        wait_for(lambda: len(group_assignments(kafka_bootstrap, group)) == 2, 90,
                 "both workers to join the agents' group")
        producer = Background(
            tmp_path / "producer.log",
            *("produce", "--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag"),
            *("--limit", str(TEXTS), "--rate", "30"),
        )
        vendor = Background(
            tmp_path / "vendor.log",
            *("vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag"),
            *("--delay", "0.3", "--annotators", "3", "--per-item", "2", "--noise", "0.2"),
        )
        wait_for(lambda: len(read_topic(kafka_bootstrap, topics["labels"], timeout_s=3)) >= 10,
                 90, "items bought and labels flowing")
        owner = wait_for(lambda: next((w for w in workers if owns_the_budget(w)), None), 30,
                         "one worker to hold the coordinator")
        other = workers[1] if owner is workers[0] else workers[0]
        before = restores(kafka_bootstrap, topics)

        os.killpg(owner.process.pid, signal.SIGSTOP)
        paused = owner
        wait_for(lambda: restores(kafka_bootstrap, topics) > before and owns_the_budget(other),
                 90, "the other worker to claim the coordinator and rebuild it")
        bought = len(read_topic(kafka_bootstrap, topics["selected"], timeout_s=3))
        wait_for(lambda: len(read_topic(kafka_bootstrap, topics["selected"], timeout_s=3))
                 > bought, 60, "the new coordinator to buy items")
        os.killpg(owner.process.pid, signal.SIGCONT)  # it resumes mid-whatever it was doing
        paused = None
        assert producer.wait(180) == 0, producer.output()

        seen = wait_for(settled(all_labelled(kafka_bootstrap, group, topics)), 240,
                        "a coordinator to learn every label",
                        state=progress(kafka_bootstrap, group, topics))
        coordinator = wait_for(lambda: next((w for w in workers if owns_the_budget(w)), None),
                               30, "one coordinator after the resume")
        spent_metric = coordinator.metric("stream_al_budget_spent_labels")
        fenced = owner.metric("stream_al_errors_total", stage="select", reason="Fenced")
        alive = [w.process.poll() is None for w in workers]
    finally:
        if paused is not None:
            os.killpg(paused.process.pid, signal.SIGCONT)
        for background in (vendor, producer):
            if background is not None:
                background.stop()
        for w in workers:
            w.stop()

    print(seen.summary(), f"; the resumed owner was fenced {fenced:.0f} times")
    assert all(alive), "a worker exited"
    assert seen.restores >= 2
    assert_nothing_lost(seen, spent_metric, TEXTS, most=FRACTION * TEXTS + WARMUP)
