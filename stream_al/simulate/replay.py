"""The one replay loop: a dataset streamed through the coordinator the Kafka worker runs.

:class:`Replay` does what the worker's scorers, labels agents and chores do, on a simulated
clock (``simulation.seconds_per_item`` seconds per stream item) instead of a broker:

- scorers: each chunk of rows is scored (``score_many``) on the last *published* model and
  handed to :meth:`Coordinator.on_scored` as :class:`~stream_al.loop.records.ScoredTexts`, with
  its stream positions as texts offsets; with ``simulation.partitions`` > 1 the chunk is dealt
  over that many texts partitions, one record each, and with ``scale.preselect`` each
  partition's scorer forwards only candidates (:class:`~stream_al.loop.candidates.Forwarding`,
  as the Kafka scorers do), their embeddings in ``scale.precision``; with
  ``scale.ood_at_scorers`` the scorers check the candidates for OOD against the labelled rows
  the coordinator learned, which reach them ``simulation.reference_lag`` stream items later
  (select/ood_check.py); with ``simulation.scorers`` W > 1 the partitions are dealt over W
  scorers (partition p to scorer p mod W), each calibrating its own OOD threshold on its own
  candidates and summing its own candidates' drift features, as W Kafka workers do;
- labels agents and admission: what the vendor answered, less what the admission caps refuse
  (:mod:`stream_al.loop.admission`, as the worker's shell does), goes to
  :meth:`Coordinator.on_labels`;
- vendors: what is bought goes to a :class:`~stream_al.simulate.vendor.Vendor` (a
  :class:`~stream_al.simulate.vendor.SimulatedVendor`, or the timed annotators of
  :mod:`stream_al.simulate.annotators`), whose labels come back ``label_delay`` items later
  through :meth:`Coordinator.on_labels`;
- chores: after every chunk the last model is published and late selections expire; at the
  end of the stream, the idle flush spends what the budget still allows.

So selection (the stack of :func:`stream_al.select.stack.build_stage`), pricing, adjudication,
the OOD cap, the drift response and calibration run exactly as live. With ``record=True`` every
call into the coordinator is kept (:attr:`Replay.steps`): the equivalence test replays them
through the Kafka shell's conversions into a fresh coordinator.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from stream_al.config import Settings, SimulationSettings
from stream_al.embed.base import Embedder
from stream_al.embed.precision import round_trip_many
from stream_al.labels import Label
from stream_al.learn.regularisation import SearchResult, SearchTask, run_search
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.admission import Admission
from stream_al.loop.candidates import Forwarding
from stream_al.loop.coordinator import IDLE_FLUSH_S, Coordinator
from stream_al.loop.records import LabelOutcome, ModelRelease, Purchase, ScoredTexts
from stream_al.score.batch import score_many
from stream_al.simulate.vendor import Vendor


@dataclass(frozen=True)
class Step:
    """One call into the coordinator, as the worker would make it."""

    kind: Literal["scored", "labels", "publish", "expire", "flush"]
    now: float
    offset: int = -1
    scored: ScoredTexts | None = None
    labels: tuple[Label, ...] = ()
    force: bool = False


@dataclass
class Replayed:
    """What came out of the coordinator."""

    purchases: list[Purchase] = field(default_factory=list)
    releases: list[ModelRelease] = field(default_factory=list)
    labels_used: int = 0
    gains: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    """Labels the admission caps kept from the coordinator, per reason (``class_cap``: a new
    class over ``kafka.new_classes_per_hour``; ``invalid_field``: over
    ``annotation.max_annotators``), as the worker dead-letters them."""


class Replay:
    """Feeds ``coordinator`` the rows of a dataset (``texts``, embeddings ``X``) in chunks.

    ``simulation``: the clock (``seconds_per_item``) and the texts partitions the chunks are
    dealt over; ``admission``: the caps on labels before the coordinator; ``forwarding``: what
    the scorer forwards, or one per scorer (partition p: scorer p mod their number; None:
    every text); ``precision``: of the embeddings on
    the way (``scale.precision``). :meth:`of` builds all of them from :class:`Settings`.
    """

    def __init__(self, coordinator: Coordinator, vendor: Vendor,
                 texts: Sequence[str], X: np.ndarray, simulation: SimulationSettings,
                 admission: Admission,
                 forwarding: Forwarding | Sequence[Forwarding] | None = None,
                 precision: str = "float32", record: bool = False) -> None:
        self.c = coordinator
        self.vendor = vendor
        self.texts = texts
        self.X = X
        self.seconds_per_item = simulation.seconds_per_item
        self.position = 0
        self.offset = -1
        self.model: ModelSnapshot = coordinator.learner.snapshot()
        """The last published model: what the scorers score with."""
        self.out = Replayed()
        self.admission = admission
        """The caps on labels the worker applies before its coordinator (loop/admission.py)."""
        self.steps: list[Step] | None = [] if record else None
        self._extra_s = 0.0
        self.partitions = simulation.partitions
        self.merge_records = simulation.merge_records
        if record and self.merge_records:
            raise ValueError("simulation.merge_records cannot be recorded as steps: the worker's "
                             "shell reads control one record at a time; set it false")
        self.scorers: list[Forwarding] = ([] if forwarding is None else [forwarding]
                                          if isinstance(forwarding, Forwarding)
                                          else list(forwarding))
        """What each scorer forwards (partition p: scorer p mod len)."""
        self.forwarding = self.scorers[0] if self.scorers else None
        self.precision = precision
        self.forwarded = 0
        """Texts that reached the coordinator (all of them without pre-selection)."""
        self.reference_lag = simulation.reference_lag
        self.search_lag = simulation.search_lag
        if record and self.search_lag is not None:
            raise ValueError("simulation.search_lag cannot be recorded as steps (the worker's "
                             "search process answers outside them); leave it null")
        self._searches: deque[tuple[int, SearchTask, SearchResult]] = deque()
        """Searches for l2 run apart, answering at a stream position (``search_lag``)."""
        self._rows_on_the_way: deque[tuple[int, np.ndarray]] = deque()
        """``scale.ood_at_scorers``: labelled rows the scorers take at a stream position."""

    @classmethod
    def of(cls, settings: Settings, strategy: str | None, embedder: Embedder,
           texts: Sequence[str], X: np.ndarray, vendor: Vendor, record: bool = False) -> Replay:
        """A fresh coordinator for ``settings`` and ``strategy``, driven as the worker drives
        it, with labels from ``vendor``.

        The simulator's composition root, as :func:`stream_al.stream.app.build_app` is the
        worker's: it takes the whole :class:`Settings` because it builds the coordinator (the
        core's root) and the simulated shell around it, and hands each part only its own: the
        admission caps ``kafka`` and ``annotation.max_annotators``, the scorers' forwarding
        ``scale``, ``budget`` and ``selection``, the clock and partitions ``simulation``.
        """
        coordinator = Coordinator(settings, X.shape[1], embedder, strategy,
                                  search_apart=settings.simulation.search_lag is not None)
        return cls(coordinator, vendor, texts, X, settings.simulation,
                   Admission(settings.kafka, settings.annotation.max_annotators),
                   [Forwarding(settings.scale, settings.budget, settings.selection,
                               ood=settings.ood, drift=settings.drift, scorer=k)
                    for k in range(settings.simulation.scorers)],
                   settings.scale.precision, record)

    @property
    def now(self) -> float:
        return self.position * self.seconds_per_item + self._extra_s

    # ---- the stream -------------------------------------------------------------------------
    def feed_many(self, rows: np.ndarray) -> list[Purchase]:
        """One chunk of stream rows: scored, offered, then labels due and chores."""
        rows = np.asarray(rows)
        self._reference_in()
        self._searches_in(self.position)
        X = self.X[rows]
        scores = score_many(self.model, X)
        positions = np.arange(self.position, self.position + len(rows))
        bought: list[Purchase] = []
        records: list[ScoredTexts] = []
        for p in range(self.partitions):
            mine = np.flatnonzero(positions % self.partitions == p)
            if not len(mine):
                continue
            scored = ScoredTexts(
                batch_id=f"b{self.position}-{p}", ids=[str(r) for r in rows[mine].tolist()],
                texts=[self.texts[r] for r in rows[mine].tolist()], X=X[mine],
                scores={k: v[mine] for k, v in scores.items()}, model_version=self.model.version,
                partitions=[p] * len(mine),
                offsets=(positions[mine] // self.partitions).tolist())
            if self.scorers:
                scored = self.scorers[p % len(self.scorers)].candidates_of(scored)
            if self.precision != "float32":
                scored = replace(scored, X=round_trip_many(scored.X, self.precision))
            self.forwarded += len(scored.ids)
            records.append(scored)
        if self.merge_records:
            bought += self._scored_many(records, self.now)
        else:
            for scored in records:
                bought += self._scored(scored, self.now)
        self.position += len(rows)
        self.deliver(self.now)
        self.chores(self.now)
        return bought

    def finish(self) -> None:
        """The stream went idle: flush, wait for every label owed, publish the last model."""
        self._extra_s += IDLE_FLUSH_S
        self._flush(self.now)
        last = self.vendor.last_due
        if last is not None and last > self.now:
            self._extra_s += last - self.now
        self.deliver(self.now)
        self._searches_in(None)  # the search process answered while the stream was idle
        self._extra_s += max(self.c.learner.settings.refit_every_s, 0.0) + 1.0
        self.chores(self.now)

    # ---- the worker's calls ----------------------------------------------------------------
    def deliver(self, now: float) -> LabelOutcome | None:
        """The labels the vendor has answered by ``now``, as one labels record, without those
        over the admission caps."""
        labels = [replace(x, received_at=now) for x in self.vendor.due_many(now)]
        labels, refused = self.admission.admit_many(labels, set(self.c.learner.classes), now)
        for _, r in refused:
            self.out.refused[r.reason] = self.out.refused.get(r.reason, 0) + 1
        if not labels:
            return None
        self.offset += 1
        self._log(Step("labels", now, self.offset, labels=tuple(labels)))
        outcome = self.c.on_labels(labels, self.offset, now)
        self._reference_out()
        self.admission.accepted_many(outcome.accepted)
        self.out.labels_used += len(outcome.accepted)
        self.out.gains += outcome.gains
        self._search_out()
        self._publish(now, force=False)
        return outcome

    def chores(self, now: float) -> None:
        """What the worker does every few hundred ms: the last model out, expiries."""
        self._publish(now, force=True)
        self._log(Step("expire", now))
        self.c.expire(now)
        self._search_out()

    def _search_out(self) -> None:
        """``simulation.search_lag``: a search the learner asked for runs (here, now: its
        choice does not depend on when) and answers ``search_lag`` stream items later."""
        while (task := self.c.take_search()) is not None:
            assert self.search_lag is not None
            self._searches.append((self.position + self.search_lag, task, run_search(task)))

    def _searches_in(self, position: int | None) -> None:
        """The searches answered by stream ``position`` (None: all) reach the coordinator."""
        while self._searches and (position is None or self._searches[0][0] <= position):
            _, task, result = self._searches.popleft()
            self.c.searched(task, result)

    def _scored(self, scored: ScoredTexts, now: float) -> Sequence[Purchase]:
        self.offset += 1
        self._log(Step("scored", now, self.offset, scored=scored))
        bought = self.c.on_scored(scored, self.offset, now)
        self._bought(bought, now)
        return bought

    def _scored_many(self, records: list[ScoredTexts], now: float) -> Sequence[Purchase]:
        """``records`` in one call (``simulation.merge_records``; not recorded as steps)."""
        first = self.offset + 1
        self.offset += len(records)
        bought = self.c.on_scored_many(
            [(r, first + k) for k, r in enumerate(records)], now)
        self._bought(bought, now)
        return bought

    def _flush(self, now: float) -> Sequence[Purchase]:
        self._log(Step("flush", now))
        bought = self.c.flush(now)
        self._bought(bought, now)
        return bought

    def _bought(self, bought: Sequence[Purchase], now: float) -> None:
        self.out.purchases += bought
        for p in bought:
            self.out.reasons[p.reason] = self.out.reasons.get(p.reason, 0) + 1
        self.vendor.buy_many(bought, now)

    def _publish(self, now: float, force: bool) -> None:
        self._log(Step("publish", now, force=force))
        release = self.c.model_update(now, force=force)
        if release is not None:
            self.out.releases.append(release)
            self.model = release.snapshot

    def _reference_out(self) -> None:
        """``scale.ood_at_scorers``: the labelled rows the coordinator learned go out to the
        scorers (in ``scale.precision``, as on the wire), due ``simulation.reference_lag``
        stream items later."""
        reference = self.c.reference
        if reference is None or self.forwarding is None:
            return
        _, rows = reference.take_many()
        if len(rows):
            if self.precision != "float32":
                rows = round_trip_many(rows, self.precision)
            self._rows_on_the_way.append((self.position + self.reference_lag, rows))

    def _reference_in(self) -> None:
        """The scorers take the rows due by now, in the order the coordinator learned them."""
        while self._rows_on_the_way and self._rows_on_the_way[0][0] <= self.position:
            rows = self._rows_on_the_way.popleft()[1]
            for scorer in self.scorers:  # every scorer takes every row
                scorer.labelled_many(rows)

    def _log(self, step: Step) -> None:
        if self.steps is not None:
            self.steps.append(step)
