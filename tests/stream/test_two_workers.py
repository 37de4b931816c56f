"""Two workers in one consumer group: the scoring is shared, the budget is not.

Then the worker that holds the control partition stops; the other rebuilds the coordinator
from the topics and goes on, still within the budget and never buying an item twice.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from stream_al.config import KafkaSettings
from stream_al.stream.messages import Event, parse
from stream_al.stream.reader import texts_group
from tests.stream.harness import (
    Worker,
    group_assignments,
    pipeline_config,
    produce_ag,
    read_topic,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

FRACTION, WARMUP = 0.1, 4


def exports(worker: Worker, name: str) -> bool:
    """Whether the worker's /metrics has a series ``name`` at all."""
    page = urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).read()
    return any(line.startswith((f"{name} ", f"{name}{{")) for line in page.decode().splitlines())


def selected_ids(bootstrap: str, topic: str) -> list[str]:
    return [json.loads(r.value)["item_id"] for r in read_topic(bootstrap, topic, timeout_s=5)]


def test_two_workers_share_the_texts_and_one_budget_across_a_restart(kafka_bootstrap, tmp_path):
    config = pipeline_config(kafka_bootstrap, tmp_path, kafka={"metrics_port": 0})
    kafka = settings_of(config)["kafka"]
    topics, group = kafka["topics"], kafka["app_id"]
    scorers = texts_group(KafkaSettings(app_id=group))
    with Worker(config, tmp_path / "w1.log") as w1, Worker(config, tmp_path / "w2.log") as w2:
        members = wait_for(
            lambda: (
                (m := group_assignments(kafka_bootstrap, scorers))
                and len(m) == 2
                and all(a.get(topics["texts"]) for a in m)
                and m
            ),
            90,
            "both workers to hold texts partitions",
        )
        assert sorted(p for a in members for p in a[topics["texts"]]) == [0, 1, 2, 3]
        agents = wait_for(
            lambda: (m := group_assignments(kafka_bootstrap, group)) and len(m) == 2 and m,
            90,
            "both workers to join the agents' group",
        )
        assert sorted(len(a.get(topics["control"], [])) for a in agents) == [0, 1]

        produced = produce_ag(config, 400, "ag")
        assert produced.returncode == 0, produced.stderr
        wait_for(
            lambda: (
                w1.metric("stream_al_stage_items_in_total", stage="embed")
                + w2.metric("stream_al_stage_items_in_total", stage="embed")
                >= 400
            ),
            60,
            "all 400 texts to be embedded",
        )
        assert w1.metric("stream_al_stage_items_in_total", stage="embed") > 0
        assert w2.metric("stream_al_stage_items_in_total", stage="embed") > 0
        coordinator = wait_for(
            lambda: next(
                (
                    w
                    for w in (w1, w2)
                    if w.metric("stream_al_stage_items_in_total", stage="select") > 0
                ),
                None,
            ),
            30,
            "one worker to run the coordinator",
        )
        other = w2 if coordinator is w1 else w1
        wait_for(
            lambda: coordinator.metric("stream_al_stage_items_in_total", stage="select") >= 400,
            60,
            "the coordinator to see all 400 texts",
        )
        first = wait_for(
            lambda: (
                len(ids := selected_ids(kafka_bootstrap, topics["selected"])) >= FRACTION * 400
                and ids
            ),
            30,
            "the budget of 400 texts to be spent",
        )
        assert len(first) == len(set(first)) <= FRACTION * 400 + WARMUP
        # the budget gauges come from the coordinator only (a worker that held control before
        # the second one joined dropped them), so summing or counting them reads one budget
        assert exports(coordinator, "stream_al_budget_spent_labels")
        assert not exports(other, "stream_al_budget_spent_labels")
        assert not exports(other, "stream_al_prequential_accuracy_ratio")

        coordinator.stop()  # leaves the group: the control partition moves to the other worker
        produced = produce_ag(config, 600, "ag")  # rows 0-399 again, 200 new
        assert produced.returncode == 0, produced.stderr
        wait_for(
            lambda: other.metric("stream_al_stage_items_in_total", stage="select") > 0,
            60,
            "the other worker to take over the coordinator",
        )
        restored = [
            e
            for r in read_topic(kafka_bootstrap, topics["events"], timeout_s=5)
            if (e := parse(Event, r.value)).kind == "restored"
        ]
        assert restored[-1].detail["selected"] == len(first)
        assert restored[-1].detail["seen"] >= 400 - 100  # the ledger may lag one batch behind
        wait_for(
            lambda: len(selected_ids(kafka_bootstrap, topics["selected"])) > len(first),
            30,
            "more items bought after the restart",
        )
        final = selected_ids(kafka_bootstrap, topics["selected"])
        assert len(final) == len(set(final)), "an item was bought twice"
        assert len(final) <= FRACTION * (400 + 600) + WARMUP
        assert other.process.poll() is None
