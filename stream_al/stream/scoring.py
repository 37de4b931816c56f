"""What every worker runs on its share of the partitions: scoring texts, checking labels, and
following the model topic so scorers use each new version without a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from aiokafka import TopicPartition

from stream_al.config import KafkaSettings
from stream_al.embed.base import Embedder, parallel_calls
from stream_al.embed.precision import Precision
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.candidates import Forwarding
from stream_al.loop.records import ScoredTexts
from stream_al.metrics import Metrics
from stream_al.score.batch import score_many
from stream_al.stream import access, clients
from stream_al.stream.messages import (
    DeadLetterReason,
    Envelope,
    Event,
    LabelIn,
    LabelsRecord,
    ModelUpdate,
    ScoredBatchRecord,
    SnapshotError,
    TextIn,
    parse,
)
from stream_al.stream.publish import Publisher, retrying
from stream_al.stream.reader import Then
from stream_al.stream.rebuild import LAST_RECORDS
from stream_al.stream.reference import parse_row
from stream_al.stream.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embedded:
    """A batch's first phase: its texts, their (partition, offset) and their embeddings."""

    texts: list[TextIn]
    sources: list[tuple[int, int]]
    X: np.ndarray


class ModelHolder:
    """The snapshot scorers use. Replaced whole, never mutated, so a swap is atomic."""

    def __init__(self, dim: int) -> None:
        self.snapshot = ModelSnapshot.empty(dim)

    def offer(self, snapshot: ModelSnapshot) -> bool:
        """Use ``snapshot`` if it is newer than the current one."""
        if snapshot.version <= self.snapshot.version:
            return False
        self.snapshot = snapshot
        return True


