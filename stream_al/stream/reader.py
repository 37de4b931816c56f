"""Reading partitioned topics in batches with aiokafka, outside faust's per-record machinery.

faust hands records to agents one at a time (consumer thread, conductor, channel, stream): on
a profile that costs 55-69 CPU-us per record, against about 1 us per record from aiokafka's
``getmany``. The scorers read ``texts`` (the bulk of the traffic) and the labels topics here,
in batches of up to ``kafka.batch_max`` records, each in a consumer group of its own
(:func:`texts_group`, :func:`labels_group`); only ``control``, one partition read by one
worker, stays on a faust agent.

Batches are pipelined ``depth`` deep: the handler may return a second phase (``Then``), run in
batch order after the previous batch's second phase, while the next batch's first phase runs.
The scorers embed batch n+1 while batch n is scored and sent: the embedder never waits for
Kafka (with ``depth`` 1, one batch is handled at a time).

Delivery is at least once, as for the agents: a batch's offsets are committed only after both
its phases returned, i.e. after its scored record reached ``control`` (acks=all), and never
before the batches read ahead of it. Commits are made every ``commit_every_s``, and before
partitions are revoked in a rebalance (the revoke waits for the batches in flight). A worker
killed in between reads the uncommitted records again; the coordinator counts a redelivered
text once (by partition and offset).

On its first start, a reader's group takes over the offsets the agents' group (the app id,
where faust read these topics before this reader existed) committed on its topics, if any;
else it starts at the beginning of the topics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.topics import (
    MAX_RECORD_BYTES,
    labels_group,
    texts_group,
    vendor_labels_topics,
)

log = logging.getLogger(__name__)

Then = Callable[[], Awaitable[None]]
"""A batch's second phase, run in batch order."""
Handler = Callable[[Sequence[ConsumerRecord]], Awaitable[Then | None]]

BATCH_MAX_BYTES = MAX_RECORD_BYTES // 4
"""The values of a batch's records, at most (a batch always takes its first record). A scored
batch goes to ``control`` as one record of at most :data:`MAX_RECORD_BYTES` carrying its texts
and their embeddings: ``kafka.batch_max`` texts of ``kafka.max_text_bytes`` each could exceed
it, and this bound keeps the texts to a quarter of it."""


