"""Sending records from agents: every send is awaited until the broker has it.

Agents ack their input only after their handler returns, and every handler awaits the delivery
of what it produced first, so a record is never acknowledged before its consequences are
durable (at-least-once; the consumers of each topic are idempotent on item ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiokafka.errors
import faust
import faust.exceptions
import kafka.errors

from stream_al.config import KafkaSettings
from stream_al.metrics import Metrics
from stream_al.stream.messages import (
    DeadLetter,
    DeadLetterReason,
    Event,
    ExpertRequest,
    Expiry,
    Ledger,
    Message,
    ModelUpdate,
    RollbackState,
    SelectedItem,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    aiokafka.errors.KafkaError,
    kafka.errors.KafkaError,
    faust.exceptions.ProducerSendError,
    asyncio.TimeoutError,
    ConnectionError,
)
"""Failures of the broker or of a send: not the record's fault. The record is retried and not
acknowledged; only records that are themselves bad are dead-lettered."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


async def retrying(what: str, attempt: Callable[[], Awaitable[T]],
                   count: Callable[[str], None] = lambda _: None) -> T:
    """``attempt()`` until it does not fail with an :data:`INFRASTRUCTURE_ERRORS` (backing off
    from 0.5 s to 10 s; each failure logged and ``count``-ed by its type). Other exceptions
    propagate: they are the record's."""
    wait = RETRY_FIRST_S
    while True:
        try:
            return await attempt()
        except INFRASTRUCTURE_ERRORS as e:
            count(type(e).__name__)
            log.warning("%s failed (%s: %s); retrying in %.1f s", what, type(e).__name__, e, wait)
            await asyncio.sleep(wait)
            wait = min(RETRY_MAX_S, wait * 2)


class Publisher:
    """The worker's output topics, and one awaited send per kind of record."""

    def __init__(self, app: faust.App, kafka: KafkaSettings, metrics: Metrics) -> None:
        t = kafka.topics
        self.metrics = metrics
        self.topics = {
            name: raw_topic(app, getattr(t, name))
            for name in ("control", "selected", "models", "state", "events", "deadletter",
                         "expert")
        }

    async def send_many(self, topic: str, records: Iterable[tuple[str | None, Message]]) -> None:
        """Send ``(key, message)`` pairs to ``topic`` and wait until all are written."""
        channel = self.topics[topic]
        futures = [
            await channel.send(
                key=None if key is None else key.encode("utf-8"), value=message.to_bytes()
            )
            for key, message in records
        ]
        if futures:
            await asyncio.gather(*futures)

    async def control(self, key: str, message: Message) -> None:
        await self.send_many("control", [(key, message)])

    async def selected(self, items: list[SelectedItem]) -> None:
        await self.send_many("selected", [(item.item_id, item) for item in items])

    async def ledger(self, ledger: Ledger) -> None:
        await self.send_many("state", [("ledger", ledger)])

    async def rollback(self, state: RollbackState) -> None:
        await self.send_many("state", [("rollback", state)])

    async def expiries(self, expiries: list[Expiry]) -> None:
        await self.send_many("state", [(f"expired/{x.item_id}", x) for x in expiries])

    async def expert_requests(self, requests: list[ExpertRequest]) -> None:
        await self.send_many("expert", [(r.item_id, r) for r in requests])

    async def event(self, event: Event) -> None:
        await self.send_many("events", [(event.kind, event)])

    async def model(self, update: ModelUpdate) -> None:
        await self.send_many("models", [("current", update)])

    async def dead_letter(
        self, stage: str, raw: bytes, reason: DeadLetterReason, message: Any = None, topic: str = ""
    ) -> None:
        """Dead-letter ``raw`` (from faust ``message`` if given: topic, partition, offset, key)."""
        letter = DeadLetter.of(
            raw,
            reason,
            topic=getattr(message, "topic", topic),
            partition=getattr(message, "partition", -1),
            offset=getattr(message, "offset", -1),
            key=getattr(message, "key", None),
        )
        await self.send_many("deadletter", [(letter.key, letter)])
        self.metrics.count_dead_letters(stage, reason.reason)


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    """A faust topic (of one or more names) of undecoded bytes: we validate payloads ourselves
    (messages.parse)."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw")
