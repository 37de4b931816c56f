"""Several bridges in one consumer group (the bridge scaled out, or a rolling restart where the
old and the new one overlap) settle on one generation and make one task per selected item.

What kept them from it, with kafka-python 3.0.12:

- a join answered between two polls (the poll had given up) is thrown away and sent again, and
  the group leader's new join is a new rebalance. The bridge's loop polls for 100 ms
  (``bridge.POLL_MS``), long enough that a join is answered within a poll nearly always (in
  ``benchmarks/bridge_group.py`` no leader's answer was thrown away); with polls of 0 ms a member
  joining or leaving took 8-9 generations instead of one: what ``MAX_GENERATIONS`` catches;
- a leader that joins again because its metadata changed, from a poll that gives up before the
  answer, is never finished (``clients.subscribe``): it stays rebalancing until the broker drops
  it. Before the fix 3 of 16 runs here failed so: a bridge's partitions had no reader for 45 s,
  and the bridge never came back.

Each bridge is the real :class:`~stream_al.label_studio.bridge.Bridge` in a process of its own,
on a real broker, and writes its group membership to a file (``group_member.py``); Label Studio
is a stand-in (``stand_in.py``): what is tested is the group, not the REST calls
(``test_bridge.py`` tests those against a real server).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka.coordinator.base import MemberState

from stream_al.config import KafkaSettings
from stream_al.label_studio.bridge import wait_for_partitions
from stream_al.stream import clients
from tests.label_studio import group_member
from tests.label_studio.stand_in import selected_item, tasks_made
from tests.stream.harness import REPO, wait_for

pytestmark = pytest.mark.kafka

PARTITIONS = 6
SETTLE_S = 30.0
"""A join is noticed by the other members at their next heartbeat (every 3 s): a rebalance takes
3-6 s; the bound leaves room for one more under load, not for a group that keeps rebalancing."""
MAX_GENERATIONS = 3
"""Generations a member joining or leaving may take: its rebalance, and two to spare (a follower
whose answer is thrown away joins again in the same generation). Polls of 0 ms took 8-9."""


def test_a_leader_subscribed_by_the_bridge_assigns_from_current_metadata(kafka_bootstrap,
                                                                        new_topic):
    """The first assignment of a group's leader uses the partitions it knows, so a metadata
    update does not make it join again (it did when it had seen none since it subscribed: a
    second join a poll could leave unfinished, ``clients.subscribe``)."""
    topic = new_topic("selected", PARTITIONS)
    consumer = clients.consumer(KafkaSettings(bootstrap=kafka_bootstrap),
                                group_id=f"leader-{uuid.uuid4().hex[:8]}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        wait_for_partitions(consumer, topic)
        clients.subscribe(consumer, [topic])

        def joined() -> Any:
            consumer.poll(timeout_ms=500)
            meta = consumer.group_metadata()
            return meta.state is MemberState.STABLE and meta

        first = wait_for(joined, 30, "the consumer to lead its group")
        assert len(consumer.assignment()) == PARTITIONS
        consumer.topics()  # a metadata update, as the one the assignment asked for
        again = wait_for(joined, 30, "the consumer to be stable after the update")
        assert again.generation_id == first.generation_id
    finally:
        consumer.close(autocommit=False)


class Members:
    """Bridges of one group, each a process of its own."""

    def __init__(self, kafka: KafkaSettings, directory: Path) -> None:
        self.kafka, self.directory = kafka, directory
        self.config = directory / "config.yaml"
        self.config.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json")}))
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        self.running[name] = subprocess.Popen(
            group_member.command(self.config, self.directory, name), cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
            stdout=(self.directory / f"{name}.log").open("a"), stderr=subprocess.STDOUT)

    def stop(self, name: str) -> None:
        """As a rolling restart stops a bridge: SIGTERM, and it leaves the group."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def settled(self) -> int | None:
        """The group's generation once every running bridge is in it, stable, and they split
        the partitions between them; else None."""
        return group_member.settled(self.directory, list(self.running), PARTITIONS)

    def state(self) -> str:
        """What each bridge last wrote, for a failure's message; each one's threads' stacks go
        to its log."""
        for process in self.running.values():
            process.send_signal(signal.SIGUSR1)
        seen = group_member.statuses(self.directory, list(self.running))
        return "; ".join(f"{name}: {lines[-1] if lines else 'nothing yet'}"
                         for name, lines in seen.items()) + f" (stacks in {self.directory})"


@pytest.fixture
def members(kafka_bootstrap, new_topic, tmp_path) -> Iterator[Members]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, app_id=f"bridges-{uuid.uuid4().hex[:8]}",
                          topics={"selected": new_topic("selected", PARTITIONS),
                                  "models": new_topic("models"), "labels": new_topic("labels"),
                                  "events": new_topic("events")})
    group = Members(kafka, tmp_path)
    try:
        yield group
    finally:
        for name in list(group.running):
            group.stop(name)


def produce(kafka: KafkaSettings, ids: range) -> set[str]:
    producer = clients.producer(kafka, acks="all")
    try:
        for i in ids:
            item = selected_item(f"item-{i}")
            producer.send(kafka.topics.selected, key=item.item_id.encode(),
                          value=item.to_bytes())
        producer.flush()
    finally:
        producer.close()
    return {f"item-{i}" for i in ids}


def test_bridges_in_one_group_settle_and_make_one_task_per_item(members):
    items = produce(members.kafka, range(0, 60))
    members.start("a")
    members.start("b")
    first = wait_for(members.settled, SETTLE_S, "two bridges to settle in one generation",
                     state=members.state)
    wait_for(lambda: items <= set(tasks_made(members.directory)), 30, "a task for every item")

    members.start("c")  # a rolling restart: the new bridge joins, then the old one leaves
    joined = wait_for(lambda: (g := members.settled()) and g > first and g, SETTLE_S,
                      "the third bridge to join and the group to settle", state=members.state)
    items |= produce(members.kafka, range(60, 120))
    wait_for(lambda: items <= set(tasks_made(members.directory)), 30, "a task for every item")
    members.stop("a")
    left = wait_for(lambda: (g := members.settled()) and g > joined and g, SETTLE_S,
                    "the group to settle once the first bridge left", state=members.state)
    items |= produce(members.kafka, range(120, 180))
    wait_for(lambda: items <= set(tasks_made(members.directory)), 30, "a task for every item")

    assert joined - first <= MAX_GENERATIONS
    assert left - joined <= MAX_GENERATIONS
    assert members.settled() == left  # items flowed without another rebalance
    made = tasks_made(members.directory)
    assert set(made) == items
    assert max(made.values()) == 1
