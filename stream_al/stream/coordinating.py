"""The shell around :class:`Coordinator` on the worker that holds the ``control`` partition.

It rebuilds the coordinator from the topics when it gets the partition, feeds it control
records in offset order, publishes what it returns (selected items, then the ledger; model
updates; dead letters; expiries), and runs the periodic chores: publishing the last model,
expiring late selections, and spending the budget on held items when the stream goes idle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from stream_al.config import Settings
from stream_al.embed.base import Embedder
from stream_al.loop.cadence import Cadence
from stream_al.loop.coordinator import Coordinator, LabelOutcome
from stream_al.loop.records import ModelRelease, Purchase
from stream_al.metrics import Metrics
from stream_al.registry import ModelRegistry
from stream_al.stream import conversion
from stream_al.stream.admission import Admission
from stream_al.stream.messages import (
    CONTROL,
    DeadLetterReason,
    Event,
    Expiry,
    LabelIn,
    LabelsRecord,
    RollbackRecord,
    ScoredBatchRecord,
    parse,
)
from stream_al.stream.publish import INFRASTRUCTURE_ERRORS, Publisher, retrying
from stream_al.stream.rebuild import read_state
from stream_al.stream.registering import Registrar, Registration, registry_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPIRE_EVERY_S = 1.0
RETRY_S = 2.0


class CoordinatorShell:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        publisher: Publisher,
        metrics: Metrics,
        strategy: str | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.publisher = publisher
        self.metrics = metrics
        self.strategy = strategy
        self.coordinator: Coordinator | None = None
        self.lock = asyncio.Lock()
        self.holds_control = False
        self._expiries = Cadence(EXPIRE_EVERY_S)
        self.admission = Admission(settings)
        self.registrar: Registrar | None = None
        if settings.registry.enabled:
            registry = ModelRegistry(registry_dir(settings), settings.registry.keep_snapshots)
            self.registrar = Registrar(registry, metrics.count_registry)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking core work off the event loop (heartbeats and fetches go on)."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # ---- partition ownership ------------------------------------------------------------------
    async def assigned(self, holds_control: bool) -> None:
        """After a rebalance: keep the coordinator only if the partition stayed with us (the
        next chores build it if we just got the partition)."""
        self.holds_control = holds_control
        if not holds_control:
            async with self.lock:
                if self.coordinator is not None:
                    log.info("control partition moved away: dropping the coordinator")
                self.coordinator = None
                self.metrics.release_coordinator()  # its budget gauges are another's now

    async def _coordinator(self) -> Coordinator:
        while self.coordinator is None:
            try:
                await self._rebuild()
            except Exception:  # Kafka unreachable, a topic being created: try again
                log.exception("rebuilding the coordinator failed; retrying in %ss", RETRY_S)
                await asyncio.sleep(RETRY_S)
        return self.coordinator

    async def _rebuild(self) -> None:
        started = time.perf_counter()
        state = await self._run(read_state, self.settings.kafka)
        self.admission = Admission(self.settings)  # refused live, refused after a rebuild
        state.labels = self.admission.replay_many(state.labels, state.label_times)
        c = Coordinator(self.settings, self.embedder.dim, self.embedder, self.strategy)
        restored = await self._run(
            c.restore,
            conversion.purchases(state.selected),
            state.expired,
            conversion.labels_of_many(state.labels),
            conversion.budget_ledger(state.ledger),
            state.model_version,
            time.time(),
            conversion.rollback_in_force(state.rollback),
        )
        c.governance.resume_temperature(c.learner, state.temperature)
        self.metrics.set_temperature(c.learner.temperature)
        detail = {**dataclasses.asdict(restored), "seconds": time.perf_counter() - started}
        log.info("coordinator rebuilt from the topics: %s", detail)
        await self.publisher.event(
            Event(schema_version=1, kind="restored", at=time.time(), detail=detail)
        )
        update = c.model_update(time.time(), force=True)
        if update is not None:
            await self.publisher.model(conversion.model_update(update))
            self._register(c, update)
        self.coordinator = c
        self._report_budget(c)

    # ---- control records ----------------------------------------------------------------------
    async def handle(self, event: Any) -> None:
        """One control record; an unexpected error of the record's own dead-letters it (the next
        one goes on). The broker failing is not the record's fault: what was durable is on the
        topics, so the coordinator is rebuilt from them and the record is done again (not
        acknowledged meanwhile)."""
        while True:
            try:
                await self._handle(event)
                return
            except INFRASTRUCTURE_ERRORS as e:
                self.metrics.count_error("select", type(e).__name__)
                log.warning("control record at offset %s: %s: %s; rebuilding and retrying in "
                            "%ss", event.message.offset, type(e).__name__, e, RETRY_S)
                self.coordinator = None
                await asyncio.sleep(RETRY_S)
            except Exception as e:
                await self._bad_record(event, e)
                return

    async def _bad_record(self, event: Any, e: Exception) -> None:
        log.error("control record at offset %s failed", event.message.offset, exc_info=e)
        self.metrics.count_error("select", type(e).__name__)
        reason = DeadLetterReason("processing_error", f"{type(e).__name__}: {e}")
        await retrying("dead-lettering a control record", lambda: self.publisher.dead_letter(
            "select", event.message.value or b"", reason, event.message))

    async def _handle(self, event: Any) -> None:
        message = event.message
        async with self.lock:
            c = await self._coordinator()
            record = parse(CONTROL, message.value)
            if isinstance(record, DeadLetterReason):
                await self.publisher.dead_letter("select", message.value or b"", record, message)
            elif isinstance(record, ScoredBatchRecord):
                await self._scored(c, record, message.offset)
            elif isinstance(record, LabelsRecord):
                await self._labels(c, record, message.offset)
            elif isinstance(record, RollbackRecord):
                await self._rollback(c, record, message.offset)

    async def _scored(self, c: Coordinator, record: ScoredBatchRecord, offset: int) -> None:
        started = time.perf_counter()
        items = await self._run(c.on_scored, conversion.scored_texts(record), offset, time.time())
        texts = sum(s[3] for s in record.spans) if record.spans else len(record.ids)  # candidates
        self.metrics.observe_stage("select", texts, len(items), time.perf_counter() - started)
        self.metrics.observe_batch("select", texts)
        await self._emit(c, items)
        await self._health(c)

    async def _emit(self, c: Coordinator, items: list[Purchase]) -> None:
        """Selected items first, then the ledger that counts them: after a crash in between,
        ``spent`` is rebuilt from what is on ``selected``, so it never undercounts."""
        started = time.perf_counter()
        await self.publisher.selected(conversion.selected_items(items))
        await self.publisher.ledger(conversion.ledger(c.ledger(time.time())))
        if items:
            self.metrics.observe_stage(
                "vendor_out", len(items), len(items), time.perf_counter() - started
            )
            self.metrics.observe_batch("vendor_out", len(items))
        for item in items:
            self.metrics.count_selected(item.strategy, item.reason)
        self._report_budget(c)

    # ---- admission (stream/admission.py): the caps, in the shell, before the coordinator ----
    async def _admit(self, c: Coordinator, record: LabelsRecord) -> LabelsRecord:
        """``record`` without the labels over the class cap or the annotators-per-item cap;
        those are dead-lettered one by one (with a ``class_cap`` event for new classes)."""
        admitted = self.admission.admit(record, set(c.learner.classes), time.time())
        where = record.where()
        for label, reason in admitted.refused:
            await self.publisher.dead_letter("learn", label.to_bytes(), reason,
                                             where.get(id(label)),
                                             topic=self.settings.kafka.topics.labels)
        if capped := admitted.class_capped:
            await self.publisher.event(Event(
                schema_version=1, kind="class_cap", at=time.time(),
                item_ids=[x.item_id for x in capped],
                detail={"refused": len(capped), "per_hour": self.admission.classes.per_hour,
                        "classes": sorted({x.label[:40] for x in capped})[:20]}))
        return admitted.record

    async def _changed_answers(self, duplicates: list[LabelIn]) -> None:
        """A second, different answer of an annotator is an ``answer_changed`` event; the
        policy is first answer wins (the second is not learned)."""
        first = self.admission.items.first_answer
        changed = [(x, was) for x in duplicates
                   if (was := first(x.item_id, x.annotator_id)) not in (None, x.label)]
        if changed:
            await self.publisher.event(Event(
                schema_version=1, kind="answer_changed", at=time.time(),
                item_ids=[x.item_id for x, _ in changed],
                detail={"policy": "first answer wins", "changes": [
                    {"item_id": x.item_id, "annotator_id": x.annotator_id, "kept": was,
                     "dropped": x.label} for x, was in changed[:100]]}))

    async def _labels(self, c: Coordinator, record: LabelsRecord, offset: int) -> None:
        record = await self._admit(c, record)
        started = time.perf_counter()
        labels = conversion.labels_of(record)
        read_at = record.where()  # unknown_item and the like keep the label's topic and offset
        where = {id(d): read_at.get(id(x)) for d, x in zip(labels, record.labels, strict=True)}
        outcome: LabelOutcome = await self._run(c.on_labels, labels, offset, time.time())
        self.admission.accepted_many(outcome.accepted)
        await self._changed_answers(outcome.duplicates)
        self.metrics.observe_stage(
            "learn", len(record.labels), len(outcome.accepted), time.perf_counter() - started
        )
        self.metrics.observe_batch("learn", len(record.labels))
        for label, reason in outcome.rejected:
            self.metrics.count_label("rejected", annotator=label.annotator_id)
            await self.publisher.dead_letter(
                "learn", conversion.label_in(label).to_bytes(),
                conversion.dead_letter_reason(reason), where.get(id(label)),
                topic=self.settings.kafka.topics.labels,
            )
        for label in outcome.duplicates:
            self.metrics.count_label("duplicate", annotator=label.annotator_id)
        for stored in outcome.accepted:
            self.metrics.count_label(
                "accepted", label_class=stored.label, annotator=stored.annotator_id
            )
        if outcome.correct:
            self.metrics.set_prequential_accuracy(c.prequential_accuracy)
            self.metrics.set_calibration_error(c.calibration_error)
            self.metrics.set_temperature(c.learner.temperature)
        if outcome.accepted:
            self.metrics.set_agreement(await self._run(c.agreement_alpha))
        self._report_budget(c)  # the rewards moved the bandit's weights
        await self._health(c)
        await self._annotation(c)
        await self._publish_model(c, force=False)

    async def _annotation(self, c: Coordinator) -> None:
        """Expert requests to the expert topic, suspicious labels and changed verdicts as
        events, annotator accuracy on gold as gauges (stream_al/loop/annotating.py)."""
        out = c.annotating.take_outbox()
        if out.requests:
            await self.publisher.expert_requests(conversion.expert_requests(out.requests))
        now = time.time()
        if out.suspicions:
            await self.publisher.event(Event(
                schema_version=1, kind="suspicious_labels", at=now,
                item_ids=[s.item_id for s in out.suspicions],
                detail={s.item_id: dataclasses.asdict(s) for s in out.suspicions}))
        if out.changed:
            await self.publisher.event(Event(
                schema_version=1, kind="verdicts_changed", at=now,
                item_ids=[x.item_id for x in out.changed],
                detail={x.item_id: dataclasses.asdict(x) for x in out.changed}))
        for annotator, accuracy in c.annotating.gold_accuracy().items():
            self.metrics.set_annotator_accuracy(annotator, accuracy)

    async def _rollback(self, c: Coordinator, record: RollbackRecord, offset: int) -> None:
        """The rollback in force first (a rebuild honours it), then the model, the ledger
        (this control offset is done) and an event for operators."""
        state = await self._run(c.on_rollback, conversion.rollback_command(record), offset,
                                time.time())
        if state is not None:
            await self.publisher.rollback(conversion.rollback_state(state))
            await self._publish_model(c, force=True)
            self.metrics.set_temperature(c.learner.temperature)
        await self.publisher.ledger(conversion.ledger(c.ledger(time.time())))
        detail = {"registry_version": record.registry_version,
                  "model_version": record.model_version, "command_id": record.command_id,
                  "applied": state is not None}
        if state is not None:
            detail |= {"version": state.version, "excluded_labels": len(state.excluded),
                       "learned_labels": len(c.learned)}
        log.info("rollback: %s", detail)
        await self.publisher.event(Event(schema_version=1, kind="rollback", at=time.time(),
                                         detail=detail))

    async def _health(self, c: Coordinator) -> None:
        """Drift alarms become events and counters; drift scores and OOD rate, gauges."""
        for alarm in c.take_alarms():
            self.metrics.count_drift_alarm(alarm.detector)
            await self.publisher.event(Event(
                schema_version=1, kind="drift_alarm", at=time.time(),
                detail={"detector": alarm.detector, "score": alarm.score,
                        "threshold": alarm.threshold, "position": alarm.position},
            ))
        for detector, score in c.health.scores().items():
            self.metrics.set_drift_score(detector, score)
        self.metrics.set_ood_ratio(c.health.ood_ratio)

    async def _publish_model(self, c: Coordinator, force: bool) -> None:
        update = c.model_update(time.time(), force=force)
        if update is not None:
            await self.publisher.model(conversion.model_update(update))
            self._register(c, update)

    def _register(self, c: Coordinator, update: ModelRelease) -> None:
        """Hand the model just published to the registrar (its own thread)."""
        if self.registrar is None:
            return
        figures = {"accuracy": c.prequential_accuracy, "ece": c.calibration_error,
                   "temperature": c.learner.temperature}
        note = ""
        if c.rollback is not None and c.rollback.version == update.version:
            note = (f"rollback to registry version {c.rollback.registry_version} "
                    f"(model version {c.rollback.model_version})")
        self.registrar.submit(Registration(
            c.learner.snapshot(), c.learned.copy(),
            {k: v for k, v in figures.items() if math.isfinite(v)}, update.labels_hash, note,
        ))

    # ---- chores -------------------------------------------------------------------------------
    async def chores(self) -> None:
        """Every few hundred ms: rebuild if we just got the partition, last model out,
        expiries, idle flush."""
        if self.coordinator is None and not self.holds_control:
            return
        try:
            await self._chores()
        except INFRASTRUCTURE_ERRORS:  # a flush or a model half sent: rebuild from the topics
            self.coordinator = None
            raise

    async def _chores(self) -> None:
        async with self.lock:
            if not self.holds_control and self.coordinator is None:
                return
            c = await self._coordinator()
            now = time.time()
            await self._publish_model(c, force=True)  # model_update rate-limits by version
            if self._expiries.due(now):
                self._expiries.mark(now)
                await self._expire(c, now)
            if c.idle.due(now):
                items = c.flush(now)
                if items:
                    await self._emit(c, items)

    async def _expire(self, c: Coordinator, now: float) -> None:
        expired = c.expire(now)
        await self._annotation(c)  # items settled at their deadline
        if not expired:
            return
        await self.publisher.expiries(
            [Expiry(schema_version=1, item_id=s.item_id, cost=s.cost, at=now) for s in expired]
        )
        await self.publisher.ledger(conversion.ledger(c.ledger(now)))
        await self.publisher.event(
            Event(schema_version=1, kind="expired", at=now, item_ids=[s.item_id for s in expired])
        )
        self._report_budget(c)

    def _report_budget(self, c: Coordinator) -> None:
        b = c.stage.budget
        spent, left = b.spent + c.governance.debt, max(0.0, b.allowance)
        self.metrics.set_budget(spent, left, limit=b.spent + b.allowance
                                + self.settings.drift.max_credit, unit=self.settings.cost.unit,
                                spent_cost=c.pricing.units(spent),
                                remaining_cost=c.pricing.units(left))  # minutes or money
        parts = _selector_parts(c.stage.selector)
        reservoirs = [p for p in parts if hasattr(p, "fill") and hasattr(p, "capacity")]
        if reservoirs:
            self.metrics.set_reservoir(
                sum(r.fill for r in reservoirs),
                sum(r.capacity for r in reservoirs),
                sum(getattr(r, "held_clusters", 0) for r in reservoirs),
            )
        for part in parts:
            if hasattr(part, "weights"):
                self.metrics.set_bandit_weights(part.weights())
            detector = getattr(part, "detector", None)  # stream_al.ood.OODSelector
            if detector is not None:
                self.metrics.set_ood_ratio(detector.recent_ratio)


def _selector_parts(selector: Any) -> list[Any]:
    """``selector`` and every selector inside it: a bandit's arms, a wrapper's ``base``."""
    parts, todo = [], [selector]
    while todo:
        part = todo.pop()
        parts.append(part)
        todo.extend(getattr(part, "arms", {}).values())
        if getattr(part, "base", None) is not None:
            todo.append(part.base)
    return parts
