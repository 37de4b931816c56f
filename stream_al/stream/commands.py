"""Operator commands sent to the running coordinator, and the checks the coordinator makes.

``stream-al models rollback V`` calls :func:`send_rollback`: version V's snapshot and the rows
it learned go to the ``commands`` topic as a :class:`~stream_al.stream.messages.RollbackRecord`.
Only the operator role may write ``commands``; the coordinator relays each command to the
single-partition ``control`` topic (``stream/command_relay.py``), so it takes effect in order
with the labels around it (``stream_al/loop/rollback.py``). :func:`wait_for_model` watches the
``models`` topic until the scorers are sent V's weights.

Before applying a rollback the coordinator asks :func:`rollback_refusal`: the same record must
be on ``commands`` (so a rollback written to ``control`` by anyone else, a worker's stolen
credentials included, is not enough), and the target must be a version of the worker's model
registry with the same fingerprint and rows (so no one can roll the model to weights the
deployment never made).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable

from stream_al.config import KafkaSettings
from stream_al.registry import ModelRegistry, RegistryError
from stream_al.stream import clients
from stream_al.stream.messages import (
    DeadLetterReason,
    ModelUpdate,
    RollbackRecord,
    SnapshotError,
    parse,
)
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
    """Write ``record`` to the commands topic and wait until the broker has it."""
    producer = clients.producer(kafka, acks="all", client_id=f"{kafka.app_id}-operator",
                                max_request_size=MAX_RECORD_BYTES)
    try:
        producer.send(kafka.topics.commands, key=record.command_id.encode(),
                      value=record.to_bytes()).get(timeout=timeout_s)
    finally:
        producer.close()


def operator_commands(kafka: KafkaSettings) -> list[RollbackRecord]:
    """Every well-formed command on the commands topic, oldest first."""
    return [c for r in read_topic(kafka, kafka.topics.commands, timeout_s=20)
            if isinstance(c := parse(RollbackRecord, r.value), RollbackRecord)]


def rollback_refusal(record: RollbackRecord, commands: Iterable[RollbackRecord],
                     registry: ModelRegistry | None) -> DeadLetterReason | None:
    """Why the coordinator must not apply ``record`` (None: apply it). ``commands``: those on
    the commands topic; ``registry``: the worker's model registry (None: disabled)."""
    try:
        fingerprint = record.to_snapshot().fingerprint()
    except SnapshotError as e:
        return DeadLetterReason("implausible", f"rollback snapshot: {e}")
    said = next((c for c in commands if c.command_id == record.command_id), None)
    if said is None:
        return DeadLetterReason("implausible", f"rollback {record.command_id[:64]}: no operator "
                                "command for it on the commands topic; only `stream-al models "
                                "rollback`, run as the operator, sends one")
    if said != record:
        return DeadLetterReason("implausible", f"rollback {record.command_id[:64]}: it differs "
                                "from the operator's command of that id")
    if registry is None:
        return DeadLetterReason("implausible", "rollback: this worker has no model registry to "
                                "check the target against; set registry.enabled (and share "
                                "registry.dir with the operator's CLI)")
    return _registered(record, fingerprint, registry)


def _registered(record: RollbackRecord, fingerprint: str,
                registry: ModelRegistry) -> DeadLetterReason | None:
    """The target is a version of ``registry`` with the record's model and rows."""
    v = record.registry_version
    try:
        info = registry.get(v)
        rows = [(r.item_id, r.annotator_id, r.label) for r in registry.labelled_rows(v)]
    except (RegistryError, OSError) as e:
        return DeadLetterReason("implausible", f"rollback to registry version {v}: {e}")
    if (info.fingerprint, info.model_version) != (fingerprint, record.model_version):
        return DeadLetterReason("implausible", f"rollback to registry version {v}: its model "
                                f"is not the registered one (fingerprint {info.fingerprint})")
    if rows != [tuple(r) for r in record.learned]:
        return DeadLetterReason("implausible", f"rollback to registry version {v}: its rows "
                                "are not the ones the version learned")
    return None


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
