"""The operator's commands, relayed from ``commands`` onto ``control`` by the coordinator.

The operator writes a rollback to ``commands`` only (``stream-al models rollback``): on a
secured cluster that topic is the operator's alone, and the operator may not write ``control``,
so a stolen operator password can neither forge a scored batch nor a label batch there. The
worker that holds the ``control`` partition copies each new command onto ``control``, where it
takes effect in order with the labels around it (``stream/coordinating.py``), and is checked
there like any rollback (``stream/commands.py``: the same record must be on ``commands``).

The relay's place in ``commands`` is the committed offset of the consumer group
``<app_id>.commands``, committed after the copy is on ``control``. A crash in between copies a
command twice; the coordinator applies a rollback once (the second copy names the rollback
already in force).
"""

from __future__ import annotations

import logging
from typing import Any

from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


def relay_group(kafka: KafkaSettings) -> str:
    """The consumer group whose committed offset is the relay's place in ``commands``."""
    return f"{kafka.app_id}.commands"


class CommandRelay:
    """Copies new records of ``commands`` to ``control`` (blocking: run it off the event loop)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._consumer: Any = None
        self._producer: Any = None

    def relay_many(self) -> int:
        """Copy the commands written since the last call; returns how many."""
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        if self._consumer is None:
            self._open()
        tp = TopicPartition(self.kafka.topics.commands, 0)
        batches = self._consumer.poll(timeout_ms=200)
        records = [r for rs in batches.values() for r in rs]
        sent = [self._producer.send(self.kafka.topics.control, key=b"rollback", value=r.value)
                for r in records]
        for future in sent:  # on control (acks=all) before the place moves past them
            future.get(timeout=30)
        if records:
            self._consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)})
            log.info("relayed %d operator command(s) from %s to %s", len(records),
                     self.kafka.topics.commands, self.kafka.topics.control)
        return len(records)

    def _open(self) -> None:
        from kafka import TopicPartition

        k = self.kafka
        tp = TopicPartition(k.topics.commands, 0)
        consumer = clients.consumer(k, group_id=relay_group(k), enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id=f"{k.app_id}-relay",
                                    max_partition_fetch_bytes=MAX_RECORD_BYTES,
                                    fetch_max_bytes=MAX_RECORD_BYTES)
        consumer.assign([tp])
        producer = clients.producer(k, acks="all", client_id=f"{k.app_id}-relay",
                                    max_request_size=MAX_RECORD_BYTES)
        self._consumer, self._producer = consumer, producer

    def close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                client.close()
        self._consumer = self._producer = None
