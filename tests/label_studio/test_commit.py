"""The bridge reads ``selected`` in a consumer group and commits after each batch
(``commit_read``): a commit the group refuses while it rebalances is reported and the records
come again; it never stops the bridge (kafka-python 3 raises ``RebalanceInProgressError`` there,
"not a fatal error", which the bridge once let escape: it stopped under load).

When kafka-python 3.0 refuses (read in its coordinator and seen against the broker): a member
whose heartbeat has learnt of a rebalance still commits, and the broker takes a commit of the
current generation until the rebalance completes; the member is *rebalancing*, its commit refused
by the client itself, from the poll that sends its JoinGroup until a poll finds the rebalance
complete. With one other member, waiting, that poll completes the rebalance unless it gives up
first, a matter of timing (the CI run under load). A member that does not poll holds a rebalance
open up to its ``max_poll_interval_ms`` (its heartbeats keep it in the group): the window the
broker test opens on purpose, one consumer after the other on the main thread.

The member that holds it open is the group's leader, and its poll completes each rebalance: a
poll that gives up while its JoinGroup is answered throws the answer away, and the next one
joins again (kafka-python 3.0.12), which for the leader starts a new rebalance; a follower that
joins again is given the current generation. Members that polled in turns with short polls while
the leader's join was pending went on rebalancing, under load, for a minute."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.coordinator.base import MemberState
from kafka.errors import CommitFailedError, KafkaTimeoutError, RebalanceInProgressError

from stream_al.config import KafkaSettings
from stream_al.label_studio import bridge
from stream_al.label_studio.bridge import commit_read, wait_for_partitions
from stream_al.stream import clients
from tests.stream.harness import wait_for

# ---- commit_read alone ---------------------------------------------------------------------------


class Consumer:
    """A consumer whose commit raises ``error``, if any."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def commit(self) -> None:
        if self.error is not None:
            raise self.error


def test_a_commit_the_group_takes_is_reported_as_done(caplog):
    with caplog.at_level(logging.WARNING, logger=bridge.__name__):
        assert commit_read(Consumer(None))
    assert caplog.records == []


@pytest.mark.parametrize("error", [RebalanceInProgressError("rebalancing"),
                                   CommitFailedError("not a member")],
                         ids=lambda e: type(e).__name__)
def test_a_commit_the_group_refuses_is_logged_and_reported_not_raised(error, caplog):
    with caplog.at_level(logging.WARNING, logger=bridge.__name__):
        assert not commit_read(Consumer(error))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert type(error).__name__ in record.getMessage()
    assert "come again" in record.getMessage()


def test_any_other_commit_failure_is_raised():
    with pytest.raises(KafkaTimeoutError):
        commit_read(Consumer(KafkaTimeoutError("no answer")))


# ---- against the broker --------------------------------------------------------------------------
LEADER_POLL_MS = 1_000
"""Long enough for the leader's poll to complete a rebalance its JoinGroup ends."""


def read(member: Any, timeout_ms: int = 100) -> dict[TopicPartition, list[int]]:
    """The offsets of the records one poll of ``member`` returns."""
    return {tp: [r.offset for r in records]
            for tp, records in member.poll(timeout_ms=timeout_ms).items() if records}


def settled(leader: Any, *followers: Any) -> bool:
    """Poll the followers, then the leader; whether all are stable in one generation."""
    for member in followers:
        member.poll(timeout_ms=100)
    leader.poll(timeout_ms=LEADER_POLL_MS)
    states = [member.group_metadata() for member in (leader, *followers)]
    return all(s.state is MemberState.STABLE for s in states) \
        and len({s.generation_id for s in states}) == 1


def committed(admin: Any, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets, as the broker holds them."""
    return {tp: o.offset for tp, o in admin.list_group_offsets({group: None}).get(group, {}).items()}


def send_an_item_to_each(kafka: KafkaSettings, topic: str, partitions: int) -> None:
    producer = clients.producer(kafka)
    try:
        for partition in range(partitions):
            producer.send(topic, value=b"an item", partition=partition)
        producer.flush()
    finally:
        producer.close()


@pytest.mark.kafka
def test_a_commit_refused_while_the_group_rebalances_is_reported_and_the_records_come_again(
        kafka_bootstrap, new_topic, kafka_admin, caplog):
    topic = new_topic("bridge-commit", partitions=2)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    group = f"bridge-{uuid.uuid4().hex[:8]}"
    options = dict(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                   session_timeout_ms=10_000, heartbeat_interval_ms=300,
                   max_poll_interval_ms=60_000)  # how long the idle leader may hold a rebalance
    # a member keeps the position of a partition it keeps; the range assignor gives partitions
    # to members in the order of their ids, which begin with the client ids: the reader's
    # partition goes to the joiner, which reads from the committed offset
    members = [clients.consumer(kafka, client_id=f"{order}-{group}", **options)
               for order in ("a-idle", "c-reader", "b-joiner")]
    idle, reader, joiner = members  # the reader commits as the bridge does

    def seen() -> str:  # what a wait saw, if it times out
        return f"idle {idle.group_metadata()}, reader {reader.group_metadata()}"

    try:
        for member in members:  # as the bridge does: a member that joins before its client
            wait_for_partitions(member, topic)  # knows the partitions is assigned none
        idle.subscribe([topic])  # first, so the group's leader
        wait_for(lambda: settled(idle), 30, "the first member to join", state=seen)
        reader.subscribe([topic])
        wait_for(lambda: settled(idle, reader) and len(reader.assignment()) == 1, 30,
                 "two members to share the partitions", state=seen)
        (mine,) = reader.assignment()
        send_an_item_to_each(kafka, topic, 2)
        wait_for(lambda: read(reader) and reader.position(mine) == 1, 30, "the first item")
        assert commit_read(reader)  # a stable group takes it
        send_an_item_to_each(kafka, topic, 2)
        wait_for(lambda: read(reader) and reader.position(mine) == 2, 30, "the second item")
        before = committed(kafka_admin, group)
        assert before[mine] == 1

        def rejoining() -> bool:  # the joiner joins, the reader learns it and rejoins
            joiner.poll(timeout_ms=50)
            reader.poll(timeout_ms=50)
            return reader.group_metadata().state is MemberState.REBALANCING

        joiner.subscribe([topic])  # a third member; the idle leader does not rejoin
        wait_for(rejoining, 30, "the reader to rejoin the group", state=seen)
        with caplog.at_level(logging.WARNING, logger=bridge.__name__):
            assert not commit_read(reader)
        (warning,) = (r for r in caplog.records if r.name == bridge.__name__)
        assert warning.levelno == logging.WARNING
        assert "RebalanceInProgressError" in warning.getMessage()
        assert committed(kafka_admin, group) == before

        again: dict[TopicPartition, list[int]] = {}

        def read_again() -> Any:  # the leader polls, so rejoins: the rebalance completes
            for member in members:
                timeout_ms = LEADER_POLL_MS if member is idle else 100
                for tp, offsets in read(member, timeout_ms).items():
                    again.setdefault(tp, []).extend(offsets)
                    if tp == mine and 1 in offsets:
                        return member
            return None

        holder = wait_for(read_again, 30, "the reader's uncommitted item to come again",
                          state=lambda: f"{seen()}; read {again}")
        assert holder is joiner and mine not in reader.assignment()
        assert commit_read(holder)  # the stable group takes it
        assert committed(kafka_admin, group)[mine] == 2
    finally:  # the idle leader first: a rebalance it holds open holds the others' requests
        for member in members:
            member.close(autocommit=False)
