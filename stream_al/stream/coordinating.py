"""The shell around :class:`Coordinator` on the worker that holds the ``control`` partition.

It rebuilds the coordinator from the topics when it gets the partition, feeds it control
records in offset order, publishes what it returns (selected items, then the ledger; model
updates; dead letters; expiries), and runs the periodic chores: publishing the last model,
expiring late selections, and spending the budget on held items when the stream goes idle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from stream_al.config import Settings
from stream_al.embed.base import Embedder
from stream_al.learn.regularisation import SearchResult, SearchTask
from stream_al.loop.cadence import Cadence
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.ownership import ACT, WAIT, Ownership, continues
from stream_al.loop.purchases import Purchases
from stream_al.loop.records import LabelOutcome, ModelRelease
from stream_al.metrics import Metrics
from stream_al.registry import ModelRegistry
from stream_al.runtime import settle_heap
from stream_al.stream import commands, conversion, reference, resuming
from stream_al.stream.admission import Admission
from stream_al.stream.checkpoint import Checkpoints, Prepared
from stream_al.stream.command_relay import CommandRelay
from stream_al.stream.fencing import CoordinatorProducer, Fenced, FencedPublisher
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
from stream_al.stream.pacing import report_pacing
from stream_al.stream.publish import INFRASTRUCTURE_ERRORS, retrying
from stream_al.stream.rebuild import TopicState
from stream_al.stream.registering import Registrar, Registration, registry_dir
from stream_al.stream.searching import SearchProcess

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPIRE_EVERY_S = 1.0
RELAY_EVERY_S = 1.0
RETRY_S = 2.0
FENCED_PATIENCE_S = 30.0
"""A fenced owner waits this long for the group to move the partition (loop/ownership.py);
three times the session timeout (stream/app.py)."""
STALL_S = 11.0
"""A frozen event loop this long outlived the group session (10 s, heartbeats every 1 s,
stream/app.py): the group has dropped this worker (loop/ownership.py, ``tick``)."""
HOLD_POLL_S = 1.0
"""How often a fenced owner holding a record looks whether the group dropped it (its heartbeat
interval, stream/app.py) or its patience ran out."""
REVOKE_WAIT_S = 5.0
"""On revocation, how long the record in hand may take to finish before the producer closes."""


class CoordinatorShell:
    """The worker's shell around the coordinator: it takes the whole :class:`Settings`
    because it builds a :class:`Coordinator` (the core's composition root) each time it gets
    the ``control`` partition; its own parts get only theirs (``kafka``, ``registry``,
    ``annotation.max_annotators``)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        metrics: Metrics,
        strategy: str | None = None,
        in_group: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.in_group = in_group
        """Whether the consumer group still counts this worker a member
        (stream/membership.py): a dropped worker's commits are refused, so a record it leaves
        is read again."""
        self.embedder = embedder
        self.producer = CoordinatorProducer(settings.kafka)  # fences the role (stream/fencing.py)
        self.publisher = FencedPublisher(settings.kafka, metrics, self.producer)
        self.metrics = metrics
        self.strategy = strategy
        self.coordinator: Coordinator | None = None
        self.lock = asyncio.Lock()
        self.ownership = Ownership(patience_s=FENCED_PATIENCE_S, stall_s=STALL_S)
        self._expiries = Cadence(EXPIRE_EVERY_S)
        self.relay = CommandRelay(settings.kafka)  # the operator's commands onto control
        self._relays = Cadence(RELAY_EVERY_S)
        self.admission = self._admission()
        self.checkpoints = Checkpoints(settings.checkpoint, settings.kafka, self._image)
        self._preparing: asyncio.Future[Prepared] | None = None
        """The next checkpoint, prepared off the lock (stream/checkpoint.py); None: none."""
        self.searches = SearchProcess() if settings.learner.search_process else None
        """Runs the learner's searches for l2 apart (stream/searching.py); None: in its refits."""
        self._searching: set[asyncio.Future[None]] = set()
        """Searches on their way (:meth:`_search_out`)."""
        self.registrar: Registrar | None = None
        if settings.registry.enabled:
            registry = ModelRegistry(registry_dir(settings.registry, settings.kafka), settings.registry.keep_snapshots)
            self.registrar = Registrar(registry, metrics.count_registry)

    def _admission(self) -> Admission:
        """The caps on labels (``kafka``'s class cap, ``annotation.max_annotators``)."""
        return Admission(self.settings.kafka, self.settings.annotation.max_annotators)

    def _fresh(self) -> Coordinator:
        return Coordinator(self.settings, self.embedder.dim, self.embedder, self.strategy,
                           search_apart=self.searches is not None)

    def _image(self, state: TopicState, records: Callable[[], TopicState]) -> bytes | None:
        """The image a checkpoint holds (format 3, stream/resuming.py): of a rebuild from
        ``state`` (the last image and the records since, or every record), off the lock, in a
        thread."""
        return resuming.image_bytes(resuming.rebuilt(self._fresh, self._admission, state,
                                                     records, time.time(), image_only=True),
                                    state)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking core work off the event loop (heartbeats and fetches go on)."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # ---- partition ownership ------------------------------------------------------------------
    async def assigned(self, holds_control: bool) -> None:
        """After a rebalance: keep the coordinator only if the partition stayed with us (the
        next chores build it if we just got the partition)."""
        self.ownership.assigned(holds_control)
        if not holds_control:
            async with self.lock:
                await self._step_down("control partition moved away")
            await self._run(self.relay.close)  # whoever holds control next relays from the commit

    async def revoked(self) -> None:
        """The group takes the control partition back: stop acting (records and chores check
        :attr:`ownership`) before anyone else starts; a chore in progress may finish for
        :data:`REVOKE_WAIT_S`, then the producer closes. The coordinator is kept in case the
        partition comes back: it is used again only if nobody claimed the role meanwhile
        (:meth:`_reclaim`)."""
        self.ownership.revoked()
        try:
            await asyncio.wait_for(self.lock.acquire(), REVOKE_WAIT_S)
        except TimeoutError:  # a chore stuck on the broker: the next owner's claim fences it
            log.warning("a chore still runs %ss after the revocation", REVOKE_WAIT_S)
            await self.producer.release()
            return
        try:
            await self.producer.release()
        finally:
            self.lock.release()

    async def tick(self) -> None:
        """The event loop is alive (called often, and first by records and chores): after a
        stall past the session, stop acting until the next assignment."""
        if self.ownership.tick(time.time()) and self.ownership.fenced_at is not None:
            log.warning("the process was frozen past the group session: not acting as "
                        "coordinator until the next assignment")
            self.metrics.count_error("select", "Stalled")
            await self._step_down("stalled")

    async def _step_down(self, why: str) -> None:
        if self.coordinator is not None:
            log.info("%s: dropping the coordinator", why)
        self.coordinator = None
        self.metrics.release_coordinator()  # its budget gauges are another's now
        await self.producer.release()

    async def _fenced(self, e: Fenced) -> None:
        """Another worker claimed the role: stop until the group's next assignment (its
        next heartbeat brings it; loop/ownership.py)."""
        log.warning("fenced: %s; not acting as coordinator until the next assignment", e)
        self.metrics.count_error("select", "Fenced")
        self.ownership.fenced(time.time())
        await self._step_down("fenced")

    async def _ours(self) -> bool:
        """Whether to act on the control record in hand (False: leave it to its next owner).
        A fenced owner whose partition is still its own holds the record, unacknowledged,
        until the group drops it or moves the partition, or its patience runs out
        (loop/ownership.py, ``turn``): acknowledged unacted, the record would be lost."""
        held = False
        while (turn := self.ownership.turn(time.time(), self.in_group)) == WAIT:
            if not held:
                log.warning("fenced while the control partition is still ours: holding the "
                            "record until the group moves it or the fence proves no handover")
                held = True
            await asyncio.sleep(min(HOLD_POLL_S, self.ownership.patience_left(time.time())))
            await self.tick()
        if held:
            log.info("the record held while fenced: %s", turn)
        return turn == ACT

    async def _claim(self) -> int:
        """Claim the coordinator role (fencing every earlier owner); the broker's epoch."""
        epoch = await self.producer.claim()
        self.ownership.claimed()
        return epoch

    async def _reclaim(self) -> None:
        """The partition came back after a revocation: claim again, and keep the coordinator
        only if nobody else claimed in between (loop/ownership.py, ``continues``)."""
        last = self.producer.epoch
        epoch = await self._claim()
        if not continues(last, epoch):
            log.info("the role was claimed elsewhere meanwhile (epoch %d, now %d): rebuilding",
                     last, epoch)
            self.coordinator = None

    async def _coordinator(self) -> Coordinator:
        if self.coordinator is not None and not self.producer.claimed:
            await self._reclaim()
        while self.coordinator is None:
            if not self.ownership.may_act(time.time()):
                raise Fenced("no longer the owner of the control partition")
            try:
                await self._rebuild()
            except Fenced:
                raise
            except Exception:  # Kafka unreachable, a topic being created: try again
                log.exception("rebuilding the coordinator failed; retrying in %ss", RETRY_S)
                await asyncio.sleep(RETRY_S)
        return self.coordinator

    async def _rebuild(self) -> None:
        started = time.perf_counter()
        # first fence the last owner, then read the topics
        epoch = self.producer.epoch if self.producer.claimed else await self._claim()
        self._preparing = None  # one prepared before this rebuild follows a stale checkpoint
        state = await self._run(self.checkpoints.load)  # the newest checkpoint and after
        r = await self._run(resuming.rebuilt, self._fresh, self._admission, state,
                            functools.partial(self.checkpoints.records, state), time.time())
        self.admission = r.admission  # refused live, refused after a rebuild
        c, restored, resumed = r.coordinator, r.restored, r.resumed
        c.governance.resume_temperature(c.learner, state.temperature)
        self.metrics.set_temperature(c.learner.temperature)
        detail = {**dataclasses.asdict(restored), "seconds": time.perf_counter() - started,
                  "epoch": epoch, "checkpoint": state.checkpoint or None, "image": resumed}
        log.info("coordinator rebuilt from the topics: %s", detail)
        async with self.producer.transaction():
            await self._annotation(c)  # expert requests decided but never sent, before "restored"
            await self.publisher.event(
                Event(schema_version=1, kind="restored", at=time.time(), detail=detail)
            )
            update = c.model_update(time.time(), force=True)
            if update is not None:
                await self.publisher.model(conversion.model_update(update))
            await self._reference_out(c)  # the rebuilt ring, written again (loop/restore.py)
        if update is not None:
            self._register(c, update)
        self.coordinator = c
        # its long-lived state out of the cyclic collector's rescans. On a deployment's first
        # rebuild (no checkpoint yet) the checkpoint's write settles again, seconds later:
        # ~0.1 s once, and the state is not rescanned while that checkpoint is prepared
        settle_heap()
        self._search_out(c)
        self._report_budget(c)
        if not state.checkpoint and self.settings.checkpoint.enabled:
            await self._checkpoint(state)  # a full read: the first checkpoint, from it

    # ---- control records ----------------------------------------------------------------------
    async def handle(self, event: Any) -> None:
        """One control record; an unexpected error of the record's own dead-letters it (the next
        one goes on). The broker failing is not the record's fault: what was durable is on the
        topics, so the coordinator is rebuilt from them and the record is done again (not
        acknowledged meanwhile)."""
        await self.tick()
        while True:
            if not await self._ours():
                return  # not ours (any more): its owner handles it, and our commit is refused
            try:
                await self._handle(event)
                return
            except Fenced as e:
                await self._fenced(e)
            except INFRASTRUCTURE_ERRORS as e:
                self.metrics.count_error("select", type(e).__name__)
                log.warning("control record at offset %s: %s: %s; rebuilding and retrying in "
                            "%ss", event.message.offset, type(e).__name__, e, RETRY_S)
                self.coordinator = None
                await asyncio.sleep(RETRY_S)
            except Exception as e:
                try:
                    await self._bad_record(event, e)
                    return
                except Fenced as f:
                    await self._fenced(f)

    async def handle_many(self, events: list[Any]) -> None:
        """Control records in offset order (``kafka.control_merge`` > 1): each run of two or
        more scored batches is selected as one (``Coordinator.on_scored_many``) in one
        transaction; anything else goes through :meth:`handle`. A run that fails in any way is
        done again record by record, so the broker's errors are retried, a fenced owner steps
        down and a bad record is dead-lettered alone, exactly as one at a time."""
        i = 0
        while i < len(events):
            run = self._scored_run(events, i)
            if len(run) < 2:
                await self.handle(events[i])
                i += 1
                continue
            if not await self._handle_run(run):
                for event, _ in run:
                    await self.handle(event)
            i += len(run)

    @staticmethod
    def _scored_run(events: list[Any], start: int) -> list[tuple[Any, ScoredBatchRecord]]:
        run = []
        for event in events[start:]:
            record = parse(CONTROL, event.message.value)
            if not isinstance(record, ScoredBatchRecord):
                break
            run.append((event, record))
        return run

    async def _handle_run(self, run: list[tuple[Any, ScoredBatchRecord]]) -> bool:
        """True if done (or not ours to do); False if it failed and nothing of it counted."""
        await self.tick()
        if not await self._ours():
            return True
        try:
            async with self.lock:
                c = await self._coordinator()
                async with self.producer.transaction():  # its outputs: all or none
                    await self._scored_many(c, run)
                    await self._reference_out(c)
            return True
        except Exception as e:  # noqa: BLE001 (every failure: record by record decides)
            log.warning("a run of %d control records from offset %s failed (%s: %s); doing "
                        "them one at a time", len(run), run[0][0].message.offset,
                        type(e).__name__, e)
            self.coordinator = None  # its outputs were aborted: rebuild what the topics hold
            return False

    async def _scored_many(self, c: Coordinator,
                           run: list[tuple[Any, ScoredBatchRecord]]) -> None:
        started = time.perf_counter()
        records = [(conversion.scored_texts(r), e.message.offset) for e, r in run]
        items = await self._run(c.on_scored_many, records, time.time())
        await self._selected(c, [r for _, r in run], items, started)

    async def _bad_record(self, event: Any, e: Exception) -> None:
        log.error("control record at offset %s failed", event.message.offset, exc_info=e)
        self.coordinator = None  # its outputs were aborted: rebuild what the topics hold
        self.metrics.count_error("select", type(e).__name__)
        reason = DeadLetterReason("processing_error", f"{type(e).__name__}: {e}")
        await retrying("dead-lettering a control record", lambda: self.publisher.dead_letter(
            "select", event.message.value or b"", reason, event.message))

    async def _handle(self, event: Any) -> None:
        message = event.message
        async with self.lock:
            c = await self._coordinator()
            async with self.producer.transaction():  # its outputs: all or none (fencing.py)
                await self._handle_in(c, message)
                await self._reference_out(c)
            self._search_out(c)

    async def _handle_in(self, c: Coordinator, message: Any) -> None:
        record = parse(CONTROL, message.value)
        if isinstance(record, DeadLetterReason):
            await self.publisher.dead_letter("select", message.value or b"", record, message)
        elif isinstance(record, ScoredBatchRecord):
            await self._scored(c, record, message.offset)
        elif isinstance(record, LabelsRecord):
            await self._labels(c, record, message.offset)
        elif isinstance(record, RollbackRecord):
            if refused := await self._run(self._rollback_refusal, record):
                await self._refuse_rollback(record, refused, message)
            else:
                await self._rollback(c, record, message.offset)

    async def _scored(self, c: Coordinator, record: ScoredBatchRecord, offset: int) -> None:
        started = time.perf_counter()
        items = await self._run(c.on_scored, conversion.scored_texts(record), offset, time.time())
        await self._selected(c, [record], items, started)

    async def _selected(self, c: Coordinator, records: list[ScoredBatchRecord],
                        items: Purchases, started: float) -> None:
        """After ``records`` were selected (``items`` bought): the stage's metrics over the
        stream texts they stand for (a candidates record: its spans' counts), then the
        purchases out and the health checks."""
        texts = sum(sum(s[3] for s in r.spans) if r.spans else len(r.ids) for r in records)
        self.metrics.observe_stage("select", texts, len(items), time.perf_counter() - started)
        self.metrics.observe_batch("select", texts)
        await self._emit(c, items)
        await self._health(c)

    async def _emit(self, c: Coordinator, items: Purchases) -> None:
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
        for strategy, reason in zip(items.strategies, items.reasons, strict=True):
            self.metrics.count_selected(strategy, reason)
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
        self.checkpoints.labels += len(outcome.accepted)
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
            self.metrics.set_prequential_accuracy(c.prequential.accuracy)
            self.metrics.set_calibration_error(c.prequential.calibration_error)
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

    def _rollback_refusal(self, record: RollbackRecord) -> DeadLetterReason | None:
        """Only the operator's rollback to a registered version is applied (stream/commands.py)."""
        registry = self.registrar.registry if self.registrar is not None else None
        return commands.rollback_refusal(
            record, commands.operator_commands(self.settings.kafka), registry)

    async def _refuse_rollback(self, record: RollbackRecord, reason: DeadLetterReason,
                               message: Any) -> None:
        """A rollback not vouched for: dead-lettered, an event for operators, nothing changed."""
        log.warning("rollback %s refused: %s", record.command_id[:64], reason.detail)
        await self.publisher.dead_letter("select", message.value or b"", reason, message)
        await self.publisher.event(Event(schema_version=1, kind="rollback", at=time.time(),
                                         detail={"registry_version": record.registry_version,
                                                 "command_id": record.command_id[:64],
                                                 "applied": False, "refused": reason.detail}))

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
        await report_pacing(c.governance.pacer, self.metrics, self.publisher)

    async def _reference_out(self, c: Coordinator) -> None:
        """``scale.ood_at_scorers``: the rows learned in this transaction go to the scorers in
        it (stream/reference.py). Every transaction that fails drops its coordinator, so rows
        taken in an aborted one are written again by the rebuild (its whole ring)."""
        if c.reference is None:
            return
        numbers, rows = c.reference.take_numbered_many()
        if len(rows):
            await self.publisher.reference(reference.records_of(numbers, rows,
                                                                c.reference.capacity))

    async def _publish_model(self, c: Coordinator, force: bool) -> None:
        update = c.model_update(time.time(), force=force)
        if update is not None:
            await self.publisher.model(conversion.model_update(update))
            self._register(c, update)

    def _register(self, c: Coordinator, update: ModelRelease) -> None:
        """Hand the model just published to the registrar (its own thread)."""
        if self.registrar is None:
            return
        figures = {"accuracy": c.prequential.accuracy, "ece": c.prequential.calibration_error,
                   "temperature": c.learner.temperature}
        note = ""
        if c.rollback is not None and c.rollback.version == update.version:
            note = (f"rollback to registry version {c.rollback.registry_version} "
                    f"(model version {c.rollback.model_version})")
        self.registrar.submit(Registration(
            c.learner.snapshot(), c.learned.copy(),
            {k: v for k, v in figures.items() if math.isfinite(v)}, update.labels_hash, note,
        ))

    # ---- the search for l2, apart (stream/searching.py) ----------------------------------------
    def _search_out(self, c: Coordinator) -> None:
        """A search the learner's refit asked for goes to the search process; its answer is
        applied (:meth:`_searched`) while the coordinator goes on. Called with the lock held,
        after a transaction committed: an aborted one drops ``c``, and with it the request."""
        if self.searches is None or (task := c.take_search()) is None:
            return
        future = asyncio.ensure_future(self._searched(c, task))
        self._searching.add(future)
        future.add_done_callback(self._searching.discard)

    async def _searched(self, c: Coordinator, task: SearchTask) -> None:
        """Run ``task`` apart, then hand the coordinator its result (the next refit uses it,
        a new model version). A failure is logged and counted (``errors{stage="learn"}``) and
        the learner keeps its penalty; an answer for a coordinator dropped since is dropped."""
        assert self.searches is not None
        started = time.perf_counter()
        result: SearchResult | None = None
        try:
            result = await self.searches.run(task)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the search raised, or its process died
            self.metrics.count_error("learn", type(e).__name__)
            log.error("the search for l2 at %d labels failed in its process (%s: %s); the "
                      "learner keeps l2=%g until the next search (learner.search_process: "
                      "false runs it in the refit instead)", len(task.y), type(e).__name__, e,
                      c.learner.l2)
        async with self.lock:
            applied = self.coordinator is c and c.searched(task, result)
        if result is not None:
            log.info("search for l2 at %d labels (%d rows) took %.2fs apart: l2=%s, %s",
                     len(task.y), len(task.X), time.perf_counter() - started, result.l2,
                     "applied at the next refit" if applied else "stale, dropped")

    async def close(self) -> None:
        """The worker stops: searches on their way are cancelled, the search process ends."""
        for future in list(self._searching):
            future.cancel()
        if self.searches is not None:
            await self._run(self.searches.close)

    # ---- chores -------------------------------------------------------------------------------
    async def chores(self) -> None:
        """Every few hundred ms: rebuild if we just got the partition, last model out,
        expiries, idle flush."""
        await self.tick()
        if not self.ownership.may_act(time.time()):
            return
        try:
            await self._chores()
        except Fenced as e:
            await self._fenced(e)
        except Exception:  # its transaction was aborted: rebuild from what the topics hold
            self.coordinator = None
            raise
        await self._relay_commands()

    async def _relay_commands(self) -> None:
        """New operator commands onto control (stream/command_relay.py), once a second; a broker
        failure leaves them for the next time (the relay reopens from its committed place)."""
        now = time.time()
        if not self.ownership.may_act(now) or not self._relays.due(now):
            return
        self._relays.mark(now)
        try:
            await self._run(self.relay.relay_many)
        except INFRASTRUCTURE_ERRORS as e:
            log.warning("relaying operator commands: %s: %s; retrying", type(e).__name__, e)
            await self._run(self.relay.close)

    async def _chores(self) -> None:
        async with self.lock:
            if not self.ownership.may_act(time.time()):
                return
            c = await self._coordinator()
            await self._checkpoint()
            async with self.producer.transaction():  # its outputs: all or none (fencing.py)
                await self._chores_in(c)
                await self._reference_out(c)
            self._search_out(c)

    async def _checkpoint(self, full: TopicState | None = None) -> None:
        """A checkpoint when one is due (stream/checkpoint.py), in two steps so that the
        coordinator (this lock) is not held while the topics are read and encoded: here, between
        two of its transactions, the topics' ends are taken and the reading and encoding up to
        them starts in a thread; a later chore writes the result in a transaction of its own
        (``full``: a full read's state, the first checkpoint). One that fails (a broker error,
        a checkpoint topic this worker may not write) is tried again at the next due time: a
        rebuild does not need it."""
        try:
            if self._preparing is not None:
                if not self._preparing.done():
                    return
                prepared, self._preparing = self._preparing.result(), None
                started = time.perf_counter()
                await self.checkpoints.write(self.producer, prepared)
                log.info("checkpoint written in %.2fs (the coordinator waited that long)",
                         time.perf_counter() - started)
                settle_heap()  # what the coordinator learned since, and the image's garbage
                return
            if full is None and not self.checkpoints.due(time.time()):
                return
            until = None if full is not None else await self._run(self.checkpoints.ends)
            self._preparing = asyncio.ensure_future(
                self._run(self.checkpoints.prepare, full, until))
        except Fenced:
            raise
        except Exception as e:  # never stops the coordinator: the topics are the truth
            self._preparing = None
            self.checkpoints.postpone()
            self.metrics.count_error("select", type(e).__name__)
            log.warning("writing a checkpoint failed: %s: %s; trying again in %ss",
                        type(e).__name__, e, self.settings.checkpoint.every_s)

    async def _chores_in(self, c: Coordinator) -> None:
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
