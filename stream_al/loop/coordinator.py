"""The coordinator: the one place where the label budget is spent and the model learns.

Every driver runs this one object: the Kafka worker (``stream_al/stream/coordinating.py``)
on the records of the single-partition ``control`` topic in offset order, the simulator
(``stream_al/simulate/``) on a replayed dataset. It owns the selection stack
(``stream_al.select.stack.build_stage``: strategy, budget, pricing, OOD cap, drift response),
an :class:`OnlineLearner` and ``label_gain`` as the bandit's reward, and it takes and returns
domain records (``stream_al.loop.records``): scored texts and labels in; purchases, ledgers,
model releases out. It has no Kafka, asyncio, Prometheus or wire types inside.

Idempotency: a record at or below :attr:`control_offset` is ignored (it was already counted in
the restored ledger), a text counts in ``seen`` once per texts-topic offset
(:attr:`texts_offsets`), an item id is bought at most once, and a label counts once per
(item, annotator). ``docs/delivery-semantics.md`` states what that guarantees. After a crash a
fresh instance is rebuilt from what the topics hold (:meth:`Coordinator.restore` of a
:class:`~stream_al.loop.restore.History`; from a checkpoint's image, loop/resume.py).
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from stream_al.annotation.agreement import RunningAgreement
from stream_al.config import Settings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.forwarded import among
from stream_al.drift.health import DataHealth
from stream_al.embed.base import Embedder
from stream_al.labels import Label, LabelStore
from stream_al.labels.export import LabeledRow, LabelSetHash
from stream_al.learn.gain import label_gain
from stream_al.learn.online import OnlineLearner
from stream_al.learn.regularisation import SearchResult, SearchTask
from stream_al.loop import restore, rollback
from stream_al.loop.annotating import Annotating, Plan
from stream_al.loop.bought import BoughtTexts
from stream_al.loop.buying import Buying
from stream_al.loop.cadence import Cadence
from stream_al.loop.governing import Governance
from stream_al.loop.learned import LearnedRows
from stream_al.loop.merging import concatenated, runs
from stream_al.loop.prequential import Prequential
from stream_al.loop.pricing import Pricing
from stream_al.loop.purchases import Purchases
from stream_al.loop.records import (
    BudgetLedger,
    LabelOutcome,
    ModelRelease,
    Refusal,
    RollbackCommand,
    RollbackInForce,
    ScoredTexts,
)
from stream_al.loop.restore import Base, History, Restored
from stream_al.loop.spans import at_stream_positions, new_at_offsets, new_in_spans
from stream_al.score.batch import ScoredBatch
from stream_al.select.base import Selection
from stream_al.select.cost_aware import ANNOTATORS
from stream_al.select.ood_check import ReferenceRows
from stream_al.select.selections import Selections
from stream_al.select.stack import build_stage, has_ood_cap
from stream_al.select.stage import Outstanding
from stream_al.select.validation import UNIFORM_REASONS

IDLE_FLUSH_S = 2.0
"""Held candidates are bought (as far as the budget allows) after this long without texts."""
MAX_LATENCY_SAMPLES = 1000
"""Label arrival times carried by one model update (for the label-to-model histogram)."""


class Coordinator:
    """Owns the system-wide budget, the selector, the learner and the label store.

    ``embedder`` re-embeds texts whose vectors are no longer held (labels for items already
    labelled once, and every labelled item after a restart).

    The core's composition root: it takes the whole :class:`Settings` because it assembles
    the loop from them, and hands each part only its own: the selection stack to
    :func:`~stream_al.select.stack.build_stage` (itself a root: strategy, budget, cost, pacing,
    OOD cap and drift response), ``cost`` and ``annotation`` to :class:`Pricing`,
    ``annotation`` and ``learner`` to :class:`Annotating`, ``learner`` to the
    :class:`OnlineLearner`, ``drift`` and ``ood`` to :class:`DataHealth`, ``calibration`` to
    :class:`Governance` (its ``bins`` to :class:`Prequential`). Every driver builds it the same
    way (``tests/test_settings_parts.py`` lists the roots).
    """

    def __init__(
        self,
        settings: Settings,
        dim: int,
        embedder: Embedder,
        strategy: str | None = None,
        *,
        publish_every_s: float = 0.2,
        text_cache_items: int = 50_000,
        accuracy_window: int = 500,
        search_apart: bool = False,
    ) -> None:
        """``search_apart``: the learner's searches for ``l2`` after the first are handed to
        the driver (:meth:`take_search`, :meth:`searched`) instead of run in its refits (the
        worker runs them in a process of its own; the simulator with
        ``simulation.search_lag``)."""
        if embedder.dim != dim:
            raise ValueError(f"embedder {embedder.name} gives {embedder.dim} dims, expected {dim}")
        self.settings = settings
        self.dim = dim
        self.embedder = embedder
        self.health = DataHealth(settings.drift, settings.ood, dim, settings.selection.seed,
                                 settings.scale, checks_ood=not has_ood_cap(settings.ood))
        """The stage's OOD cap, if any, checks the stream items against its detector."""
        self.reference: ReferenceRows | None = None
        """``scale.ood_at_scorers``: the labelled rows on their way to the scorers, which
        check the candidates (select/ood_check.py); the health's detector then keeps none."""
        if settings.scale.ood_at_scorers:
            self.reference = ReferenceRows(settings.ood.capacity)
        self.stage = build_stage(settings, dim, strategy, ood=self.health.ood)
        """The whole selection stack, as every driver builds it (stream_al.select.stack)."""
        self.pricing = Pricing(settings.cost, settings.annotation, self.stage.cost_budget,
                               seed=settings.selection.seed)
        """Prices in labels, minutes or money; k annotators per item (stream_al.loop.pricing)."""
        self.buying = Buying(self.stage, self.pricing, text_cache_items)
        """The stage's choices as purchases, each item once (stream_al.loop.buying)."""
        self.annotating = Annotating(settings.annotation, settings.learner, dim,
                                     settings.kafka.topics.expert)
        """Verdicts, escalations and noise flags: what is learned (stream_al.loop.annotating)."""
        self.search_apart = search_apart
        self.learner = OnlineLearner(dim, settings.learner)
        self.learner.searches_apart = search_apart
        self.labels = LabelStore()
        self.labels_hash = LabelSetHash()
        """Of the label store's rows (stream_al.labels.export), published with each model."""
        self.texts = BoughtTexts()
        """Every item ever selected -> its text (on local disk; stream_al.loop.bought)."""
        self.embeddings: dict[str, np.ndarray] = {}
        """Selected items still waiting for their first label -> embedding."""
        self.control_offset = -1
        self.texts_offsets: dict[int, int] = {}
        """Per texts partition, the last offset counted in the budget's ``seen``."""
        self.published_version = 0
        self._publishing = Cadence(publish_every_s)
        self._unpublished_received: list[float] = []
        self.prequential = Prequential(accuracy_window, settings.calibration.bins)
        """How the model did on the last labels before it learned them (loop/prequential.py)."""
        self.agreement = RunningAgreement()
        self.governance = Governance(settings.calibration, self.stage, self.health)
        """Drift response and OOD picks around the stage's selector; temperature scaling."""
        self._learned = LearnedRows(self.texts)
        self.rollback: RollbackInForce | None = None
        """The operator's rollback in force (stream_al.loop.rollback), if any."""
        self.excluded: frozenset[str] = frozenset()
        """Items the rollback in force keeps out of the learner."""
        self.uniform: set[str] = set()
        """Items bought as uniform draws from the stream (reason 'validation'): a learner
        rebuilt from their labels (a relearn, a rollback, a restore) flags them again, for its
        l2 search to validate on."""
        self._refits = Cadence(settings.learner.refit_every_s)
        self._alarms: list[DriftAlarm] = []
        self.idle = Cadence(IDLE_FLUSH_S)
        """Marked at every scored batch: due when none came for ``IDLE_FLUSH_S``."""
        self._unflushed = False
        self._represented = 0.0
        """Stream texts counted from candidates' spans, not yet offered to the stage's layers."""
        self.base: Base | None = None
        """What the last restore folded and an image of it needs (loop/resume.py)."""
        self.image_only = False
        """Made only to be imaged (a checkpoint's image, loop/resume.py): a restore then skips
        what an image does not hold (the embeddings, the learner, the novelty and OOD rows, the
        outstanding selections); the coordinator is not used otherwise."""

    @property
    def learned(self) -> LearnedRows:
        """The labels the current model learned, in learning order (the registry's rows;
        item, class and annotator of each: stream_al.loop.learned)."""
        return self._learned

    @learned.setter
    def learned(self, labels: Iterable[Label]) -> None:
        self._learned = LearnedRows(self.texts, labels)

    # ---- selection ------------------------------------------------------------------------
    def on_scored(self, record: ScoredTexts, offset: int, now: float) -> Purchases:
        """Observe a scored batch in the budget; return the items bought (never one twice)."""
        if offset <= self.control_offset:
            return Purchases.none()
        if record.dim != self.dim:
            raise ValueError(
                f"scored batch {record.batch_id} has {record.dim}-dim embeddings, the coordinator"
                f" {self.dim} ({self.embedder.name}): run every worker of a group with one embedder"
            )
        self.control_offset = offset
        self.idle.mark(now)
        self.buying.remember_texts(record.ids, record.texts)
        first: dict[str, int] = {}
        # candidates stand for spans: count those once, against the offsets before this record
        counted = dict(self.texts_offsets) if record.spans else None
        fresh = (new_at_offsets(self.texts_offsets, record.partitions, record.offsets)
                 if record.offsets else list(range(len(record.ids))))  # offsets not known
        seen = None
        if counted is not None:
            seen = new_in_spans(counted, record.spans)
            self.texts_offsets.update(counted)
        bought = self.texts.contains_many([record.ids[i] for i in fresh])
        for i, known in zip(fresh, bought, strict=True):
            if not known:
                first.setdefault(record.ids[i], i)
        if seen is not None:  # candidates: the spans count every text the scorer saw
            self.stage.budget.observe(max(0, seen - len(first)))
            self._represented += seen
        elif record.offsets:  # texts at new offsets count even if bought before (a replay after
            self.stage.budget.observe(len(fresh) - len(first))  # a crash, a text made again)
        if not first:
            return Purchases.none()
        keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        confidence = record.scores.get("confidence")
        costs, wanted = self.pricing.price_ranked_many(  # k annotators x one label's price
            list(first), [record.texts[i] for i in keep],
            None if confidence is None else np.asarray(confidence)[keep])
        batch = ScoredBatch(
            ids=list(first),
            X=record.X[keep],
            scores={k: np.asarray(v, dtype=np.float32)[keep] for k, v in record.scores.items()},
            model_version=record.model_version,
            costs=costs,
            weights=None if record.weights is None else np.asarray(record.weights)[keep],
            seen=self._represented if record.spans else None,
        )
        self._represented = 0.0
        batch.scores[ANNOTATORS] = wanted  # rank per label
        self.learner.observe_many(batch.X)  # what it self-trains on (learn/self_training.py)
        snapshot = self.learner.snapshot()
        kind = self.settings.selection.uncertainty
        cold = not snapshot.ready or kind not in batch.scores
        first = self.health.monitor.position
        alarms = self.health.on_batch(batch.X, None if cold else batch.scores[kind],
                                      among(record.drift, keep))
        if alarms and batch.seen is not None:  # candidates: the monitor counted those, not
            # stream texts; the texts the batch stands for end where the stage's count will
            start = self.stage.budget.seen + len(batch) - batch.seen
            alarms = at_stream_positions(alarms, first, batch.row_weights(), start, batch.seen)
        self._raised(alarms)
        self.stage.set_model(snapshot)
        before = dict(self.stage.outstanding)
        chosen = self.stage.select_many(batch, now, self.settings.kafka.label_deadline_s)
        self._unflushed = True
        return self._emit(chosen, before)

    def on_scored_many(self, records: Sequence[tuple[ScoredTexts, int]],
                       now: float) -> Purchases:
        """Scored records with their control offsets, in offset order, each run of compatible
        consecutive ones selected as one batch (stream_al.loop.merging): the budget counts what
        :meth:`on_scored` would count of each; the per-record cost is paid once per run. A run
        is done at its last offset (a record at or below :attr:`control_offset` is ignored)."""
        kept = [(r, o) for r, o in records if o > self.control_offset]
        bought: list[Purchases] = []
        done = 0
        for run in runs([r for r, _ in kept]):
            done += len(run)
            bought.append(self.on_scored(concatenated(run), kept[done - 1][1], now))
        return Purchases.joined(bought) if bought else Purchases.none()

    def flush(self, now: float) -> Purchases:
        """Spend what the budget allows on items the selector holds (the stream went idle)."""
        if not self._unflushed:
            return Purchases.none()
        self._unflushed = False
        self.stage.set_model(self.learner.snapshot())
        before = dict(self.stage.outstanding)
        return self._emit(self.stage.flush(now, self.settings.kafka.label_deadline_s), before)

    def _emit(self, chosen: Selections, before: dict[str, Outstanding]) -> Purchases:
        """Buy what the stage chose (stream_al.loop.buying); annotating tracks each purchase."""
        out = self.buying.buy_many(chosen, before, self.texts, self.embeddings,
                                   self.control_offset)
        self.annotating.bought_many(out.item_ids, out.annotators, out.deadlines)
        return out

    def expire(self, now: float) -> list[Selection]:
        """Selections whose labels missed their deadline: their cost goes back to the budget."""
        self._apply(self.annotating.due(self.labels, self.texts, self.learner.snapshot(),
                                        self.embeddings_of, now), LabelOutcome())
        self.refit(now)
        expired = self.stage.expire(now)
        for s in expired:
            self.embeddings.pop(s.item_id, None)
        return expired

    # ---- learning -------------------------------------------------------------------------
    def on_labels(self, labels: Sequence[Label], offset: int, now: float) -> LabelOutcome:
        """Dedupe and validate labels (``received_at``: when each reached a worker), reward
        their strategies, learn them."""
        outcome = LabelOutcome(version=self.learner.version)
        if offset <= self.control_offset:
            return outcome
        self.control_offset = offset
        known = list(self.learner.classes)
        for label in labels:
            reason = self.refusal(label, known)
            if reason is not None:
                outcome.rejected.append((label, reason))
            elif self.store_one(label):
                outcome.accepted.append(label)
                if label.label not in known:
                    known.append(label.label)
            else:
                outcome.duplicates.append(label)
        if outcome.accepted:
            self.pricing.observe_labels(outcome.accepted, self.texts)
            plan = self.annotating.on_labels(outcome.accepted, self.labels, self.texts,
                                             self.learner.snapshot(), self.embeddings_of, now)
            self._apply(plan, outcome)
            self.agreement.add_many(outcome.accepted)
        self.refit(now)
        outcome.version = self.learner.version
        return outcome

    def refit(self, now: float) -> bool:
        """Fit the learner on the labels learned since its last fit, if ``learner.refit_every_s``
        passed since then. A refit costs the same for one label as for a hundred (it is on the
        whole replay memory), so under a stream of labels the learner refits at a bounded rate;
        the worker's chores call :meth:`model_update` often enough to fit the last ones."""
        if not self.learner.needs_fit or not self._refits.due(now):
            return False
        l2 = self.learner.l2
        self.learner.fit()
        self.health.on_refit(l2, self.learner.l2)
        self._refits.mark(now)
        return True

    def take_search(self) -> SearchTask | None:
        """With ``search_apart``: the search for ``l2`` a refit asked for, to run apart
        (:func:`~stream_al.learn.regularisation.run_search`), each handed out once; or None."""
        return self.learner.take_search()

    def searched(self, task: SearchTask, result: SearchResult | None) -> bool:
        """What ``task`` found (None: it failed, the penalty stays): applied by the learner's
        next refit (:meth:`refit`, a new model version) if ``task`` is its pending search;
        False otherwise (the learner was rebuilt since: the answer is stale)."""
        if result is None:
            return self.learner.search_failed(task)
        return self.learner.searched(task, result)

    def refusal(self, label: Label, known: list[str],
                 bought: Container[str] | None = None) -> Refusal | None:
        """Why ``label`` cannot be used, or None; ``known``: classes accepted so far;
        ``bought``: the bought items, when the caller holds them (else :attr:`texts`)."""
        if label.item_id not in (self.texts if bought is None else bought):
            return Refusal("unknown_item", f"item {label.item_id!r} was never selected")
        if self.settings.kafka.label_policy == "reject":
            allowed = self.settings.kafka.label_classes or (known if len(known) >= 2 else None)
            if allowed is not None and label.label not in allowed:
                return Refusal(
                    "unknown_class", f"class {label.label!r} not in {sorted(allowed)}"
                )
        return None

    def _apply(self, plan: Plan, outcome: LabelOutcome) -> None:
        """Learn the labels or verdicts ``plan`` names; close items held for an expert;
        rebuild the learner from the verdicts when one changed (loop/annotating.py)."""
        learn = rollback.allowed(self.excluded, plan.learn)
        if learn:
            self._learn(outcome, learn)
        if plan.settled:
            self.stage.labelled(plan.settled, [0.0] * len(plan.settled))
        if plan.relearn:  # under a rollback, no longer exactly from the rolled-back weights
            self.learner = self.annotating.relearn(self.learner, self.embeddings_of,
                                                   self.excluded, self.uniform)
            self.learner.searches_apart = self.search_apart
            self.learned = rollback.allowed(self.excluded, self.annotating.learned_labels())

    def _learn(self, outcome: LabelOutcome, learn: list[Label]) -> None:
        ids = [x.item_id for x in learn]
        names = [x.label for x in learn]
        X = self.embeddings_of(ids)
        snapshot = self.learner.snapshot()
        gains = label_gain(snapshot, X, names)
        outcome.correct = self.prequential.observe_many(snapshot, X, names)
        alarms = self.health.on_labels(X, outcome.correct)
        if alarms and self.settings.scale.preselect:  # at the stream's position
            alarms = [replace(a, position=int(self.stage.budget.seen)) for a in alarms]
        self._raised(alarms)
        if self.reference is not None:
            self.reference.add_many(X)
        reasons = [o.reason if (o := self.stage.outstanding.get(i)) else "" for i in ids]
        self.governance.on_labels(snapshot, X, names, reasons)
        uniform = [r in UNIFORM_REASONS for r in reasons]  # the l2 search validates on them
        self.uniform.update(i for i, u in zip(ids, uniform, strict=True) if u)
        self.learner.learn_many(X, names, fit=False, uniform=uniform)  # refit when due
        self.governance.calibrate(self.learner)
        self.learned.extend(learn)
        self.stage.labelled(ids, gains.tolist())
        for item_id in ids:
            self.embeddings.pop(item_id, None)
        outcome.gains = gains.tolist()
        self._unpublished_received.extend(x.received_at for x in learn)

    def store_one(self, label: Label, text: str | None = None) -> bool:
        """Keep ``label`` unless its (item, annotator) is already in; True if kept.
        ``text``: its item's, when the caller has it (else read from :attr:`texts`)."""
        if not self.labels.add_one(label):
            return False
        self.labels_hash.add_one(LabeledRow.of(
            label, self.texts[label.item_id] if text is None else text))
        return True

    def store_many(self, labels: Iterable[Label], texts: Mapping[str, str],
                   known: Sequence[str] = ()) -> tuple[list[Label], int]:
        """:meth:`store_one` of a rebuild's ``labels`` (loop/restore.py), in bulk: store them
        (first answer per item and annotator wins) in one transaction; ``texts``: every bought
        item's (the refusal and the hash read it from memory).
        Duplicates among ``labels`` are found in memory; the store is asked only when it
        already holds rows (a fresh instance's is empty). ``known``: the classes accepted
        before (an image's: loop/resume.py)."""
        learned: list[Label] = []
        known = list(known)
        rejected = 0
        keys: set[tuple[str, str]] = set()
        stored: Container[tuple[str, str]] = self.labels if len(self.labels) else ()
        checked = self.settings.kafka.label_policy == "reject"  # else: refused if never bought
        for label in labels:
            if ((checked or label.item_id not in texts)
                    and self.refusal(label, known, texts) is not None):
                rejected += 1
            elif (key := (label.item_id, label.annotator_id)) not in keys and key not in stored:
                keys.add(key)
                if label.received_at != 0.0:  # a rebuild's labels were received at 0
                    label = Label(label.item_id, label.label, label.annotator_id,
                                  label.timestamp, label.confidence, 0.0)
                learned.append(label)
                if label.label not in known:
                    known.append(label.label)
        self.labels_hash.add_labels_many(learned, texts)
        self.labels.add_new_many(learned)
        self.agreement.add_many(learned)
        return learned, rejected

    def embeddings_of(self, ids: Sequence[str]) -> np.ndarray:
        missing = sorted({i for i in ids if i not in self.embeddings})
        fresh = (
            dict(zip(missing, self.embedder.embed([self.texts[i] for i in missing]), strict=True))
            if missing
            else {}
        )
        return np.stack([self.embeddings[i] if i in self.embeddings else fresh[i] for i in ids])

    def _raised(self, alarms: list[DriftAlarm]) -> None:
        self._alarms += alarms
        self.governance.on_alarms(alarms)

    def on_rollback(self, command: RollbackCommand, offset: int,
                    now: float) -> RollbackInForce | None:
        """An operator's rollback (stream_al.loop.rollback); None if already applied."""
        if offset <= self.control_offset:
            return None
        self.control_offset = offset
        if self.rollback is not None and self.rollback.command_id == command.command_id:
            return None  # replayed after a crash: the rebuild already applied it
        labelled = {x.item_id for x in self.labels} | {x.item_id for x in self.learned}
        version = max(self.learner.version, self.published_version) + 1
        state, base = rollback.roll_back(command, self.learner, self.texts, labelled,
                                         self.embeddings_of, version, now, self.embedder.name,
                                         self.uniform)
        self.adopt(state, base)
        return state

    def adopt(self, state: RollbackInForce, base: list[Label]) -> None:
        self.rollback = state
        self.excluded = frozenset(state.excluded)
        self.learned = list(base)
        self.governance.adopt(self.learner.snapshot())
        self.stage.set_model(self.learner.snapshot())

    def take_alarms(self) -> list[DriftAlarm]:
        """Drift alarms raised since the last call (the shell publishes and counts them)."""
        alarms, self._alarms = self._alarms, []
        return alarms

    def agreement_alpha(self) -> float:
        """Krippendorff's alpha over recent items with more than one label (NaN: none)."""
        return self.agreement.alpha if self.agreement.n_items else math.nan

    def model_update(self, now: float, force: bool = False) -> ModelRelease | None:
        """The current model if it is newer than the last published one and publishing is due
        (at most every ``publish_every_s``; ``force`` for the last one). Labels waiting for
        a refit are fitted first when the refit is due; until then nothing is published (a
        published model, and its registry entry, has fitted every label :attr:`learned` lists)."""
        self.refit(now)
        if self.learner.unfitted:
            return None
        if self.learner.version <= self.published_version:
            return None
        if not force and not self._publishing.due(now):
            return None
        update = ModelRelease(self.learner.snapshot(),
                              self._unpublished_received[-MAX_LATENCY_SAMPLES:],
                              self.labels_hash.hexdigest())
        self._unpublished_received.clear()
        self.published_version = self.learner.version
        self._publishing.mark(now)
        return update

    # ---- durability -----------------------------------------------------------------------
    def ledger(self, now: float) -> BudgetLedger:
        b = self.stage.budget
        drift_elapsed, drift_debt = self.governance.progress()
        return BudgetLedger(
            seen=b.seen,
            spent=b.spent + drift_debt,
            window_seen=b.window_seen,
            window_spent=b.window_spent,
            control_offset=self.control_offset,
            at=now,
            texts_offsets=dict(self.texts_offsets),
            drift_elapsed=drift_elapsed,
            drift_debt=drift_debt,
            pacing=self.governance.pacing(),
        )

    def restore(self, history: History) -> Restored:
        """Rebuild from the topics' records (stream_al.loop.restore); call on a fresh instance."""
        return restore.restore(self, history)
