"""Operator commands sent to the running coordinator on the ``control`` topic.

``stream-al models rollback V`` calls :func:`send_rollback`: version V's snapshot and the rows
it learned go to the single-partition ``control`` topic as a
:class:`~stream_al.stream.messages.RollbackRecord` (so the coordinator applies it in order
with the labels around it; ``stream_al/loop/rollback.py``), and :func:`wait_for_model`
watches the ``models`` topic until the scorers are sent V's weights.
"""

from __future__ import annotations

import base64
import time
import uuid

from stream_al.config import KafkaSettings
from stream_al.registry import ModelRegistry
from stream_al.stream import clients
from stream_al.stream.messages import ModelUpdate, RollbackRecord, parse
from stream_al.stream.rebuild import read_topic
from stream_al.stream.topics import MAX_RECORD_BYTES


def rollback_record(registry: ModelRegistry, version: int) -> RollbackRecord:
    """The command that rolls the live model back to registry ``version`` (checked hashes)."""
    info = registry.get(version)
    snapshot = registry.load(version)
    rows = registry.labelled_rows(version)
    return RollbackRecord(
        schema_version=1,
        command_id=uuid.uuid4().hex,
        registry_version=version,
        model_version=info.model_version,
        snapshot=base64.b64encode(snapshot.to_bytes()).decode("ascii"),
        learned=[(r.item_id, r.annotator_id, r.label) for r in rows],
        requested_at=time.time(),
    )


def send_rollback(kafka: KafkaSettings, record: RollbackRecord, timeout_s: float = 30.0) -> None:
    """Write ``record`` to the control topic and wait until the broker has it."""
    producer = clients.producer(kafka, acks="all", client_id=f"{kafka.app_id}-operator",
                                max_request_size=MAX_RECORD_BYTES)
    try:
        producer.send(kafka.topics.control, key=b"rollback",
                      value=record.to_bytes()).get(timeout=timeout_s)
    finally:
        producer.close()


def wait_for_model(kafka: KafkaSettings, fingerprint: str, after_version: int,
                   timeout_s: float) -> ModelUpdate | None:
    """The first model on the ``models`` topic newer than ``after_version`` with weights of
    ``fingerprint`` (None: none within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in read_topic(kafka, kafka.topics.models, last_only=True, timeout_s=10):
            update = parse(ModelUpdate, record.value)
            if (isinstance(update, ModelUpdate) and update.version > after_version
                    and update.to_snapshot().fingerprint() == fingerprint):
                return update
        time.sleep(0.5)
    return None


def latest_model_version(kafka: KafkaSettings) -> int:
    """The version of the last model on the ``models`` topic (0: none)."""
    versions = [u.version for r in read_topic(kafka, kafka.topics.models, last_only=True)
                if isinstance(u := parse(ModelUpdate, r.value), ModelUpdate)]
    return max(versions, default=0)
