"""The bridge reads ``selected`` in a consumer group and commits after each batch: a commit the
group refuses while it rebalances must be reported, not stop the bridge (kafka-python 3 raises
``RebalanceInProgressError`` there, which the bridge once let escape: it stopped under load)."""

from __future__ import annotations

import threading
import uuid

import pytest

from stream_al.config import KafkaSettings
from stream_al.label_studio.bridge import commit_read
from stream_al.stream import clients
from tests.stream.harness import wait_for

pytestmark = pytest.mark.kafka


def test_a_commit_refused_while_the_group_rebalances_is_reported_not_raised(
        kafka_bootstrap, new_topic):
    topic = new_topic("bridge-commit", partitions=2)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    options = dict(group_id=f"bridge-{uuid.uuid4().hex[:8]}", enable_auto_commit=False,
                   auto_offset_reset="earliest", session_timeout_ms=6_000,
                   heartbeat_interval_ms=500, request_timeout_ms=10_000)
    first, second, third = (clients.consumer(kafka, **options) for _ in range(3))
    try:
        second.subscribe([topic])
        joining = threading.Event()

        def second_polls() -> None:  # on a thread of its own until the group is stable
            while not joining.is_set():
                second.poll(timeout_ms=100)

        polling = threading.Thread(target=second_polls, daemon=True)
        polling.start()
        first.subscribe([topic])
        wait_for(lambda: first.poll(timeout_ms=100) is not None and len(first.assignment()) == 1
                 and len(second.assignment()) == 1, 60, "two members to share the two partitions")
        joining.set()
        polling.join(10)
        producer = clients.producer(kafka)
        for partition in (0, 1):
            producer.send(topic, value=b"an item", partition=partition)
        producer.flush()
        producer.close()
        wait_for(lambda: first.poll(timeout_ms=100), 30, "the first member to read its item")
        assert commit_read(first)  # a stable group takes it
        # a third member joins; the second, busy, does not poll, so the rebalance cannot
        # complete, and the first rejoins at its next polls and commits after each
        third.subscribe([topic])
        third.poll(timeout_ms=100)
        wait_for(lambda: first.poll(timeout_ms=50) is not None and not commit_read(first), 30,
                 "the group to refuse the first member's commit while it rebalances")
    finally:
        for member in (first, second, third):
            member.close(autocommit=False)
