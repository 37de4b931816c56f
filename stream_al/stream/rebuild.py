"""Rebuilding the coordinator from the topics (kafka-python, no consumer group).

When a worker is assigned the control partition it reads, up to their current ends:

- ``selected`` from the beginning: what was bought (ids, texts, costs, deadlines);
- ``state``: the last ledger (items seen, control offset), every expiry and the operator's
  rollback in force, if any (``stream_al/loop/rollback.py``);
- ``labels`` (and each vendor's labels topic) from the beginning: every label, deduplicated by
  the coordinator;
- the last record of ``models``: the version to continue from, and its temperature;
- ``expert``: which items an expert was asked about, and why (held items stay held; a request
  that never reached the topic is sent again).

All of it is bounded by the budget (selected, labels) or compacted (state, models).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from stream_al.config import KafkaSettings, TopicSettings
from stream_al.errors import StreamAlError
from stream_al.labels import Label
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.records import Purchase
from stream_al.stream import access, clients, conversion
from stream_al.stream.messages import (
    DeadLetterReason,
    ExpertRequest,
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

if TYPE_CHECKING:
    from stream_al.stream.checkpoint_image import CheckpointImage

log = logging.getLogger(__name__)
LAST_RECORDS = 4
"""How far back "the last record" is looked for: a transaction's commit or abort marker takes
an offset too (stream/fencing.py), so the last offset is rarely a record."""


Offsets = dict[str, dict[int, int]]
"""Topic -> partition -> the offset a read stopped before (its end then)."""


@dataclass
class TopicState:
    """Everything a coordinator restores from."""

    selected: list[Purchase] = field(default_factory=list)
    """Every item on ``selected``, as the core takes them (converted once, when read)."""
    expired: dict[str, float] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    """Every label on the labels topics (a vendor's attributed to it), as the core takes them."""
    label_times: list[float] = field(default_factory=list)
    """When the broker appended each label (epoch seconds): the class cap replays by them."""
    ledger: Ledger | None = None
    model_version: int = 0
    temperature: float = 1.0
    """Of the last model published (the calibration a rebuild keeps)."""
    model: ModelSnapshot | None = None
    """The last model published: a rebuild continues from its weights (and its served head,
    ``learner.served_rule``) instead of fitting. Always read from ``models``, never from a
    checkpoint: a checkpoint holds no weights, so a rebuild from one continues the same model."""
    rollback: RollbackState | None = None
    requested: dict[str, str] = field(default_factory=dict)
    """Item -> reason of every expert request on the expert topic."""
    unreadable: int = 0
    offsets: Offsets = field(default_factory=dict)
    """Where the read of each topic stopped (a checkpoint records them: stream/checkpoint.py)."""
    checkpoint: str = ""
    """How the state was read: "" (every topic from its start) or the checkpoint's summary."""
    image: CheckpointImage | None = None
    """The checkpoint's image of a rebuild of its records (format 3: stream/checkpoint_image.py).
    With one, the records above are only those after it (their expiries, requests, ledger
    and rollback are the whole history's)."""

    def take_model(self, later: TopicState) -> TopicState:
        """This state with ``later``'s model (version, temperature, weights): the newest
        model published wins over an older stretch's."""
        self.model_version, self.temperature, self.model = (
            later.model_version, later.temperature, later.model)
        return self


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
    kafka: KafkaSettings, topic: str, last_only: bool = False, timeout_s: float = 60.0,
    since: Mapping[int, int] | None = None, ends: dict[int, int] | None = None,
    until: Mapping[int, int] | None = None,
) -> Iterator[ConsumerRecord]:
    """Every record of ``topic`` up to its end now (or only the last few per partition:
    :data:`LAST_RECORDS`). ``since``: per partition, the offset to start at (the rest from
    the beginning); ``until``: per partition, the offset to stop before, if it comes before
    the end; ``ends`` is filled with the offset each partition was read up to."""
    consumer = _consumer(kafka)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        if until is not None:
            end = {tp: min(e, until.get(tp.partition, e)) for tp, e in end.items()}
        starts = consumer.beginning_offsets(tps)
        if since:
            _check_since(topic, since, starts, end)
            starts = {tp: max(starts[tp], since.get(tp.partition, 0)) for tp in tps}
        if ends is not None:
            ends.update({tp.partition: end[tp] for tp in tps})
        pending = {tp for tp in tps if end[tp] > starts[tp]}
        for tp in tps:
            if last_only and end[tp] > starts[tp]:
                consumer.seek(tp, max(starts[tp], end[tp] - LAST_RECORDS))
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
                    if record.offset < end[tp]:
                        yield record
            pending = {tp for tp in pending if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()


class OffsetsGone(StreamAlError, ValueError):
    """A checkpoint's offsets are not in the topic any more (it was deleted and made again,
    or its records expired): only a full rebuild is right."""


def _check_since(topic: str, since: Mapping[int, int], starts: Mapping[TopicPartition, int],
                 ends: Mapping[TopicPartition, int]) -> None:
    for tp in starts:
        at = since.get(tp.partition)
        if at is not None and not starts[tp] <= at <= ends[tp]:
            raise OffsetsGone(f"{topic}[{tp.partition}]: offset {at} is outside "
                              f"[{starts[tp]}, {ends[tp]}]")
    if gone := set(since) - {tp.partition for tp in starts}:
        raise OffsetsGone(f"{topic}: partitions {sorted(gone)} are gone")


def read_state(kafka: KafkaSettings, since: Offsets | None = None,
               into: TopicState | None = None, until: Offsets | None = None) -> TopicState:
    """Read the topics a coordinator rebuilds from (see the module docstring): all of them, or
    (``since``: where a checkpoint stopped, stream/checkpoint.py) only what came after, added
    to ``into`` (the checkpoint's state); ``until``: up to these offsets, not the ends now
    (:func:`end_offsets` taken earlier). The last model is always read."""
    t = kafka.topics
    state = into if into is not None else TopicState()
    since = since or {}
    for topic in rebuilt_topics(kafka):
        ends = state.offsets.setdefault(topic, {})
        fold = {t.selected: _fold_selected, t.state: _fold_state,
                t.expert: _fold_expert}.get(topic, _fold_labels)
        for record in read_topic(kafka, topic, since=since.get(topic), ends=ends,
                                 until=None if until is None else until.get(topic, {})):
            fold(state, record, topic, t)
    state.model_version, state.temperature, state.model = _last_model(kafka, last_only=True)
    if state.model_version == 0:  # the last record is not a model (a stray producer's): look back
        state.model_version, state.temperature, state.model = _last_model(kafka, last_only=False)
    log.info(
        "read state: %d selected, %d expired, %d labels, ledger %s, model v%d",
        len(state.selected),
        len(state.expired),
        len(state.labels),
        state.ledger and state.ledger.control_offset,
        state.model_version,
    )
    return state


def end_offsets(kafka: KafkaSettings) -> Offsets:
    """The end of every topic :func:`read_state` reads, now."""
    consumer = _consumer(kafka)
    try:
        out: Offsets = {}
        for topic in rebuilt_topics(kafka):
            tps = [TopicPartition(topic, p)
                   for p in sorted(consumer.partitions_for_topic(topic) or set())]
            out[topic] = {tp.partition: e for tp, e in consumer.end_offsets(tps).items()} if tps else {}
        return out
    finally:
        consumer.close()


def rebuilt_topics(kafka: KafkaSettings) -> list[str]:
    """The topics :func:`read_state` reads from their start (``models``: its last record)."""
    t = kafka.topics
    return [t.selected, t.state, t.labels, *vendor_labels_topics(kafka), t.expert]


def _fold_selected(state: TopicState, record: ConsumerRecord, topic: str,
                   t: TopicSettings) -> None:
    item = parse(SelectedItem, record.value)
    if isinstance(item, DeadLetterReason):
        state.unreadable += 1
    else:
        state.selected.append(conversion.purchase(item))


def _fold_state(state: TopicState, record: ConsumerRecord, topic: str, t: TopicSettings) -> None:
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


def _fold_labels(state: TopicState, record: ConsumerRecord, topic: str, t: TopicSettings) -> None:
    label = parse(LabelIn, record.value)
    if isinstance(label, LabelIn):  # a vendor's labels speak for that vendor only
        label = access.attribute_one(label, topic, t)
    if isinstance(label, LabelIn):
        state.labels.append(conversion.label_of(label))
        state.label_times.append(record.timestamp / 1000)


def _fold_expert(state: TopicState, record: ConsumerRecord, topic: str, t: TopicSettings) -> None:
    request = parse(ExpertRequest, record.value)
    if isinstance(request, ExpertRequest):
        state.requested[request.item_id] = request.reason


def _last_model(kafka: KafkaSettings,
                last_only: bool) -> tuple[int, float, ModelSnapshot | None]:
    """The highest version among usable model updates (0: none), its temperature and its
    snapshot. An update whose snapshot fails the checks (messages.load_snapshot) is not a
    model: its version does not count (the scorers dead-letter it too)."""
    best: tuple[int, float, ModelSnapshot | None] = (0, 1.0, None)
    for record in read_topic(kafka, kafka.topics.models, last_only):
        update = parse(ModelUpdate, record.value)
        if not isinstance(update, ModelUpdate) or update.version <= best[0]:
            continue
        try:
            snapshot = update.to_snapshot()
            best = (update.version, float(snapshot.temperature), snapshot)
        except SnapshotError as e:
            log.warning("models offset %d is not a usable model: %s", record.offset, e)
    return best
