"""A coordinator rebuilt from the topics: what was bought, what expired, every label, the last
ledger and the last published model, folded into a fresh :class:`Coordinator`.

:func:`restore` folds a whole history; a resume (loop/resume.py) folds the suffix after an
image of an earlier restore through the same :func:`fold`. Only what the restored state holds
is re-embedded (loop/restore_rows.py), not every item ever bought; the window charges are
those of loop/window_charges.py, a rollback in force is resumed as loop/rollback.py says.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stream_al.labels import Label
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop import rollback
from stream_al.loop.records import BudgetLedger, Purchase, RollbackInForce
from stream_al.loop.restore_rows import (
    LabelsByItem,
    LazyRows,
    Learned,
    reservoir_sample,
    resumable,
)
from stream_al.loop.window_charges import window_charges
from stream_al.select.base import Selection
from stream_al.select.stack import find
from stream_al.select.stage import Outstanding
from stream_al.select.validation import UNIFORM_REASONS, ValidationTrickle

if TYPE_CHECKING:
    from stream_al.loop.coordinator import Coordinator


@dataclass(frozen=True)
class History:
    """What a rebuild read from the topics, in domain records: every purchase (``selected``),
    expiry (item -> when) and label; the last ledger (None: none written yet); the version of
    the last model published and, when kept, that model (its weights); the operator's
    rollback in force; every expert request on the expert topic (item -> reason); and
    ``now``, when the rebuild runs. A resume (loop/resume.py) takes the suffix's purchases
    and labels (the records after its image) and the rest of the whole history."""

    selected: Sequence[Purchase]
    expired: Mapping[str, float]
    labels: Sequence[Label]
    ledger: BudgetLedger | None
    model_version: int
    now: float
    rollback: RollbackInForce | None = None
    requested: Mapping[str, str] = field(default_factory=dict)
    model: ModelSnapshot | None = None


@dataclass(frozen=True)
class Restored:
    """What a rebuild from the topics recovered."""

    selected: int
    outstanding: int
    expired: int
    labels: int
    rejected_labels: int
    seen: int
    spent: float
    version: int
    embedded: int = 0
    """Texts re-embedded (bounded by the state's capacities: loop/restore_rows.py)."""


@dataclass
class Fold:
    """What :func:`fold` restores: a whole history's records, or the suffix after an image
    (loop/resume.py). The bought texts are added before."""

    items: dict[str, Purchase]
    """The purchases to fold, first per item id (of the suffix: those not bought before)."""
    texts: Mapping[str, str]
    """Every bought item's text (the suffix's in memory, the others from the store)."""
    labels: Iterable[Label]
    expired: Mapping[str, float]
    """Every expiry, of the whole history."""
    costs: array
    """Every bought item's cost in buying order, 0.0 if it expired (their sum is spent)."""
    recent: list[str]
    """The last items bought (the novelty index's)."""
    waiting: list[Purchase]
    """Purchases that may still wait for a label (those not expired nor labelled do)."""
    ahead: list[Purchase]
    """Purchases that may be charged to a window after the ledger's."""
    positions: Mapping[str, int] | None = None
    known: Sequence[str] = ()
    rejected: int = 0
    resumed: bool = False
    """From an image: :attr:`Coordinator.learned` holds what it learned before the suffix."""


@dataclass
class Base:
    """What a restore folded that the coordinator does not keep, and an image of it needs
    (loop/resume.py): kept by :func:`restore` until the next restore."""

    costs: array
    expired: Mapping[str, float]
    waiting: list[Purchase]
    """The purchases still outstanding after the restore."""
    ahead: list[Purchase]
    """Purchases charged to a window after the ledger's."""
    recent: list[str]
    rejected: int


def restore(c: Coordinator, history: History) -> Restored:
    """Rebuild ``c`` (a fresh coordinator) from ``history``. Its expert requests: held items
    stay held; a held item's request that never made it to the expert topic is sent again.
    Its model, when it learned every label restored: the learner continues from its weights
    and its served head's (no fit: loop/restore_rows.py) instead of fitting from scratch.

    Spent = cost of everything bought minus expiries; seen = the ledger's (it may lag
    after a crash, which only makes the budget smaller). The learner re-learns the accepted
    labels (a uniform sample of ``learner.memory``, what its reservoir would hold) from
    re-embedded texts and continues at ``model_version + 1``. Only what the restored state
    holds is re-embedded (loop/restore_rows.py), not every item ever bought.
    """
    items: dict[str, Purchase] = {}
    for s in history.selected:
        items.setdefault(s.item_id, s)
    texts = {i: s.text for i, s in items.items()}  # in memory while restoring (no queries)
    positions = None if len(c.texts) else {i: n for n, i in enumerate(items)}
    c.texts.add_many(texts.items())
    expired = history.expired
    costs = array("d", (0.0 if i in expired else s.cost for i, s in items.items()))
    return fold(c, Fold(items, texts, history.labels, expired, costs,
                        list(items)[-c.stage.novelty.capacity:],
                        list(items.values()), list(items.values()), positions), history)


def fold(c: Coordinator, records: Fold, history: History) -> Restored:
    """:func:`restore`'s steps after the bought texts, on ``records`` (all of ``history``, or
    its suffix after an image of an earlier restore: loop/resume.py)."""
    lazy = LazyRows(c.embedder.embed, records.texts, c.dim)
    whole = not c.image_only
    c.uniform.update(i for i, s in records.items.items() if s.reason in UNIFORM_REASONS)
    if records.recent and whole:
        c.stage.novelty.add_many(lazy.of(records.recent))
    new, rejected = c.store_many(records.labels, records.texts, records.known)
    stored = LabelsByItem(new)  # what c.labels holds now, grouped in memory
    verdicts = _settle(c, records, history, new, stored)
    n_learned = _relearn(c, records, history, verdicts, lazy, whole)
    if whole:
        _send_labelled_rows(c, lazy)
    c.published_version = history.model_version
    waiting = _outstanding(c, records, stored, lazy, whole)
    spent = sum(records.costs.tolist())  # as a sum over the items (0.0 adds nothing)
    _budget(c, spent, history.ledger, records.ahead, records.expired)
    c.stage.set_model(c.learner.snapshot())
    if (trickle := find(c.stage.selector, ValidationTrickle)) is not None:
        trickle.resume(c.annotating.purchases, len(c.uniform))  # its start, its catch-up
    c.base = _base(c, records, waiting, history.ledger, rejected)
    return Restored(
        selected=len(records.costs),
        outstanding=len(c.stage.outstanding),
        expired=len(records.expired),
        labels=n_learned,
        rejected_labels=rejected + records.rejected,
        seen=c.stage.budget.seen,
        spent=spent,
        version=c.learner.version,
        embedded=lazy.embedded,
    )


def _settle(c: Coordinator, records: Fold, history: History, new: Sequence[Label],
            stored: LabelsByItem) -> list[Label]:
    """The labels just stored teach the cost model (in time order) and settle the items they
    answer, as the annotating step decided them live: what is learned (its verdicts)."""
    c.pricing.observe_labels(sorted(new, key=lambda x: x.timestamp), records.texts)
    wanted = {i: (s.annotators, s.deadline) for i, s in records.items.items()}
    with c.annotating.settled.bulk():
        return c.annotating.restore(new, stored, records.texts, wanted, history.now,
                                    history.requested)


def _relearn(c: Coordinator, records: Fold, history: History, verdicts: list[Label],
             lazy: LazyRows, whole: bool) -> int:
    """The learner and the learned rows from the verdicts (after those of the image, when
    resumed); a rollback in force starts from the rolled-back model and never re-learns its
    exclusions. The number of labels learned."""
    learned = Learned(c.learned if records.resumed else (), verdicts)
    rows_of = _rows_of(lazy)
    recent = learned.tail(c.learner.settings.memory)
    if whole:
        c.annotating.remember_restored(recent, rows_of(recent))
    if history.rollback is not None:
        base, verdicts = rollback.resume(history.rollback, verdicts, c.learner, c.texts, rows_of,
                                         history.model_version, c.uniform)
        c.adopt(history.rollback, base)
        learned = Learned((), verdicts)
    if learned and whole:
        _continue_learner(c, learned, history, rows_of)
    n_learned = len(learned)
    if learned:
        c.learned.extend(learned.labels, records.positions)  # (learned reads it: last)
    return n_learned


def _continue_learner(c: Coordinator, learned: Learned, history: History,
                      rows_of: Callable[[Sequence[Label]], np.ndarray]) -> None:
    """The learner re-learns a uniform sample of ``learner.memory`` of the labels learned
    (what its reservoir would hold), from the last published model's weights as a new version
    when that model learned every one of them (no fit: loop/restore_rows.py), else fitted."""
    learner, model_version = c.learner, history.model_version
    learner.version = max(learner.version, model_version)
    kept = reservoir_sample(learned, learner.settings.memory, learner.settings.seed)
    flags = [x.item_id in c.uniform for x in kept]  # drawn uniformly: the search validates on them
    if history.rollback is None and resumable(history.model, learner, kept, len(learned)):
        learner.reset_to(history.model, rows_of(kept), [x.label for x in kept],
                         model_version + 1, flags)  # its weights, as a new version
        learner.replay.seen = len(learned)
    else:
        learner.learn_many(rows_of(kept), [x.label for x in kept], fit=False, uniform=flags)
        learner.replay.seen += len(learned) - len(kept)  # n_labels: all learned
        learner.fit()


def _send_labelled_rows(c: Coordinator, lazy: LazyRows) -> None:
    """The last learned rows to the OOD detector (unless the scorers keep them) and to the
    scorers again (``scale.ood_at_scorers``), as many as each holds."""
    if not c.learned:
        return
    rows_of = _rows_of(lazy)
    if c.health.keeps_ood_rows:
        c.health.ood.add_labelled_many(rows_of(c.learned.last(c.health.ood.settings.capacity)))
    if c.reference is not None:  # the scorers' rows, sent again
        c.reference.restored_many(len(c.learned), rows_of(c.learned.last(c.reference.capacity)))


def _outstanding(c: Coordinator, records: Fold, stored: LabelsByItem, lazy: LazyRows,
                 whole: bool) -> list[Purchase]:
    """The purchases still waiting for a label (not expired, none stored), outstanding on
    the stage again with their embeddings; returned in order."""
    waiting = [s.item_id for s in records.waiting
               if s.item_id not in records.expired and not stored.has_item(s.item_id)]
    purchases = {s.item_id: s for s in records.waiting}
    if whole:
        c.embeddings.update(zip(waiting, lazy.of(waiting), strict=True))
    for item_id in waiting if whole else ():
        s = purchases[item_id]
        selection = Selection(
            s.item_id,
            s.strategy,
            s.reason,
            s.priority,
            s.cost,
            s.group,
            dict(s.scores),
            c.embeddings[item_id],
        )
        c.stage.outstanding[item_id] = Outstanding.of(selection, s.deadline)
    return [purchases[i] for i in waiting]


def _base(c: Coordinator, records: Fold, waiting: list[Purchase], ledger: BudgetLedger | None,
          rejected: int) -> Base:
    """What an image of this restore needs besides the coordinator (loop/resume.py)."""
    window = c.stage.budget.window_items
    current = 0 if ledger is None else ledger.seen // window if window else None
    return Base(records.costs, records.expired, waiting, [
        s for s in records.ahead if current is not None and s.window > current], records.recent,
        rejected + records.rejected)  # ahead: what window_charges may count with any ledger


def _rows_of(lazy: LazyRows) -> Callable[[Sequence[Label]], np.ndarray]:
    """The rows of labels' items (embedded once each, when first asked)."""
    return lambda labels: lazy.of([x.item_id for x in labels])


def _budget(c: Coordinator, spent: float, ledger: BudgetLedger | None,
            items: Iterable[Purchase], expired: Mapping[str, float]) -> None:
    """Spending, each window's charges (loop/window_charges.py) and the drift response
    in progress (its clock and debt) and the pacer as the last ledger left them."""
    b = c.stage.budget
    b.spent = spent
    if ledger is None:
        return
    b.seen = ledger.seen
    b.window_seen = ledger.window_seen
    charges = window_charges(items, expired, spent, ledger, b.window_items)
    b.window_spent, b.carried = charges.window_spent, charges.carried
    c.control_offset = ledger.control_offset
    c.texts_offsets = dict(ledger.texts_offsets)
    c.governance.resume(ledger.drift_elapsed, ledger.drift_debt)
    c.governance.resume_pacing(ledger.pacing)