class ScoringShell:
    """Handlers for the texts and labels readers and the model-following task."""

    def __init__(
        self, kafka: KafkaSettings, embedder: Embedder, publisher: Publisher, metrics: Metrics,
        forwarding: Forwarding | None = None, precision: Precision = "float32",
        envelope: Envelope = "json",
    ) -> None:
        self.kafka = kafka
        self.forwarding = forwarding
        """With ``scale.preselect``: only candidates go to ``control`` (loop/candidates.py)."""
        self.precision = precision
        self.envelope = envelope
        """How scored batches are written on ``control`` (stream/envelope.py)."""
        self.embedder = embedder
        self.publisher = publisher
        self.metrics = metrics
        self.models = ModelHolder(embedder.dim)
        self._name = f"{socket.gethostname()}-{os.getpid()}"
        self._batches = 0
        self._embedding = ThreadPoolExecutor(
            max_workers=parallel_calls(embedder), thread_name_prefix="embed"
        )
        """Embedding off the event loop; one call at a time unless the embedder has threads of
        its own to keep busy (a second call would otherwise only compete for the cores)."""

    # ---- texts --------------------------------------------------------------------------------
    async def score(self, records: Sequence) -> Then | None:
        """Parse and embed one batch of ``texts`` records (anything with ``value``, ``topic``,
        ``partition``, ``offset`` and ``key``); return the second phase, which scores the batch
        with the newest model and sends one record to ``control``. The reader runs the next
        batch's embedding while this second phase runs (stream_al.stream.reader)."""
        try:  # the broker failing is retried; an error of the batch's own is not
            embedded = await retrying("embedding a batch of texts",
                                      lambda: self._embed(records), self._count)
        except Exception as e:
            return await self._bad_batch(records, e)
        if embedded is None:
            return None

        async def send() -> None:
            try:
                await retrying("sending a scored batch", lambda: self._send(embedded), self._count)
            except Exception as e:
                then = await self._bad_batch(records, e)
                if then is not None:
                    await then()

        return send

    def _count(self, kind: str) -> None:
        self.metrics.count_error("score", kind)

    async def _bad_batch(self, records: Sequence, e: Exception) -> Then | None:
        """A batch failed for a reason of its own: a record alone is dead-lettered; a larger
        batch is handled again one record at a time, so a bad record never takes the good
        records of its batch with it."""
        if len(records) <= 1:
            await retrying("dead-lettering a text", lambda: self._failed(records, e), self._count)
            return None
        log.warning("a batch of %d texts failed (%s: %s); handling them one by one",
                    len(records), type(e).__name__, e)
        self._count(type(e).__name__)

        async def one_by_one() -> None:
            for record in records:
                then = await self.score([record])
                if then is not None:
                    await then()

        return one_by_one

    async def _failed(self, records: Sequence, e: Exception) -> None:
        log.exception("scoring a batch of %d texts failed", len(records), exc_info=e)
        self.metrics.count_error("score", type(e).__name__)
        reason = DeadLetterReason("processing_error", f"{type(e).__name__}: {e}")
        for record in records:
            await self.publisher.dead_letter("embed", record.value or b"", reason, record)

    async def _embed(self, records: Sequence) -> Embedded | None:
        texts: list[TextIn] = []
        sources: list[tuple[int, int]] = []  # (partition, offset): redeliveries are not recounted
        seen: set[str] = set()
        for record in records:
            parsed = parse(TextIn, record.value, self.kafka.max_text_bytes)
            if isinstance(parsed, DeadLetterReason):
                await self.publisher.dead_letter("embed", record.value or b"", parsed, record)
            elif parsed.id not in seen:  # the same id twice in a batch: once is enough
                seen.add(parsed.id)
                texts.append(parsed)
                sources.append((record.partition, record.offset))
        if not texts:
            return None
        await self._report_cuts(texts)
        X, seconds = await asyncio.get_running_loop().run_in_executor(
            self._embedding, self._timed_embed, [t.text for t in texts]
        )
        self.metrics.observe_stage("embed", len(texts), len(texts), seconds)
        return Embedded(texts, sources, X)

    def _timed_embed(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """Embeddings and the seconds they took (not the wait behind the batch before; with
        calls that overlap, the time shared with the call before counts in both)."""
        started = time.perf_counter()
        X = self.embedder.embed(texts)
        return X, time.perf_counter() - started

    async def _send(self, embedded: Embedded) -> None:
        started = time.perf_counter()
        texts = embedded.texts
        snapshot = self.models.snapshot
        scores = score_many(snapshot, embedded.X)
        self._batches += 1
        scored = ScoredTexts(f"{self._name}-{self._batches}", [t.id for t in texts],
                             [t.text for t in texts], embedded.X, scores, snapshot.version,
                             [p for p, _ in embedded.sources], [o for _, o in embedded.sources])
        if self.forwarding is not None:
            scored = self.forwarding.candidates_of(scored)
        record = ScoredBatchRecord.of(
            scored.batch_id, scored.ids, scored.texts, scored.X, scored.scores,
            scored.model_version, np.ones(len(scored.ids), dtype=np.float32), time.time(),
            list(zip(scored.partitions, scored.offsets, strict=True)),
            precision=self.precision, weights=scored.weights,
            spans=[(s.partition, s.first, s.last, s.count) for s in scored.spans],
            envelope=self.envelope, drift=scored.drift,
        )
        scored = time.perf_counter()
        await self.publisher.control(record.batch_id, record)
        n = len(texts)
        self.metrics.observe_stage("score", n, n, scored - started)
        self.metrics.observe_batch("score", n)

    async def _report_cuts(self, texts: list[TextIn]) -> None:
        """One ``truncated`` event for the texts of a batch cut to ``kafka.max_text_bytes``."""
        cut = {t.id: t.metadata.get("original_bytes") for t in texts if t.metadata.get("truncated")}
        if cut:
            detail = {"original_bytes": cut, "max_text_bytes": self.kafka.max_text_bytes}
            await self.publisher.event(
                Event(
                    schema_version=1,
                    kind="truncated",
                    at=time.time(),
                    item_ids=list(cut),
                    detail=detail,
                )
            )

    # ---- labels -------------------------------------------------------------------------------
    async def labels_in(self, records: Sequence) -> None:
        """Validate one batch of vendor labels (records with ``value``, ``topic``,
        ``partition`` and ``offset``); forward the valid ones to ``control``. The broker
        failing is retried; a batch that fails on its own is done again label by label, and
        only a label that fails alone is dead-lettered."""
        def count(kind: str) -> None:
            self.metrics.count_error("labels_in", kind)

        try:
            await retrying("forwarding labels", lambda: self._labels_in(records), count)
        except Exception as e:
            count(type(e).__name__)
            if len(records) > 1:
                log.warning("a batch of %d labels failed (%s); one by one", len(records), e)
                for record in records:
                    await self.labels_in([record])
                return
            log.exception("forwarding a label failed")
            reason = DeadLetterReason("processing_error", f"{type(e).__name__}: {e}")
            await retrying("dead-lettering a label", lambda: self.publisher.dead_letter(
                "labels_in", records[0].value or b"", reason, records[0]), count)

    async def _labels_in(self, records: Sequence) -> None:
        started = time.perf_counter()
        labels: list[LabelIn] = []
        sources: list[tuple[str, int, int]] = []
        topics = self.kafka.topics
        for m in records:
            parsed = parse(LabelIn, m.value)
            if isinstance(parsed, LabelIn):  # the vendor is the topic it could write
                parsed = access.attribute_one(parsed, m.topic, topics)
            if isinstance(parsed, DeadLetterReason):
                await self.publisher.dead_letter("labels_in", m.value or b"", parsed, m)
            else:
                labels.append(parsed)
                sources.append((m.topic, m.partition, m.offset))
        if labels:
            now = time.time()
            record = LabelsRecord(schema_version=1, labels=labels, received_at=[now] * len(labels),
                                  sources=sources)
            await self.publisher.control(f"labels-{labels[0].item_id}", record)
        self.metrics.observe_stage(
            "labels_in", len(records), len(labels), time.perf_counter() - started
        )
        self.metrics.observe_batch("labels_in", len(records))

    # ---- models -------------------------------------------------------------------------------
    async def follow_models(self) -> None:
        """Read the models topic from its last record on, forever; swap in each newer version."""
        k = self.kafka
        tp = TopicPartition(k.topics.models, 0)
        consumer = clients.aio_consumer(
            k,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{k.app_id}-models",
            **clients.FROM_START,
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=MAX_RECORD_BYTES,
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            start = (await consumer.beginning_offsets([tp]))[tp]
            if end > start:  # the last model: before its transaction's commit marker
                consumer.seek(tp, max(start, end - LAST_RECORDS))
            else:
                await consumer.seek_to_beginning(tp)
            loaded = False
            while True:
                if not loaded and (end <= start or await consumer.position(tp) >= end):
                    loaded = True  # the newest model at start is in use: /readyz
                    self.metrics.readiness.mark("model_loaded")
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:  # the model already there at start: no latency
                        refused = self.use_model(record.value, observe=record.offset >= end)
                        if refused is not None:  # a stray producer's: count it, follow on
                            log.warning("unusable model update: %s", refused)
                            await self.publisher.dead_letter(
                                "score", record.value or b"", refused, record
                            )
        finally:
            await consumer.stop()

    # ---- labelled rows (scale.ood_at_scorers) ------------------------------------------------
    async def follow_reference(self) -> None:
        """Read the ``reference`` topic from its beginning, then follow it: every labelled row
        the coordinator sends goes, in offset order, to the forwarding's OOD check
        (stream/reference.py). Marks ``reference_loaded`` once it read up to the end the topic
        had at start."""
        k = self.kafka
        tp = TopicPartition(k.topics.reference, 0)
        consumer = clients.aio_consumer(k, group_id=None, enable_auto_commit=False,
                                        **clients.FROM_START,
                                        client_id=f"{k.app_id}-reference")
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            await consumer.seek_to_beginning(tp)
            loaded = False
            while True:
                if not loaded and await consumer.position(tp) >= end:
                    loaded = True  # every row there at start is in the check: /readyz
                    self.metrics.readiness.mark("reference_loaded")
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    await self.reference_in(records)
        finally:
            await consumer.stop()

    async def reference_in(self, records: Sequence) -> None:
        """Rows of ``reference`` records (with ``key``, ``value``, ``topic``, ``partition``,
        ``offset``) into the OOD check, in their order; a bad record is dead-lettered."""
        rows = []
        for record in records:
            parsed = parse_row(record.key, record.value)
            if isinstance(parsed, DeadLetterReason):
                log.warning("unusable reference row: %s", parsed)
                await self.publisher.dead_letter("score", record.value or b"", parsed, record)
            else:
                rows.append(parsed.row)
        if rows and self.forwarding is not None:
            self.forwarding.labelled_many(np.stack(rows))

    def use_model(self, raw: bytes | None, observe: bool = True) -> DeadLetterReason | None:
        """Swap in the model in ``raw`` if newer; ``observe`` its labels' label-to-model time.
        Returns why ``raw`` cannot be used, if it cannot."""
        update = parse(ModelUpdate, raw)
        if isinstance(update, DeadLetterReason):
            return update
        if update.version <= self.models.snapshot.version:
            return None
        try:
            snapshot = update.to_snapshot(self.embedder.dim)
        except SnapshotError as e:  # valid JSON around weights that are not a usable model
            return DeadLetterReason("implausible", f"snapshot: {e}")
        if self.models.offer(snapshot):
            now = time.time()
            self.metrics.set_model_version(update.version)
            if observe:
                self.metrics.observe_label_to_model(
                    max(0.0, now - t) for t in update.label_received_at
                )
        return None