class BatchReader(ConsumerRebalanceListener):
    """Batches of records of ``topics``, read in consumer group ``group``, to ``handle``;
    offsets committed once a batch is handled. ``name`` names the reader's client and logs."""

    def __init__(
        self, kafka: KafkaSettings, topics: Sequence[str], group: str, handle: Handler, *,
        name: str, commit_every_s: float = 1.0, depth: int = 1,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.kafka = kafka
        self.topics = list(topics)
        self.group = group
        self.name = name
        self.handle = handle
        self.commit_every_s = commit_every_s
        self.depth = depth
        self.consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}
        """Next offset to commit per partition: everything before it has been handled."""
        self._inflight: deque[asyncio.Task[None]] = deque()
        """Batches being handled, oldest first."""
        self._committed_at = time.monotonic()
        self.max_bytes = BATCH_MAX_BYTES

    async def run(self) -> None:
        """Join the group and handle batches until cancelled; then commit and leave the group."""
        k = self.kafka
        self.consumer = clients.aio_consumer(
            k,
            group_id=self.group,
            client_id=f"{k.app_id}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=MAX_RECORD_BYTES,
        )
        await _carry_over_offsets(k, self.group, self.topics, self.name)
        await self.consumer.start()
        try:
            self.consumer.subscribe(self.topics, listener=self)
            while True:
                batch = await self._next_batch()
                if batch:
                    await self._start(batch)
                if time.monotonic() - self._committed_at >= self.commit_every_s:
                    await self._commit(list(self._pending))
        finally:
            for task in self._inflight:  # not handled: read again, by us or the next owner
                task.cancel()
            try:
                await asyncio.shield(self._commit(list(self._pending)))
            finally:
                await self.consumer.stop()  # leaves the group: its partitions move at once

    async def _start(self, batch: list[ConsumerRecord]) -> None:
        """Handle ``batch`` once fewer than ``depth`` batches are in flight."""
        while self._inflight and self._inflight[0].done():
            self._inflight.popleft().result()
        while len(self._inflight) >= self.depth:
            await asyncio.wait([self._inflight[0]])
            self._inflight.popleft().result()
        previous = self._inflight[-1] if self._inflight else None
        self._inflight.append(asyncio.create_task(self._handle(batch, previous)))

    async def _handle(self, batch: list[ConsumerRecord], previous: asyncio.Task | None) -> None:
        then = await self.handle(batch)
        if previous is not None:  # second phases and commits keep the batches' order
            await asyncio.wait([previous])
            if previous.cancelled() or previous.exception() is not None:
                return  # not marked handled: read again after the error stops the reader
        if then is not None:
            await then()
        self._handled(batch)

    async def _drain(self) -> None:
        """Wait for every batch in flight."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))

    async def _next_batch(self) -> list[ConsumerRecord]:
        """Up to ``batch_max`` records of at most ``max_bytes`` together, waiting at most
        ``batch_within_s`` for the batch to fill once it has a first record (and at most that
        long for a first record). Records fetched beyond ``max_bytes`` are read again with the
        next batch (their partitions are sought back to the first of them)."""
        assert self.consumer is not None
        k = self.kafka
        deadline = time.monotonic() + k.batch_within_s
        batch: list[ConsumerRecord] = []
        size = 0
        while len(batch) < k.batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            fetched = await self.consumer.getmany(
                timeout_ms=int(left * 1000) + 1, max_records=k.batch_max - len(batch)
            )
            full = False
            for tp, records in fetched.items():
                for record in records:
                    size += len(record.value or b"")
                    if batch and (full or size > self.max_bytes):
                        full = True
                        self.consumer.seek(tp, record.offset)  # the rest: the next batch
                        break
                    batch.append(record)
            if full:
                break
        return batch

    def _handled(self, batch: Sequence[ConsumerRecord]) -> None:
        """Mark ``batch`` committable, on the partitions this reader still holds (a partition
        revoked meanwhile is read again by its new owner from its last commit)."""
        assert self.consumer is not None
        held = self.consumer.assignment()
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            if tp in held:
                self._pending[tp] = max(self._pending.get(tp, 0), record.offset + 1)

    async def _commit(self, partitions: list[TopicPartition]) -> None:
        """Commit the handled offsets of ``partitions``; a failed commit only means the records
        are read again (by this worker or the partition's next owner)."""
        self._committed_at = time.monotonic()
        offsets = {tp: self._pending.pop(tp) for tp in partitions if tp in self._pending}
        if not offsets or self.consumer is None:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as e:
            log.warning("committing %s offsets failed (they will be read again): %s",
                        self.name, e)

    # ---- rebalance listener -----------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._drain()  # the batches being handled finish (and are committed) first
        await self._commit(list(self._pending))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None

    # ---- observation ------------------------------------------------------------------------
    async def lag(self) -> dict[TopicPartition, int]:
        """Records not yet read per assigned partition (those with a known end)."""
        if self.consumer is None:
            return {}
        lags = {}
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is not None:
                lags[tp] = max(0, end - await self.consumer.position(tp))
        return lags


class TextReader(BatchReader):
    """The scorers' reader of ``texts``, in the group :func:`texts_group`."""

    def __init__(self, kafka: KafkaSettings, handle: Handler, *, commit_every_s: float = 1.0,
                 depth: int = 1) -> None:
        super().__init__(kafka, [kafka.topics.texts], texts_group(kafka), handle, name="texts",
                         commit_every_s=commit_every_s, depth=depth)


class LabelReader(BatchReader):
    """The reader of the shared labels topic and, on a secured cluster, each vendor's own
    (identity by topic), in the group :func:`labels_group`."""

    def __init__(self, kafka: KafkaSettings, handle: Handler, *,
                 commit_every_s: float = 1.0) -> None:
        super().__init__(kafka, [kafka.topics.labels, *vendor_labels_topics(kafka)],
                         labels_group(kafka), handle, name="labels",
                         commit_every_s=commit_every_s)


async def _carry_over_offsets(kafka: KafkaSettings, group: str, topics: Sequence[str],
                              name: str) -> None:
    """If ``group`` never committed on ``topics`` but the agents' group (the app id, where
    faust read them before this reader existed) did, commit its offsets in ``group``, once,
    before joining it."""
    if await _committed_offsets(kafka, group, topics):
        return
    earlier = {tp: o for tp, o in (await _committed_offsets(kafka, kafka.app_id, topics)).items()
               if o >= 0}
    if not earlier:
        return
    consumer = clients.aio_consumer(kafka, group_id=group,
                                    client_id=f"{kafka.app_id}-{name}-offsets",
                                    enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(earlier))
        await consumer.commit(earlier)
        log.info("%s: continuing at the offsets group %s committed", name, kafka.app_id)
    except KafkaError as e:  # another worker of the group got there first
        log.info("%s: not carrying offsets over from group %s: %s", name, kafka.app_id, e)
    finally:
        await consumer.stop()


async def _committed_offsets(kafka: KafkaSettings, group: str,
                             topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The offsets ``group`` committed on ``topics`` (empty if it never did)."""
    admin = clients.aio_admin(kafka, client_id=f"{group}-offsets")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError as e:
        log.warning("reading the offsets group %s committed failed: %s", group, e)
        return {}
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if tp.topic in topics}
