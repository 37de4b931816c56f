"""Rebuilding the coordinator from the topics (kafka-python, no consumer group).

When a worker is assigned the control partition it reads, up to their current ends:

- ``selected`` from the beginning: what was bought (ids, texts, costs, deadlines);
- ``state``: the last ledger (items seen, control offset), every expiry and the operator's
  rollback in force, if any (``stream_al/loop/rollback.py``);
- ``labels`` (and each vendor's labels topic) from the beginning: every label, deduplicated by
  the coordinator;
- the last record of ``models``: the version to continue from, and its temperature.

All of it is bounded by the budget (selected, labels) or compacted (state, models).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from stream_al.config import KafkaSettings
from stream_al.stream import access, clients
from stream_al.stream.messages import (
    DeadLetterReason,
    Expiry,
    LabelIn,
    Ledger,
    ModelUpdate,
    RollbackState,
    SelectedItem,
    SnapshotError,
    parse,
)
from stream_al.stream.topics import MAX_RECORD_BYTES, vendor_labels_topics

log = logging.getLogger(__name__)
LAST_RECORDS = 4
"""How far back "the last record" is looked for: a transaction's commit or abort marker takes
an offset too (stream/fencing.py), so the last offset is rarely a record."""


@dataclass
class TopicState:
    """Everything a coordinator restores from."""

    selected: list[SelectedItem] = field(default_factory=list)
    expired: dict[str, float] = field(default_factory=dict)
    labels: list[LabelIn] = field(default_factory=list)
    label_times: list[float] = field(default_factory=list)
    """When the broker appended each label (epoch seconds): the class cap replays by them."""
    ledger: Ledger | None = None
    model_version: int = 0
    temperature: float = 1.0
    """Of the last model published (the calibration a rebuild keeps)."""
    rollback: RollbackState | None = None
    unreadable: int = 0


def _consumer(kafka: KafkaSettings) -> KafkaConsumer:
    return clients.consumer(
        kafka,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"{kafka.app_id}-rebuild",
        max_partition_fetch_bytes=MAX_RECORD_BYTES,
        fetch_max_bytes=MAX_RECORD_BYTES,
    )


def read_topic(
    kafka: KafkaSettings, topic: str, last_only: bool = False, timeout_s: float = 60.0
) -> Iterator[ConsumerRecord]:
    """Every record of ``topic`` up to its end now (or only the last few per partition:
    :data:`LAST_RECORDS`)."""
    consumer = _consumer(kafka)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        for tp in tps:
            if last_only and ends[tp] > starts[tp]:
                consumer.seek(tp, max(starts[tp], ends[tp] - LAST_RECORDS))
            else:
                consumer.seek(tp, starts[tp])
        idle = 0.0
        while pending:
            batches = consumer.poll(timeout_ms=500)
            idle = 0.0 if batches else idle + 0.5
            if idle > timeout_s:
                raise TimeoutError(f"reading {topic}: no records for {timeout_s}s before its end")
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()


def read_state(kafka: KafkaSettings) -> TopicState:
    """Read the four topics a coordinator rebuilds from (see the module docstring)."""
    t = kafka.topics
    state = TopicState()
    for record in read_topic(kafka, t.selected):
        item = parse(SelectedItem, record.value)
        if isinstance(item, DeadLetterReason):
            state.unreadable += 1
        else:
            state.selected.append(item)
    for record in read_topic(kafka, t.state):
        key = (record.key or b"").decode("utf-8", errors="replace")
        if key == "ledger":
            ledger = parse(Ledger, record.value)
            if isinstance(ledger, Ledger):
                state.ledger = ledger
        elif key == "rollback":
            rollback = parse(RollbackState, record.value)
            if isinstance(rollback, RollbackState):
                state.rollback = rollback
        elif key.startswith("expired/"):
            expiry = parse(Expiry, record.value)
            if isinstance(expiry, Expiry):
                state.expired[expiry.item_id] = expiry.cost
    for topic in (t.labels, *vendor_labels_topics(kafka)):
        for record in read_topic(kafka, topic):
            label = parse(LabelIn, record.value)
            if isinstance(label, LabelIn):  # a vendor's labels speak for that vendor only
                label = access.attribute_one(label, topic, t)
            if isinstance(label, LabelIn):
                state.labels.append(label)
                state.label_times.append(record.timestamp / 1000)
    state.model_version, state.temperature = _last_model(kafka, last_only=True)
    if state.model_version == 0:  # the last record is not a model (a stray producer's): look back
        state.model_version, state.temperature = _last_model(kafka, last_only=False)
    log.info(
        "read state: %d selected, %d expired, %d labels, ledger %s, model v%d",
        len(state.selected),
        len(state.expired),
        len(state.labels),
        state.ledger and state.ledger.control_offset,
        state.model_version,
    )
    return state


def _last_model(kafka: KafkaSettings, last_only: bool) -> tuple[int, float]:
    """The highest version among usable model updates (0: none) and its temperature. An update
    whose snapshot fails the checks (messages.load_snapshot) is not a model: its version does
    not count (the scorers dead-letter it too)."""
    best = (0, 1.0)
    for record in read_topic(kafka, kafka.topics.models, last_only):
        update = parse(ModelUpdate, record.value)
        if not isinstance(update, ModelUpdate) or update.version <= best[0]:
            continue
        try:
            best = (update.version, float(update.to_snapshot().temperature))
        except SnapshotError as e:
            log.warning("models offset %d is not a usable model: %s", record.offset, e)
    return best
