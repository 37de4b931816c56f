"""``stream-al vendor``: a simulated labelling vendor, written the way a vendor would write one.

It knows only the public contract (the selected-item and label records of README / the JSON
Schemas in ``stream_al/schemas/``), kafka-python and a gold file: it consumes ``selected`` in
its own consumer group, finds each item's gold label from its id (``<prefix>-<row>``, as
``stream-al produce`` makes them), and answers on ``labels`` after ``delay`` seconds, flipping
the label to another class with probability ``noise``. Each item is answered by as many of
the ``annotators`` simulated annotators as it asks for (its ``annotators`` field), and by at
least ``per_item``.

It commits an offset of ``selected`` only after the answers of every item before it were
acknowledged by the broker (``stream_al/stream/vendor_commits.py``): a vendor killed at any
moment answers again, after its restart, every item whose answers were not on the labels topic
yet (at least once), with the same annotators and labels (idempotent by (item, annotator)).
"""

from __future__ import annotations

import heapq
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.produce import InputError, iter_column, row_of
from stream_al.stream.vendor_commits import AnsweredOffsets

JOIN_S = 60.0
"""Time allowed to join the consumer group (a loaded broker can take seconds) before
``--max-idle`` starts counting."""
REJOIN_S = 15.0
"""A consumer whose join of the group (or rejoin: a rebalance) has not completed after this
long is closed and a new one joins. In the test suite kafka-python 3.0.12 now and then
stalled as the group's leader after the JoinGroup response of a rejoin it had itself asked for
right after an assignment (once after an empty first generation, the topic's metadata not yet
there; once with two vendors on one partition): no SyncGroup, no heartbeat, no warning, 0
items in 70 s. A member that joined and was given no partitions (more vendors than
partitions) is left be: its join completed."""

COMMIT_EVERY_S = 1.0
"""How often the vendor confirms its answers sent (``flush``) and commits what they cover."""

log = logging.getLogger(__name__)


class GroupJoin:
    """Whether the vendor's consumer is stuck joining its group, from the rebalance listener's
    calls: a rebalance begins with ``revoked`` and completes with ``assigned`` (also when the
    member is given no partitions).

    >>> join = GroupJoin()
    >>> join.began(0.0); join.stuck(REJOIN_S + 1)
    True
    >>> join.completed(); join.stuck(1e9)  # joined, even with no partitions: never stuck
    False
    """

    def __init__(self) -> None:
        self.since: float | None = None
        """Since when a join is incomplete (None: joined, or not begun)."""

    def began(self, now: float) -> None:
        self.since = now

    def completed(self) -> None:
        self.since = None

    def stuck(self, now: float) -> bool:
        return self.since is not None and now - self.since > REJOIN_S


@dataclass
class VendorStats:
    received: int = 0
    sent: int = 0
    noisy: int = 0
    unknown: int = 0
    invalid: int = 0


@dataclass(frozen=True)
class VendorOptions:
    gold: Path
    label_column: str = "label"
    id_prefix: str | None = None
    delay_s: float = 0.0
    noise: float = 0.0
    annotators: int = 1
    per_item: int = 1
    seed: int = 0
    group: str | None = None
    vendor: str | None = None
    """On a secured cluster: the vendor's name; labels go to its own topic
    (``<labels>.<vendor>``), the default group is ``<app_id>-vendor-<vendor>``."""
    max_idle_s: float | None = None
    max_labels: int | None = None

    def check(self) -> None:
        if self.delay_s < 0:
            raise InputError(f"--delay must be >= 0 seconds, got {self.delay_s}")
        if not 0 <= self.noise <= 1:
            raise InputError(f"--noise must be in [0, 1], got {self.noise}")
        if self.annotators < 1:
            raise InputError(f"--annotators must be >= 1, got {self.annotators}")
        if not 1 <= self.per_item <= self.annotators:
            raise InputError(
                f"--per-item must be in [1, --annotators={self.annotators}], got {self.per_item}"
            )
        if self.max_idle_s is not None and self.max_idle_s <= 0:
            raise InputError(f"--max-idle must be > 0 seconds, got {self.max_idle_s}")


