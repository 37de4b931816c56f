"""The topics' record size limits, as the README's topic table states them: ``texts``,
``control``, ``models``, ``state``, ``checkpoint`` and ``reference`` (compacted like them) take
records up to 32 MiB; ``labels`` and the other
vendor-facing topics keep the broker's default (1 MB) and the broker refuses larger records."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from stream_al.config import Settings
from stream_al.stream.topics import MAX_RECORD_BYTES, ensure_topics, topic_specs

BIG_TOPICS = {"texts", "control", "models", "state", "checkpoint", "reference"}
BROKER_DEFAULT_TOPICS = {"labels", "selected", "expert", "events", "deadletter", "commands"}


def settings(bootstrap: str = "127.0.0.1:9092") -> Settings:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    names = BIG_TOPICS | BROKER_DEFAULT_TOPICS
    return Settings.load(kafka={"bootstrap": bootstrap, "app_id": prefix,
                                "topics": {t: f"{prefix}.{t}" for t in names}})


def test_which_topics_take_32_mib_and_which_keep_the_brokers_limit():
    kafka = settings().kafka
    limits = {spec.name.split(".")[-1]: spec.config.get("max.message.bytes")
              for spec in topic_specs(kafka)}
    assert MAX_RECORD_BYTES == 32 * 1024 * 1024
    assert {t for t, limit in limits.items() if limit == str(MAX_RECORD_BYTES)} == BIG_TOPICS
    assert {t for t, limit in limits.items() if limit is None} == BROKER_DEFAULT_TOPICS


@pytest.mark.kafka
def test_the_broker_takes_a_2_mb_text_and_refuses_a_2_mb_label(kafka_bootstrap):
    kafka = settings(kafka_bootstrap).kafka
    ensure_topics(kafka)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",  # a raw client: the test is the broker limit
                             max_request_size=4 * 1024 * 1024)  # the client lets it through
    record = b"x" * (2 * 1024 * 1024)
    try:
        producer.send(kafka.topics.texts, record).get(timeout=30)
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(kafka.topics.labels, record).get(timeout=30)
    finally:
        producer.close()
