"""The development broker from ``deploy/kafka.sh``: a real single-node Kafka that tests can trust."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from stream_al.config import KafkaSettings
from stream_al.stream import clients

pytestmark = pytest.mark.kafka

KAFKA_SH = Path(__file__).resolve().parents[1] / "deploy" / "kafka.sh"


def read_all(consumer: KafkaConsumer, expected: int, timeout_s: float = 30.0) -> list:
    """Poll until ``expected`` records arrived or ``timeout_s`` passed."""
    records: list = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_a_produced_message_is_read_back_by_a_consumer_group(kafka_bootstrap, new_topic):
    topic = new_topic("roundtrip")
    producer = clients.producer(KafkaSettings(bootstrap=kafka_bootstrap))
    producer.send(topic, key=b"id-1", value=b"a text worth a label").get(timeout=10)
    producer.close()

    consumer = clients.consumer(
        KafkaSettings(bootstrap=kafka_bootstrap),
        topic,
        group_id=f"{topic}-readers",
        auto_offset_reset="earliest",
    )
    records = read_all(consumer, expected=1)
    consumer.close()

    assert [(r.key, r.value) for r in records] == [(b"id-1", b"a text worth a label")]


def test_a_new_topic_has_the_partitions_asked_for(kafka_admin: KafkaAdminClient, new_topic):
    topic = new_topic("partitioned", partitions=6)

    [described] = kafka_admin.describe_topics([topic])

    assert len(described["partitions"]) == 6


def test_new_topic_names_are_unique_per_call(new_topic):
    assert new_topic("same") != new_topic("same")


def test_a_topic_first_written_to_is_created_with_four_partitions(kafka_bootstrap, kafka_admin):
    topic = f"auto-{uuid.uuid4().hex[:12]}"
    producer = clients.producer(KafkaSettings(bootstrap=kafka_bootstrap))
    producer.send(topic, value=b"x").get(timeout=30)
    producer.close()

    [described] = kafka_admin.describe_topics([topic])

    assert len(described["partitions"]) == 4
    kafka_admin.delete_topics([topic])


def test_starting_a_broker_that_already_answers_is_a_no_op(kafka_bootstrap, tmp_path):
    port = kafka_bootstrap.rsplit(":", 1)[1]
    env = {**os.environ, "KAFKA_PORT": port, "KAFKA_DATA_DIR": str(tmp_path / "unused")}

    done = subprocess.run(
        ["bash", str(KAFKA_SH), "start"], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "already answers" in done.stdout
    assert not (tmp_path / "unused").exists()
