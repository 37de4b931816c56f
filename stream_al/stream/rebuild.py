"""Rebuilding the coordinator from the topics (kafka-python, no consumer group).

When a worker is assigned the control partition it reads, up to their current ends:

- ``selected`` from the beginning: what was bought (ids, texts, costs, deadlines);
- ``state``: the last ledger (items seen, control offset), every expiry and the operator's
  rollback in force, if any (``stream_al/loop/rollback.py``);
- ``labels`` from the beginning: every label, deduplicated by the coordinator;
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
from stream_al.stream.messages import (
    DeadLetterReason,
    Expiry,
    LabelIn,
    Ledger,
    ModelUpdate,
    RollbackState,
    SelectedItem,
    parse,
)
from stream_al.stream.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


@dataclass
class TopicState:
    """Everything a coordinator restores from."""

    selected: list[SelectedItem] = field(default_factory=list)
    expired: dict[str, float] = field(default_factory=dict)
    labels: list[LabelIn] = field(default_factory=list)
    ledger: Ledger | None = None
    model_version: int = 0
    temperature: float = 1.0
    """Of the last model published (the calibration a rebuild keeps)."""
    rollback: RollbackState | None = None
    unreadable: int = 0


def _consumer(kafka: KafkaSettings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"{kafka.app_id}-rebuild",
        max_partition_fetch_bytes=MAX_RECORD_BYTES,
        fetch_max_bytes=MAX_RECORD_BYTES,
    )


def read_topic(
    kafka: KafkaSettings, topic: str, last_only: bool = False, timeout_s: float = 60.0
) -> Iterator[ConsumerRecord]:
    """Every record of ``topic`` up to its end now (or only the last one per partition)."""
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
                consumer.seek(tp, ends[tp] - 1)
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
    for record in read_topic(kafka, t.labels):
        label = parse(LabelIn, record.value)
        if isinstance(label, LabelIn):
            state.labels.append(label)
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
    """The highest version among readable model updates (0: none) and its temperature."""
    updates = (
        parse(ModelUpdate, r.value) for r in read_topic(kafka, kafka.topics.models, last_only)
    )
    last = max((u for u in updates if isinstance(u, ModelUpdate)), key=lambda u: u.version,
               default=None)
    if last is None:
        return 0, 1.0
    try:
        return last.version, float(last.to_snapshot().temperature)
    except Exception:  # weights that do not load: the scorers dead-letter it too
        return last.version, 1.0
