"""What the coordinator learns from the labels it has: verdicts, not raw labels.

The coordinator keeps every label (one per item and annotator, :class:`LabelStore`) and hands
the new ones to :class:`Annotating`, which decides what the learner learns:

- ``annotation.learn_from: verdicts`` (the default). An item is *settled* when it has the k
  labels its :class:`SelectedItem` asked for, an expert's label, or its deadline passed with at
  least one label. Then it is adjudicated (``annotation.adjudication``: majority, Dawid-Skene or
  one-coin Dawid-Skene via crowd-kit, fitted on the recent multi-labelled items, with the
  experts' verdicts as gold; annotators below ``min_annotator_accuracy`` on gold are left out),
  and its verdict is learned **once**. A verdict less sure than ``min_confidence`` is escalated:
  an :class:`ExpertRequest` goes to the expert topic; the expert's label is final. A single
  label that disagrees with a confident model and with the item's labelled neighbours
  (:class:`NoiseFlagger`; never a label of a class the model has not learned yet) is
  suspicious: it is sent to the expert topic too and reported, not silently trusted. With
  experts configured (``expert_annotators``), a doubtful item is held, unlearned, until one
  answers; without any, nobody would ever answer, so it is learned as adjudicated (the
  request and the ``suspicious_labels`` event remain for review) rather than lost.
- ``learn_from: labels``: every label is one training example when it arrives (no
  adjudication); suspicious labels are still reported.

*A later label that changes a verdict* (a k+1-th label, a late label after the deadline, an
expert's answer, or one that turns a learned verdict into a disagreement) is a correction:
:attr:`Plan.relearn` asks the coordinator to rebuild its learner from the current verdicts
(:meth:`relearn`), the same way a restart rebuilds it, so the learner never holds two labels
for one item. A rebuild fits from scratch (seconds for thousands of items), so it runs at most
every ``annotation.relearn_every_s``: changes in between wait for the next one (the
coordinator's chores call :meth:`due` every second). Every change is reported (:attr:`Plan.changed`, published as an event).

Annotator quality is measured on gold items (items an expert labelled): :attr:`quality`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_al.annotation.adjudication import Adjudicator
from stream_al.annotation.base import Verdict
from stream_al.annotation.noise import NoiseFlagger, Suspicion
from stream_al.annotation.quality import AnnotatorQuality
from stream_al.config import AnnotationSettings, LearnerSettings
from stream_al.labels import Label, LabelStore
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.cadence import Cadence
from stream_al.loop.records import ExpertRequest
from stream_al.loop.settled import SettledItems

ADJUDICATED = "adjudicated"
"""The annotator id of a learned verdict (:class:`Label` rows the learner sees)."""

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Change:
    """A learned item whose verdict changed; ``new`` is None when it is no longer trusted."""

    item_id: str
    old: str
    new: str | None
    status: str


@dataclass
class Plan:
    """What the coordinator does after labels arrived or deadlines passed."""

    learn: list[Label] = field(default_factory=list)
    """Labels to learn now (verdicts: annotator ``adjudicated``), once per item."""
    settled: list[str] = field(default_factory=list)
    """Items whose selection is closed without being learned (held for an expert)."""
    relearn: bool = False
    changed: list[Change] = field(default_factory=list)
    requests: list[ExpertRequest] = field(default_factory=list)
    suspicions: list[Suspicion] = field(default_factory=list)


@dataclass(slots=True)
class Item:
    """An item bought for labelling, as :class:`Annotating` tracks it."""

    wanted: int
    deadline: float
    settled: bool = False
    learned: str | None = None
    held: str | None = None  # "disagreement" | "suspicious_label" while an expert is awaited
    seq: int = 0  # buying order


class Annotating:
    """Verdicts, escalations, noise flags and annotator quality; see the module docstring."""

    def __init__(self, annotation: AnnotationSettings, learner: LearnerSettings, dim: int,
                 expert_topic: str = "stream-al.expert") -> None:
        """``annotation``, ``learner``: their parts of the settings; ``expert_topic``: where
        expert requests go (``kafka.topics.expert``), named in the adjudicator's reasons."""
        self.a = annotation
        self.learner_settings = learner
        self.dim = dim
        self.adjudicator = Adjudicator(self.a, expert_topic)
        self.experts = frozenset(self.a.expert_annotators)
        self.quality = AnnotatorQuality()
        self.flagger = NoiseFlagger(self.a, capacity=learner.memory)
        """Also the embeddings of the last ``learner.memory`` learned items, which a relearn
        reads (it re-embeds older ones it needs; the learner's replay memory keeps no more
        than that anyway)."""
        self.open: dict[str, Item] = {}
        """Items not settled yet, or held for an expert (verdicts: bounded by what is out)."""
        self.settled = SettledItems()
        """The others' verdicts, on local disk (stream_al.loop.settled)."""
        self._bought = 0
        self._window: OrderedDict[str, None] = OrderedDict()  # recent multi-labelled items
        self._requested: set[str] = set()
        self._accuracy: dict[str, float] = {}  # per annotator, from the last Dawid-Skene fit
        self._since_fit = 0  # multi-labelled items adjudicated since that fit
        self._stale = False  # a learned verdict changed and the learner still holds the old one
        self._relearns = Cadence(self.a.relearn_every_s)
        self.outbox = Plan()
        """Requests, suspicions and changes not yet taken by the shell (:meth:`take_outbox`)."""

    @property
    def by_verdict(self) -> bool:
        return self.a.learn_from == "verdicts"

    # ---- what was bought --------------------------------------------------------------------
    @property
    def purchases(self) -> int:
        """Items bought so far (each open item's ``seq`` is its place among them)."""
        return self._bought

    def continue_from(self, purchases: int) -> None:
        """Number the next purchase after ``purchases`` earlier ones (a checkpoint's image)."""
        self._bought = purchases

    @property
    def several_labels_seen(self) -> bool:
        """Whether an item with several labels was adjudicated (or annotators were weighed)."""
        return bool(self._window or self._accuracy)

    def bought(self, item_id: str, wanted: int, deadline: float) -> None:
        """Track ``item_id`` until it is settled (``learn_from: labels``: nothing to track)."""
        if self.by_verdict and self._item(item_id) is None:
            self._bought += 1
            self.open[item_id] = Item(wanted, deadline, seq=self._bought)

    def bought_many(self, item_ids: Sequence[str], wanted: Sequence[int],
                    deadlines: Sequence[float]) -> None:
        """:meth:`bought` of each item, with its labels wanted and deadline, in order; the
        settled verdicts looked up in one query."""
        if not self.by_verdict or not item_ids:
            return
        settled = self.settled.get_many(list(item_ids)) if self.settled.written else {}
        for item_id, k, deadline in zip(item_ids, wanted, deadlines, strict=True):
            if item_id not in self.open and item_id not in settled:
                self._bought += 1
                self.open[item_id] = Item(k, deadline, seq=self._bought)

    def _item(self, item_id: str) -> Item | None:
        item = self.open.get(item_id)
        if item is None and self.settled.written and (row := self.settled.get(item_id)) is not None:
            seq, wanted, learned = row
            item = Item(wanted, math.inf, settled=True, learned=learned, seq=seq)
        return item

    def _keep(self, item_id: str, item: Item) -> None:
        """Write back ``item`` after a change: a settled item not held goes to disk."""
        if item.settled and item.held is None:
            self.settled.put(item_id, item.seq, item.wanted, item.learned)
            self.open.pop(item_id, None)
        else:
            if item.settled:
                self.settled.discard(item_id)
            self.open[item_id] = item

    # ---- labels -----------------------------------------------------------------------------
    def on_labels(self, accepted: Sequence[Label], store: LabelStore, texts: Mapping[str, str],
                  snapshot: ModelSnapshot, embed: Embed, now: float) -> Plan:
        """New labels (already in ``store``): what to learn, hold, escalate or relearn."""
        self._observe_gold(accepted, store)
        if not self.by_verdict:
            return self._post(self._each_label(accepted, texts, snapshot, embed, now), now)
        touched = list(dict.fromkeys(x.item_id for x in accepted))
        reading = LabelsRead(store)  # nothing is stored while settling: read each item once
        ready = [i for i in touched if self._ready(i, reading, now)]
        return self._post(self._settle(ready, reading, texts, snapshot, embed, now), now)

    def due(self, store: LabelStore, texts: Mapping[str, str], snapshot: ModelSnapshot,
            embed: Embed, now: float) -> Plan:
        """Items past their deadline with some but not all of their labels: settled with what
        they have (their cost stays spent)."""
        if not self.by_verdict:
            return Plan()
        late = [i for i, it in self.open.items()
                if not it.settled and it.deadline < now and store.has_item(i)]
        return self._post(self._settle(late, store, texts, snapshot, embed, now), now)

    def _post(self, plan: Plan, now: float) -> Plan:
        """Queue what the shell publishes; let a relearn through at most every
        ``annotation.relearn_every_s`` (a relearn fits the learner from scratch: seconds)."""
        self._stale |= plan.relearn
        plan.relearn = self._stale and self._relearns.due(now)
        if plan.relearn:
            self._stale = False
            self._relearns.mark(now)
        self.outbox.requests += plan.requests
        self.outbox.suspicions += plan.suspicions
        self.outbox.changed += plan.changed
        return plan

    def take_outbox(self) -> Plan:
        """Expert requests, suspicions and verdict changes since the last call (to publish)."""
        out, self.outbox = self.outbox, Plan()
        return out

    def gold_accuracy(self) -> dict[str, float]:
        """Each annotator's accuracy on gold items (what the metrics gauge shows)."""
        return {a: score.accuracy for a, score in self.quality.report().items()}

    def _ready(self, item_id: str, store: LabelStore | LabelsRead, now: float) -> bool:
        item = self._item(item_id)
        if item is None:  # bought before this coordinator knew (should not happen): one label
            self._bought += 1
            item = self.open[item_id] = Item(1, math.inf, seq=self._bought)
        labels = store.labels_of(item_id)
        crowd = [x for x in labels if x.annotator_id not in self.experts]
        return (item.settled or len(crowd) >= item.wanted or item.deadline < now
                or len(crowd) < len(labels))

    def _each_label(self, accepted: Sequence[Label], texts: Mapping[str, str],
                    snapshot: ModelSnapshot, embed: Embed, now: float) -> Plan:
        plan = Plan(learn=list(accepted))
        X = embed([x.item_id for x in accepted])
        plan.suspicions = self._suspicions([x.item_id for x in accepted], X,
                                           [x.label for x in accepted], snapshot)
        plan.requests = [self._request(s.item_id, texts, "suspicious_label", None, s, now)
                         for s in plan.suspicions if s.item_id not in self._requested]
        self._remember(accepted, X)
        return plan

    # ---- settling ---------------------------------------------------------------------------
    def _settle(self, ids: list[str], store: LabelStore | LabelsRead,
                texts: Mapping[str, str],
                snapshot: ModelSnapshot, embed: Embed, now: float) -> Plan:
        plan = Plan()
        if not ids:
            return plan
        verdicts = self._verdicts(ids, store)
        items = {i: self._item(i) for i in ids}  # each known: _ready or due found it
        fresh = [i for i in ids if items[i].learned is None and self._learnable(verdicts[i])]
        X = embed(fresh) if fresh else np.zeros((0, self.dim), dtype=np.float32)
        single = [n for n, i in enumerate(fresh) if verdicts[i].status == "single"]
        suspicious = {s.item_id: s for s in self._suspicions(
            [fresh[n] for n in single], X[single], [verdicts[fresh[n]].label for n in single],
            snapshot)}
        row = {i: n for n, i in enumerate(fresh)}
        for item_id in ids:
            item, v = items[item_id], verdicts[item_id]
            first = not item.settled
            item.settled = True
            suspicion = suspicious.get(item_id)
            if suspicion is not None:
                plan.suspicions.append(suspicion)
            doubt = "suspicious_label" if suspicion else None if v.trusted else "disagreement"
            if doubt is not None and (self.experts or v.label is None):  # wait for one
                self._hold(item_id, item, doubt, v, store, texts, plan, suspicion, now)
            else:
                if doubt is not None and item_id not in self._requested:  # no expert to wait
                    plan.requests.append(  # for: reported, and learned as adjudicated
                        self._request(item_id, texts, doubt, v, suspicion, now, store))
                if item.learned is None:
                    item.held = None
                    item.learned = v.label
                    plan.learn.append(Label(item_id, v.label, ADJUDICATED, now, v.confidence,
                                            _received(store, item_id)))
                    continue
                if item.learned != v.label:
                    plan.changed.append(Change(item_id, item.learned, v.label, v.status))
                    item.learned = v.label
                    plan.relearn = True
            if first and item.learned is None:
                plan.settled.append(item_id)
        for item_id, item in items.items():
            self._keep(item_id, item)
        learned = plan.learn
        self.flagger.remember_many([x.item_id for x in learned],
                                   X[[row[x.item_id] for x in learned]]
                                   if learned else np.zeros((0, self.dim), np.float32),
                                   [x.label for x in learned])
        return plan

    def _hold(self, item_id: str, item: Item, reason: str, v: Verdict,
              store: LabelStore | LabelsRead,
              texts: Mapping[str, str], plan: Plan, suspicion: Suspicion | None,
              now: float) -> None:
        if item.learned is not None:  # a learned verdict became doubtful: unlearn it
            plan.changed.append(Change(item_id, item.learned, None, v.status))
            item.learned = None
            plan.relearn = True
        item.held = reason
        if item_id not in self._requested:
            plan.requests.append(self._request(item_id, texts, reason, v, suspicion, now, store))

    def _learnable(self, v: Verdict) -> bool:
        """Learn ``v`` now? A trusted verdict, yes. A doubtful one waits for an expert only if
        experts are configured (``expert_annotators``): with nobody to answer, holding it would
        lose the label for good, so it is learned as adjudicated and still reported."""
        if v.label is None:
            return False
        return v.trusted or not self.experts

    def _verdicts(self, ids: list[str], store: LabelStore | LabelsRead) -> dict[str, Verdict]:
        """Adjudicate ``ids``; multi-labelled ones with the recent multi-labelled items, so the
        annotators' error rates are estimated on more than this batch."""
        of = {i: store.labels_of(i) for i in ids}  # one query per item (the store is sqlite)
        for i in ids:
            if len(of[i]) >= 2:
                self._window[i] = None
                self._window.move_to_end(i)
        while len(self._window) > self.a.adjudication_window:
            self._window.popitem(last=False)
        several = any(len(of[i]) >= 2 for i in ids)
        pool = list(dict.fromkeys([*ids, *self._window])) if several else ids  # one label: as is
        labels = [x for i in pool for x in (of[i] if i in of else store.labels_of(i))
                  if self._trusted_annotator(x)]
        gold = {i: g for i, g in self.quality.gold.items() if i in self._window}
        fit = several and self.a.adjudication != "majority"
        self._since_fit += sum(len(of[i]) >= 2 for i in ids)
        if not several:  # one label each: no EM fit to learn from them (it cost ~0.2 s/record)
            return self._filled(ids, self.adjudicator.adjudicate_many(labels, gold,
                                                                      self._accuracies()))
        if fit and self._accuracy and self._since_fit < self.a.refit_every:
            labels = [x for i in ids for x in of[i] if self._trusted_annotator(x)]
            return self._filled(ids, self.adjudicator.adjudicate_many(labels, gold,
                                                                      self._accuracies()))
        verdicts = self.adjudicator.adjudicate_many(labels, gold)
        if fit:  # EM refitted on the window: its annotator accuracies serve until the next fit
            self._accuracy, self._since_fit = dict(self.adjudicator.accuracy), 0
        return self._filled(ids, verdicts)

    def _accuracies(self) -> dict[str, float]:
        """Per annotator: accuracy on gold once judged on ``min_gold`` items, else the last
        Dawid-Skene estimate."""
        out = dict(self._accuracy)
        out.update({a: s.accuracy for a, s in self.quality.report().items()
                    if s.total >= self.a.min_gold})
        return out

    def _filled(self, ids: list[str], verdicts: dict[str, Verdict]) -> dict[str, Verdict]:
        for i in ids:  # every label of the item left out (a distrusted annotator): no verdict
            if i not in verdicts:
                verdicts[i] = Verdict(i, None, 0.0, "escalated", "none")
        return verdicts

    def _observe_gold(self, labels: Sequence[Label], store: LabelStore) -> None:
        """Score crowd labels on gold: an item becomes gold with its first expert label (then
        all its crowd labels so far are scored); a crowd label on a gold item is scored once."""
        was_gold = set(self.quality.gold)
        self.quality.observe_many(x for x in labels
                                  if x.item_id in was_gold and x.annotator_id not in self.experts)
        for x in labels:
            if x.annotator_id in self.experts and x.item_id not in self.quality.gold:
                self.quality.add_gold(x.item_id, x.label)
                self.quality.observe_many(y for y in store.labels_of(x.item_id)
                                          if y.annotator_id not in self.experts)

    def _trusted_annotator(self, label: Label) -> bool:
        a = self.a
        if a.min_annotator_accuracy <= 0 or label.annotator_id in self.experts:
            return True
        score = self.quality.report().get(label.annotator_id)
        return score is None or score.total < a.min_gold or score.accuracy >= a.min_annotator_accuracy

    # ---- noise ------------------------------------------------------------------------------
    def _suspicions(self, ids: Sequence[str], X: np.ndarray, labels: Sequence[str],
                    snapshot: ModelSnapshot) -> list[Suspicion]:
        if not self.a.noise_check or not ids or not snapshot.ready:
            return []
        proba = snapshot.predict_proba_many(X)
        return self.flagger.flag_many(ids, X, labels, proba, snapshot.classes)

    def _remember(self, labels: Sequence[Label], X: np.ndarray) -> None:
        self.flagger.remember_many([x.item_id for x in labels], X, [x.label for x in labels])

    def _request(self, item_id: str, texts: Mapping[str, str], reason: str, v: Verdict | None,
                 suspicion: Suspicion | None, now: float,
                 store: LabelStore | LabelsRead | None = None) -> ExpertRequest:
        self._requested.add(item_id)
        labels = store.labels_of(item_id) if store is not None else []
        votes = v.votes if v is not None else {suspicion.label: 1} if suspicion else {}
        if v is not None:
            detail = (f"{v.n_labels} labels, best {v.label!r} at {v.confidence:.2f} < "
                      f"{self.a.min_confidence}" if reason == "disagreement" else "")
        else:
            detail = ""
        if suspicion is not None:
            detail = (f"label {suspicion.label!r}: model says {suspicion.model_label!r} at "
                      f"{suspicion.model_confidence:.2f}, {suspicion.neighbour_share:.0%} of "
                      f"labelled neighbours agree (mostly {suspicion.neighbour_label!r})")
        return ExpertRequest(
            item_id=item_id, text=texts.get(item_id, ""), reason=reason,
            detail=detail, votes=dict(votes), annotators={x.annotator_id: x.label for x in labels},
            best_label=v.label if v is not None else suspicion.label if suspicion else None,
            confidence=float(v.confidence) if v is not None else 1.0,
            model_label=suspicion.model_label if suspicion else None,
            model_confidence=suspicion.model_confidence if suspicion else None, at=now)

    # ---- relearning and restoring -----------------------------------------------------------
    def learned(self) -> list[tuple[str, str]]:
        """(item, label) of every item the learner should hold now."""
        return self.settled.learned()  # an open item has none: unsettled, or held unlearned

    def learned_labels(self) -> list[Label]:
        return [Label(i, y, ADJUDICATED, 0.0) for i, y in self.learned()]

    def relearn(self, old: OnlineLearner, embed: Embed,
                excluded: Collection[str] = frozenset(),
                uniform: Collection[str] = frozenset()) -> OnlineLearner:
        """A learner rebuilt from the current verdicts, continuing ``old``'s versions and its
        penalty and search schedule (:meth:`OnlineLearner.adopt_penalty`: no search in place
        for one changed verdict); ``excluded`` items (a rollback's, loop/rollback.py) are left
        out; ``uniform`` items (drawn uniformly from the stream) are flagged so again."""
        pairs = [(i, y) for i, y in self.learned() if i not in excluded]
        pairs = pairs[-self.learner_settings.memory:]  # what its replay memory would keep
        kept = self.flagger.vectors_of(i for i, _ in pairs)
        missing = [i for i, _ in pairs if i not in kept]
        kept |= dict(zip(missing, embed(missing), strict=True)) if missing else {}
        learner = OnlineLearner(self.dim, self.learner_settings)
        learner.version = old.version
        learner.temperature = old.temperature
        learner.adopt_unlabelled(old)
        learner.adopt_penalty(old, len(pairs))
        if pairs:
            learner.learn_many(np.stack([kept[i] for i, _ in pairs]), [y for _, y in pairs],
                               uniform=[i in uniform for i, _ in pairs])
        return learner

    def restore(self, stored: Sequence[Label], store: LabelStore, texts: Mapping[str, str],
                wanted: Mapping[str, tuple[int, float]], now: float,
                requested: Mapping[str, str] | None = None) -> list[Label]:
        """After a rebuild: the labels to learn from ``stored`` (every accepted label, in
        topic order). Verdicts of settled items; ``requested`` (item -> reason of each request
        on the expert topic) restores the holds: an item held for a suspicious label stays held
        while that label is its only one and no expert answered; an item held for a
        disagreement stays held, and its request is sent again (:attr:`outbox`) if it is not on
        the expert topic (the worker died before sending it). The noise check itself runs on
        live labels only: a suspicion decided but never sent is not found again."""
        requested = requested or {}
        self._requested |= set(requested)
        fresh = self.by_verdict and not self.open and not self.settled.written
        if not fresh:
            self._bought_many(wanted)
        for item_id in dict.fromkeys(x.item_id for x in stored if x.annotator_id in self.experts):
            expert = next(x for x in store.labels_of(item_id) if x.annotator_id in self.experts)
            self._observe_gold([expert], store)
        if not self.by_verdict:
            return list(stored)
        if fresh:
            return self._restore_fresh(stored, store, texts, wanted, now, requested)
        ids = list(dict.fromkeys(x.item_id for x in stored))
        ready = [i for i in ids if self._ready(i, store, now)]
        if not ready:
            return []
        verdicts = self._verdicts(ready, store)
        out, settled = [], []
        for i in ready:
            item, v = self._item(i), verdicts[i]
            item.settled = True
            if self._still_suspicious(i, v, store, requested):
                item.held = "suspicious_label"
            elif self._learnable(v):
                item.learned = v.label
                out.append(Label(i, v.label, ADJUDICATED, 0.0, v.confidence))
            else:
                item.held = "disagreement"
                if i not in self._requested:  # decided, never sent: send it now
                    self.outbox.requests.append(
                        self._request(i, texts, "disagreement", v, None, now, store))
            if item.held is None:  # what _keep does, the rows written at once
                settled.append((i, item.seq, item.wanted, item.learned))
                self.open.pop(i, None)
            else:
                self._keep(i, item)
        self.settled.put_many(settled)
        return out

    def _restore_fresh(self, stored: Sequence[Label], store: LabelStore,
                       texts: Mapping[str, str], wanted: Mapping[str, tuple[int, float]],
                       now: float, requested: Mapping[str, str]) -> list[Label]:
        """:meth:`restore` into a fresh instance (nothing open, nothing settled), without an
        :class:`Item` per settled item and with each item's labels read once: the same
        verdicts, rows and open items, in bulk (an :class:`Item`, a :meth:`_ready` and a
        :class:`Verdict` each cost seconds at 1M items)."""
        first = self._bought
        seq = dict(zip(wanted, range(first + 1, first + 1 + len(wanted)), strict=True))
        self._bought += len(wanted)
        extra: dict[str, tuple[int, float]] = {}  # labelled, never bought (should not happen)
        of: dict[str, list[Label]] = {}  # each item's labels, read once
        ready: dict[str, tuple[int, float]] = {}  # item -> (labels asked, deadline)
        for i in dict.fromkeys(x.item_id for x in stored):
            asked = wanted.get(i)
            if asked is None:
                self._bought += 1
                seq[i], asked = self._bought, (1, math.inf)
                extra[i] = asked
            labels = of[i] = store.labels_of(i)
            crowd = (len(labels) if not self.experts
                     else sum(x.annotator_id not in self.experts for x in labels))
            if crowd >= asked[0] or asked[1] < now or crowd < len(labels):  # as _ready
                ready[i] = asked
        if self._one_label_each(ready, of):
            out, settled, held = self._settle_one_label_each(ready, of, seq, requested)
        else:
            out, settled, held = self._settle_restored(ready, LabelsRead(store, of), texts, seq,
                                                       now, requested)
        closed = {row[0] for row in settled}
        for source in (wanted, extra):  # open in buying order, as bought() would have left it
            for i, (k, deadline) in source.items():
                if i not in closed:
                    self.open[i] = held.get(i) or Item(k, deadline, seq=seq[i])
        self.settled.put_many(settled)
        return out

    def _one_label_each(self, ready: Collection[str], of: Mapping[str, list[Label]]) -> bool:
        """Does :meth:`_verdicts` of ``ready`` take each item's one label as it is? Yes when
        no item has a second label (no fit, no window, no gold) and no annotator is left out
        for accuracy."""
        return self.a.min_annotator_accuracy <= 0 and not self._window and all(
            len(of[i]) == 1 for i in ready)

    def _settle_one_label_each(self, ready: Mapping[str, tuple[int, float]],
                               of: Mapping[str, list[Label]], seq: Mapping[str, int],
                               requested: Mapping[str, str]) -> tuple[list, list, dict]:
        """What :meth:`_settle_restored` gives when each item has one label: its class, at
        the confidence its annotator's label gets alone (:meth:`Adjudicator.one_label_each`),
        "single" (trusted) or an expert's; held only if it was held for a suspicious label."""
        first = [of[i][0] for i in ready]
        confidence = self.adjudicator.one_label_each(first, self._accuracies())
        suspicious = bool(self.experts) and any(r == "suspicious_label"
                                                for r in requested.values())
        out, settled, held = [], [], {}
        for (i, asked), x in zip(ready.items(), first, strict=True):
            if (suspicious and requested.get(i) == "suspicious_label"
                    and x.annotator_id not in self.experts):  # _still_suspicious: "single"
                held[i] = Item(*asked, settled=True, held="suspicious_label", seq=seq[i])
                continue
            out.append(Label(i, x.label, ADJUDICATED, 0.0, confidence[x.annotator_id]))
            settled.append((i, seq[i], asked[0], x.label))
        return out, settled, held

    def _settle_restored(self, ready: Mapping[str, tuple[int, float]], read: LabelsRead,
                         texts: Mapping[str, str], seq: Mapping[str, int], now: float,
                         requested: Mapping[str, str]) -> tuple[list, list, dict]:
        """Verdicts of ``ready``: (labels to learn, settled rows, items held)."""
        verdicts = self._verdicts(list(ready), read) if ready else {}
        out, settled, held = [], [], {}
        for i, asked in ready.items():
            v = verdicts[i]
            if self._still_suspicious(i, v, read, requested):
                held[i] = Item(*asked, settled=True, held="suspicious_label", seq=seq[i])
            elif self._learnable(v):
                out.append(Label(i, v.label, ADJUDICATED, 0.0, v.confidence))
                settled.append((i, seq[i], asked[0], v.label))
            else:
                held[i] = Item(*asked, settled=True, held="disagreement", seq=seq[i])
                if i not in self._requested:  # decided, never sent: send it now
                    self.outbox.requests.append(
                        self._request(i, texts, "disagreement", v, None, now, read))
        return out, settled, held

    def _bought_many(self, wanted: Mapping[str, tuple[int, float]]) -> None:
        """:meth:`bought` for each item of ``wanted`` (a rebuild's every item): with nothing
        settled yet (a fresh instance), without a query per item."""
        if not self.by_verdict:
            return
        if self.settled.written:
            for item_id, (k, deadline) in wanted.items():
                self.bought(item_id, k, deadline)
            return
        for item_id, (k, deadline) in wanted.items():
            if item_id not in self.open:
                self._bought += 1
                self.open[item_id] = Item(k, deadline, seq=self._bought)

    def _still_suspicious(self, item_id: str, v: Verdict, store: LabelStore | LabelsRead,
                          requested: Mapping[str, str]) -> bool:
        """Held for a suspicious label before the rebuild, and nothing since changed that:
        experts are configured, none answered, the suspicious label is still the only one."""
        return (requested.get(item_id) == "suspicious_label" and bool(self.experts)
                and v.status == "single" and len(store.labels_of(item_id)) == 1)

    def remember_restored(self, learned: Sequence[Label], X: np.ndarray) -> None:
        """Embeddings of what :meth:`restore` returned (the neighbour check's memory)."""
        self._remember(learned, X)


class LabelsRead:
    """The label store as one record's settling reads it: each item's labels are queried once
    (the store is sqlite, and settling an item reads them up to five times). Nothing may be
    added to the store while one is in use."""

    def __init__(self, store: LabelStore, read: dict[str, list[Label]] | None = None) -> None:
        """``read``: items' labels already read (a rebuild's)."""
        self.store = store
        self._of: dict[str, list[Label]] = {} if read is None else read

    def labels_of(self, item_id: str) -> list[Label]:
        found = self._of.get(item_id)
        if found is None:
            found = self._of[item_id] = self.store.labels_of(item_id)
        return found


def _received(store: LabelStore | LabelsRead, item_id: str) -> float:
    """When the item's last label reached a worker."""
    return max((x.received_at for x in store.labels_of(item_id)), default=0.0)

