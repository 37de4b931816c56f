"""Fencing the coordinator with a Kafka transaction per control record.

Only one worker may act as the coordinator: the one the group gave the ``control`` partition.
The group alone cannot guarantee it: a worker paused (GC, SIGSTOP, a frozen VM, a partition)
past its session is replaced, and when it resumes it goes on flushing, expiring and publishing
until its next heartbeat tells it that it lost the partition. So the coordinator writes through
one transactional producer whose ``transactional.id`` names the coordinator role of the
deployment (``<app_id>.coordinator``):

- a worker that becomes the coordinator first *claims* the role (:meth:`CoordinatorProducer.claim`):
  ``InitProducerId`` raises the producer epoch of that id on the broker, aborts whatever the
  previous owner had begun and fences it: every later write or commit of the old epoch is
  refused (``ProducerFenced``). Only then does it rebuild from the topics;
- every control record and every chore is one transaction: its selections, ledger, expiries,
  model, events and dead letters are committed together or not at all;
- every consumer reads ``read_committed`` (:data:`stream_al.stream.clients.READ_COMMITTED`):
  what a fenced owner had begun is never seen, and a compacted topic never keeps it (the log
  cleaner drops aborted records), so a stale ledger cannot win compaction on ``state``.

The epoch is the broker's (it rises on each claim); a rebuild reports it in the ``restored``
event. Why transactions rather than an epoch of our own on each record: the broker refuses
a stale write at the source, for every topic and partition at once, where an epoch in the
payload would need a fence marker on every partition of every output topic and a filter in
every reader (the vendors' too), and would still let a stale ledger replace a current one in
compaction. What it costs is measured in ``benchmarks/fencing_cost.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiokafka.errors

from stream_al.config import KafkaSettings
from stream_al.errors import StreamAlError
from stream_al.metrics import Metrics
from stream_al.stream import clients
from stream_al.stream.messages import Message
from stream_al.stream.publish import Publisher
from stream_al.stream.topics import MAX_RECORD_BYTES, transactional_id

log = logging.getLogger(__name__)

T = TypeVar("T")

FENCED_ERRORS: tuple[type[BaseException], ...] = (
    aiokafka.errors.ProducerFenced,
    aiokafka.errors.InvalidProducerEpoch,
)

POISONING_ERRORS: tuple[type[BaseException], ...] = (aiokafka.errors.OutOfOrderSequenceNumber,)
"""Errors after which the producer's sequence numbers no longer match the broker's (a broker
restart with a batch in flight): every later send of that producer fails the same way, so the
next transaction claims a new one (same transactional id, next epoch) instead of retrying with it
(tests/reliability/test_broker_restart.py wedged on this: "OutOfOrderSequenceNumber; rebuilding
and retrying" for minutes)."""

TRANSACTION_TIMEOUT_MS = 600_000
"""Ten minutes (the broker allows up to 15 by default): a fence must mean a handover, never a
record that took long (a broker restart mid-record). An owner that dies or pauses mid-record
does not hold the others back this long: the next owner's claim aborts its transaction."""


class Fenced(StreamAlError, RuntimeError):
    """Another worker claimed the coordinator role: this one must stop acting as coordinator
    until the group gives it the ``control`` partition again."""


class CoordinatorProducer:
    """The coordinator's transactional producer (aiokafka); :meth:`claim` before any use."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.producer: Any = None
        self.epoch = -1
        """The producer epoch of the last claim (the broker's; it rises on each claim)."""
        self.poisoned = False
        """A send failed with one of :data:`POISONING_ERRORS`: claim afresh before the next."""
        self.released = asyncio.Event()
        """Set when the current producer is released: a transaction still open on it ends
        (:meth:`_unless_released`) instead of waiting for what a closed producer never
        completes."""

    async def claim(self) -> int:
        """Take the coordinator role: a new producer of the role's transactional id; returns
        once the broker has fenced every earlier one (their open transactions are aborted)."""
        await self.release()
        producer = clients.aio_producer(
            self.kafka,
            transactional_id=transactional_id(self.kafka),
            client_id=f"{self.kafka.app_id}-coordinator",
            max_request_size=MAX_RECORD_BYTES,
            linger_ms=5,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        )
        await producer.start()
        self.producer, self.released = producer, asyncio.Event()
        try:  # begin waits for InitProducerId: the fencing; an empty transaction sends nothing
            await producer.begin_transaction()
            await producer.commit_transaction()
        except FENCED_ERRORS as e:  # another worker claimed it in the meantime
            await self.release()
            raise Fenced(f"claiming {transactional_id(self.kafka)}: {e}") from e
        # aiokafka keeps the epoch in its transaction manager only; it is reported, not used
        self.epoch = int(producer._txn_manager.producer_epoch)
        return self.epoch

    @property
    def claimed(self) -> bool:
        """Whether this worker holds a claim (released on revocation and when fenced)."""
        return self.producer is not None

    async def release(self) -> None:
        """Close the producer (no more writes from this worker until the next claim)."""
        producer, self.producer = self.producer, None
        self.released.set()
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception as e:  # a fenced or failed producer may not flush: it is dropped
                log.info("closing the coordinator's producer: %s: %s", type(e).__name__, e)

    def _claimed(self) -> Any:
        if self.producer is None:
            raise Fenced("the coordinator's producer was released (the role moved away)")
        if self.producer._txn_manager.is_fatal_error():
            cause = _sender_failure(self.producer)
            if cause is None or isinstance(cause, FENCED_ERRORS):  # it stays refused
                raise Fenced(f"{transactional_id(self.kafka)}: the broker refused this producer")
            # its sender died of the broker going away (not a fence): every later send of it
            # fails, so the next transaction claims a new one; this record is retried, not
            # skipped as another owner's (tests/reliability/test_broker_restart.py lost every
            # text after a restart to this: the worker took itself for fenced and acknowledged
            # the control records it did not act on)
            self.poisoned = True
            raise aiokafka.errors.KafkaError(
                f"{transactional_id(self.kafka)}: the producer's sender failed "
                f"({type(cause).__name__}: {cause}); claiming a new one")
        return self.producer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction (or part of the one already open): committed when the block ends,
        aborted when it raises. :class:`Fenced` when another worker claimed the role, or when
        this worker released the producer meanwhile (a step-down while a record was written:
        what it began is aborted by the next claim, or by the broker's transaction timeout)."""
        if self.poisoned and self.producer is not None:
            await self.claim()  # Fenced if another worker holds the role by now
            self.poisoned = False
        producer = self._claimed()
        if producer._txn_manager.is_in_transaction():
            yield
            return
        released = self.released
        try:
            await producer.begin_transaction()
            try:
                yield
            except BaseException as e:
                self.poisoned = self.poisoned or isinstance(e, POISONING_ERRORS)
                if released.is_set():  # the block failed because the producer closed under it
                    if isinstance(e, Exception) and not isinstance(e, Fenced):
                        raise self._gone() from e
                    raise
                if not producer._txn_manager.is_fatal_error():
                    await self._unless_released(producer.abort_transaction(), released)
                raise
            await self._unless_released(producer.commit_transaction(), released)
        except FENCED_ERRORS as e:
            raise Fenced(f"{transactional_id(self.kafka)}: {e}") from e
        except POISONING_ERRORS:
            self.poisoned = True
            raise

    async def _unless_released(self, waited: Awaitable[T], released: asyncio.Event) -> T:
        """Await a commit, an abort or the broker's acks, unless the producer is released
        first: a closed producer may never complete them (aiokafka waits on its stopped sender
        for ever; a coordinator that resumed from a pause past its session wedged its agent and
        the group's rebalance on an abort: tests/reliability/test_fencing.py)."""
        waiting = asyncio.ensure_future(waited)
        gone = asyncio.ensure_future(released.wait())
        try:
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not waiting.done():
            waiting.cancel()
            raise self._gone()
        return waiting.result()

    def _gone(self) -> Fenced:
        return Fenced(f"{transactional_id(self.kafka)}: the producer was released while a "
                      "transaction was open (the next claim aborts it)")

    async def send_many(self, topic: str, records: Iterable[tuple[str | None, Message]]) -> None:
        """Send ``(key, message)`` pairs to ``topic`` in the open transaction (or in one of
        their own) and wait until the broker has them."""
        await self.send_raw_many(topic, [(None if key is None else key.encode("utf-8"),
                                          message.to_bytes()) for key, message in records])

    async def send_raw_many(self, topic: str,
                            records: Iterable[tuple[bytes | None, bytes]]) -> None:
        """:meth:`send_many` of records already encoded: (key, value) bytes."""
        async with self.transaction():
            producer, released = self._claimed(), self.released
            try:
                futures = [await producer.send(topic, value=value, key=key)
                           for key, value in records]
                acks = await self._unless_released(
                    asyncio.gather(*futures, return_exceptions=True), released)
                failed = [r for r in acks if isinstance(r, BaseException)]
                if failed:
                    raise failed[0]
            except FENCED_ERRORS as e:
                raise Fenced(f"{transactional_id(self.kafka)}: {e}") from e


def _sender_failure(producer: Any) -> BaseException | None:
    """What ended the producer's sender task (aiokafka marks the transaction fatal with it),
    or None if it did not fail."""
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()


class FencedPublisher(Publisher):
    """The coordinator's :class:`Publisher`: the same sends, through the role's transactional
    producer instead of faust's (the scorers keep faust's)."""

    def __init__(self, kafka: KafkaSettings, metrics: Metrics,
                 producer: CoordinatorProducer) -> None:
        t = kafka.topics
        self.metrics = metrics
        self.producer = producer
        self.names = {name: getattr(t, name) for name in (
            "selected", "models", "state", "events", "deadletter", "expert", "reference")}

    async def send_many(self, topic: str, records: Iterable[tuple[str | None, Message]]) -> None:
        await self.producer.send_many(self.names[topic], records)

    async def reference(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Labelled rows for the scorers (stream/reference.py), keyed by ring slot."""
        await self.producer.send_raw_many(self.names["reference"], records)
