"""Replication of new topics, and the checks of topics that already exist: what refuses the
start, what only warns, and that each names the command that fixes it."""

from __future__ import annotations

import logging
import uuid

import pytest

from stream_al.config import KafkaSettings, Settings, TopicSettings
from stream_al.stream.topics import (
    Replication,
    TopicError,
    TopicSpec,
    ensure_topics,
    mismatches,
    replication_of,
    topic_specs,
)
from tests.reliability.faults import topic_config

R32 = Replication(3, 2)
FOREVER = TopicSpec("labels", 4, {"retention.ms": "-1"})
COMPACTED = TopicSpec("state", 1, {"cleanup.policy": "compact"}, single=True)
GOOD = {"retention.ms": "-1", "min.insync.replicas": "2", "cleanup.policy": "delete"}


def test_three_copies_and_two_in_sync_on_a_cluster_of_three_or_more():
    assert replication_of(TopicSettings(), brokers=3) == R32
    assert replication_of(TopicSettings(), brokers=5) == R32


def test_fewer_brokers_fall_back_to_as_many_copies_with_a_warning():
    for brokers, factor, in_sync in ((1, 1, 1), (2, 2, 1)):
        r = replication_of(TopicSettings(), brokers=brokers)
        assert (r.factor, r.min_insync) == (factor, in_sync)
        assert "run 3 brokers" in r.warning


def test_explicit_replication_is_kept_and_checked_against_the_cluster():
    assert replication_of(TopicSettings(replication_factor=1), brokers=3) == Replication(1, 1)
    with pytest.raises(TopicError, match="lower it to 2"):
        replication_of(TopicSettings(replication_factor=3), brokers=2)
    with pytest.raises(TopicError, match="set it to 1"):
        replication_of(TopicSettings(replication_factor=2, min_insync_replicas=3), brokers=3)


def test_a_topic_as_specified_has_no_mismatch():
    assert mismatches(FOREVER, R32, 4, 3, GOOD, "b:1") == []


def test_a_finite_retention_on_a_topic_kept_forever_refuses_with_the_command():
    [m] = mismatches(FOREVER, R32, 4, 3, {**GOOD, "retention.ms": "1000"}, "b:1")
    assert m.refuse
    assert m.fix == ("kafka-configs.sh --bootstrap-server b:1 --entity-type topics "
                     "--entity-name labels --alter --add-config retention.ms=-1")


def test_compaction_of_a_topic_keyed_by_item_refuses():
    [m] = mismatches(FOREVER, R32, 4, 3, {**GOOD, "cleanup.policy": "compact"}, "b:1")
    assert m.refuse and m.fix.endswith("--add-config cleanup.policy=delete")


def test_a_single_partition_topic_with_more_refuses():
    [m] = mismatches(COMPACTED, R32, 3, 3, {**GOOD, "cleanup.policy": "compact"}, "b:1")
    assert m.refuse and "--delete --topic state" in m.fix


def test_fewer_partitions_copies_or_in_sync_replicas_only_warn():
    found = mismatches(FOREVER, R32, 2, 1, {**GOOD, "min.insync.replicas": "1"}, "b:1")
    assert [m.refuse for m in found] == [False, False, False]
    fixes = " | ".join(m.fix for m in found)
    assert "kafka-topics.sh --bootstrap-server b:1 --alter --topic labels --partitions 4" in fixes
    assert "kafka-reassign-partitions.sh --bootstrap-server b:1" in fixes
    assert "--add-config min.insync.replicas=2" in fixes


def test_an_uncompacted_state_topic_warns():
    [m] = mismatches(COMPACTED, R32, 1, 3, {**GOOD}, "b:1")
    assert not m.refuse and m.fix.endswith("--add-config cleanup.policy=compact")


def _settings(bootstrap: str) -> KafkaSettings:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    names = ("texts", "labels", "selected", "control", "models", "state", "events",
             "deadletter", "expert")
    return Settings.load(kafka={"bootstrap": bootstrap, "app_id": prefix,
                                "topics": {t: f"{prefix}.{t}" for t in names}}).kafka


@pytest.mark.kafka
def test_topics_are_created_with_min_insync_and_an_existing_bad_one_refuses_the_start(
        kafka_bootstrap, kafka_admin, caplog):
    kafka = _settings(kafka_bootstrap)
    with caplog.at_level(logging.WARNING, logger="stream_al.stream.topics"):
        ensure_topics(kafka)
    assert "the cluster has 1 broker(s)" in caplog.text  # the session broker is one node
    assert topic_config(kafka_bootstrap, kafka.topics.labels)["min.insync.replicas"] == "1"

    other = _settings(kafka_bootstrap)
    labels = next(s for s in topic_specs(other) if s.name == other.topics.labels)
    kafka_admin.create_topics({labels.name: {"num_partitions": 2, "replication_factor": 1,
                                             "configs": {"retention.ms": "60000"}}})
    with pytest.raises(TopicError) as refused:
        ensure_topics(other)
    assert (f"kafka-configs.sh --bootstrap-server {kafka_bootstrap} --entity-type topics "
            f"--entity-name {labels.name} --alter --add-config retention.ms=-1"
            ) in str(refused.value)