class Vendor:
    """Answers selected items with (noisy) gold labels; see the module docstring."""

    def __init__(self, kafka: KafkaSettings, options: VendorOptions) -> None:
        options.check()
        self.options = options
        self.kafka = kafka
        self.gold = [
            label.strip()
            for _, label in iter_column(options.gold, options.label_column, "--label-column")
        ]
        self.classes = sorted({g for g in self.gold if g})
        if len(self.classes) < 2:
            raise InputError(
                f"{options.gold}: column {options.label_column!r} holds "
                f"{len(self.classes)} class; labels need at least 2"
            )
        self.prefix = options.id_prefix or options.gold.stem
        self.stats = VendorStats()
        self._due: list[tuple[float, int, str, dict, tuple[int, int] | None]] = []
        self._answered: set[str] = set()
        self._seq = 0
        self.join = GroupJoin()
        self.offsets = AnsweredOffsets()

    def answer(self, record: bytes, now: float, where: tuple[int, int] | None = None) -> int:
        """Schedule the answers for one selected-item record (``where``: its partition and
        offset, to commit once they are sent); returns how many."""
        try:
            item = orjson.loads(record)
        except orjson.JSONDecodeError:
            self.stats.invalid += 1
            return 0
        if not isinstance(item, dict) or item.get("schema_version") != 1 or "item_id" not in item:
            self.stats.invalid += 1
            return 0
        item_id = str(item["item_id"])
        self.stats.received += 1
        row = row_of(self.prefix, item_id)
        if row is None or row >= len(self.gold) or not self.gold[row]:
            self.stats.unknown += 1
            return 0
        if item_id in self._answered:  # delivered twice (at-least-once): answer once
            return 0
        self._answered.add(item_id)
        rng = self._rng_of(item_id)  # the same answers whenever (and by whom) it is answered
        who = rng.choice(self.options.annotators, size=self.labels_for(item), replace=False)
        for annotator in sorted(who.tolist()):
            label = self._label(self.gold[row], rng)
            heapq.heappush(
                self._due,
                (
                    now + self.options.delay_s,
                    self._seq,
                    item_id,
                    {
                        "schema_version": 1,
                        "item_id": item_id,
                        "label": label,
                        "annotator_id": f"annotator-{annotator}",
                        "timestamp": 0.0,
                        "confidence": None,
                    },
                    where,
                ),
            )
            self._seq += 1
        return len(who)

    def _rng_of(self, item_id: str) -> np.random.Generator:
        """The item's own generator (``seed`` and its id): an item redelivered after a crash
        gets the same annotators and labels, so answering it again changes nothing."""
        return np.random.default_rng([self.options.seed, zlib.crc32(item_id.encode())])

    def labels_for(self, item: dict) -> int:
        """Labels to send: the item's ``annotators`` (k asked), at least ``per_item``, at most
        the pool."""
        asked = item.get("annotators", 1)
        asked = asked if isinstance(asked, int) and asked >= 1 else 1
        return min(self.options.annotators, max(self.options.per_item, asked))

    def _label(self, gold: str, rng: np.random.Generator) -> str:
        if self.options.noise and rng.random() < self.options.noise:
            self.stats.noisy += 1
            others = [c for c in self.classes if c != gold]
            return others[int(rng.integers(len(others)))]
        return gold

    def due(self, now: float) -> list[tuple[str, dict, tuple[int, int] | None]]:
        """Answers whose delay passed: (item id, label record, where its item was read)."""
        out = []
        while self._due and self._due[0][0] <= now:
            _, _, item_id, label, where = heapq.heappop(self._due)
            out.append((item_id, {**label, "timestamp": now}, where))
        return out

    @property
    def pending(self) -> int:
        return len(self._due)

    @property
    def _group(self) -> str:
        vendor = f"-{self.options.vendor}" if self.options.vendor else ""
        return self.options.group or f"{self.kafka.app_id}-vendor{vendor}"

    def _consumer(self):  # -> kafka.KafkaConsumer (imported only when the vendor runs)
        from kafka import ConsumerRebalanceListener

        join = self.join
        offsets = self.offsets

        class Joining(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: object) -> None:
                join.began(time.monotonic())
                offsets.forget({tp.partition for tp in revoked})  # resumed from their commit

            def on_partitions_assigned(self, assigned: object) -> None:
                join.completed()

        k = self.kafka
        consumer = clients.consumer(
            k,
            group_id=self._group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,  # committed once answered: _commit
            client_id=f"{k.app_id}-vendor",
            metadata_max_age_ms=3000,  # started before the workers made the topic: find it soon
        )
        deadline = time.monotonic() + JOIN_S
        while not consumer.partitions_for_topic(k.topics.selected) and time.monotonic() < deadline:
            time.sleep(0.5)  # join knowing the partitions: a first, empty generation is avoided
        join.began(time.monotonic())
        clients.subscribe(consumer, [k.topics.selected], listener=Joining())
        return consumer

    def run(self, say: Callable[[str], None] = print) -> VendorStats:
        """Consume, answer, until stopped (Ctrl-C), ``max_idle_s`` or ``max_labels``."""
        o, k = self.options, self.kafka
        labels_topic = k.topics.labels_of(o.vendor) if o.vendor else k.topics.labels
        consumer = self._consumer()
        producer = clients.producer(k, acks="all", enable_idempotence=True, linger_ms=5,
                                    client_id=f"{k.app_id}-vendor")
        started = last_activity = last_report = last_commit = time.monotonic()
        rejoin_began: float | None = None
        try:
            while o.max_labels is None or self.stats.sent < o.max_labels:
                if self.join.stuck(time.monotonic()):
                    log.warning("group %s: a join still incomplete after %.0f s; joining "
                                "again with a new consumer", self._group, REJOIN_S)
                    consumer.close(autocommit=False)
                    consumer = self._consumer()
                batches = consumer.poll(timeout_ms=100)
                now = time.time()
                for tp, records in batches.items():
                    for record in records:
                        n = self.answer(record.value, now, (tp.partition, record.offset))
                        self.offsets.received(tp.partition, record.offset, n)
                for item_id, label, where in self.due(now):
                    producer.send(labels_topic, key=item_id.encode(), value=orjson.dumps(label))
                    if where is not None:
                        self.offsets.sent(*where)
                    self.stats.sent += 1
                    if o.max_labels is not None and self.stats.sent >= o.max_labels:
                        break
                if time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    last_commit = time.monotonic()
                    self._commit(consumer, producer)
                if self.join.since is None:
                    rejoin_began = None
                elif rejoin_began is None:
                    rejoin_began = time.monotonic()
                rejoining = (rejoin_began is not None  # a rejoin under way: not idle, for a while
                             and time.monotonic() - rejoin_began < JOIN_S)
                joining = rejoining or (not consumer.assignment()
                                        and time.monotonic() - started < JOIN_S)
                if batches or self.pending or joining:  # idle counts once partitions are ours
                    last_activity = time.monotonic()
                elif o.max_idle_s is not None and time.monotonic() - last_activity > o.max_idle_s:
                    break
                if time.monotonic() - last_report >= 2.0:
                    last_report = time.monotonic()
                    say(
                        f"vendor: {self.stats.received} items received, {self.stats.sent} labels sent"
                    )
        except KeyboardInterrupt:
            pass
        finally:
            try:
                self._commit(consumer, producer)  # what was sent; the rest is answered again
            finally:
                producer.close()
                consumer.close(autocommit=False)
        s = self.stats
        say(
            f"vendor: {s.received} items received, {s.sent} labels sent ({s.noisy} noisy), "
            f"{s.unknown} unknown ids, {s.invalid} invalid records"
        )
        return s

    def _commit(self, consumer, producer) -> None:
        """Wait for the broker to acknowledge every answer sent, then commit the offsets of
        ``selected`` whose items are fully answered (never before: at least once)."""
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        producer.flush()
        ready = {p: o for p, o in self.offsets.committable().items()
                 if TopicPartition(self.kafka.topics.selected, p) in consumer.assignment()}
        if not ready:
            return
        try:
            consumer.commit({TopicPartition(self.kafka.topics.selected, p):
                             OffsetAndMetadata(o, "", -1) for p, o in ready.items()})
        except Exception as e:  # a rebalance under way: the next commit covers it
            log.warning("committing %s: %s: %s", ready, type(e).__name__, e)
            return
        self.offsets.committed(ready)
