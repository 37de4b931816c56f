"""A rebuild that continues from an image of an earlier one (the checkpoint's format 3).

:meth:`Coordinator.restore` folds every record a rebuild reads; at a million labels that is
most of a failover (sqlite inserts, a hash and a verdict per label). :func:`image_of` takes
what a restore of a *prefix* H of the topics left (the label store, the bought texts and the
settled verdicts as sqlite images, the learned rows as arrays, the hash's running sum, the
cost model's and the agreement window's state, the open items, the purchases still waiting,
each item's cost) and :func:`resume` loads it into a fresh coordinator, then folds only the
suffix S, the records after H, through the same steps as a restore. The learner, the novelty
index, the OOD rows and the waiting embeddings are rebuilt as a restore rebuilds them (they
are bounded: loop/restore_rows.py).

The invariant: ``resume(image_of(restore(H)), S)`` leaves the state ``restore(H + S)`` leaves
(``tests/loop/test_resume.py`` digests both). It holds whenever :func:`resume` accepts the
suffix; it refuses (:class:`NotResumable`, naming why: the caller restores H + S in full
instead) a suffix that could change what H decided:

- a label of an item H already had a label of (a new verdict for a settled item), an expert's
  label (gold moves the annotators' accuracies), a suffix where some item has two labels, or
  an image of a history with multi-labelled items (Dawid-Skene's fit spans every item);
- a label older than the newest of H (the cost model learns gaps over time-sorted labels);
- an expert request on an item H labelled (its hold would have been decided differently);
- an item H left open with labels whose deadline has passed since (it would settle in H's
  order);
- an operator's rollback in force (a rebuild then starts from the rolled-back model).

A label of S that H holds already (the same item and annotator: the ``labels`` offsets of an
image may be behind what H folded) is a duplicate and counts once, as in a restore.
"""

from __future__ import annotations

import copy
from array import array
from collections import ChainMap
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stream_al.errors import StreamAlError
from stream_al.labels import Label, LabelStore
from stream_al.loop.annotating import Item
from stream_al.loop.bought import BoughtTexts
from stream_al.loop.records import ExpertRequest, Purchase, RollbackInForce
from stream_al.loop.restore import Fold, History, Restored, fold
from stream_al.loop.settled import SettledItems

if TYPE_CHECKING:
    from stream_al.loop.coordinator import Coordinator


class NotResumable(StreamAlError, ValueError):
    """The suffix could change what the image's history decided: restore H + S in full."""


@dataclass
class CoordinatorImage:
    """What :meth:`Coordinator.restore` of a history H left, as data (see the module)."""

    labels: bytes
    """The label store (:meth:`LabelStore.image`)."""
    texts: bytes
    """The bought texts (:meth:`BoughtTexts.image`), in buying order."""
    settled: bytes
    """The settled verdicts (:meth:`SettledItems.image`)."""
    learned: tuple[array, array, array, list[str], list[str]]
    """The learned rows: item positions, class codes, annotator codes, classes, annotators."""
    costs: array
    """Each bought item's cost, in buying order (0.0 once expired)."""
    expired: dict[str, float]
    waiting: list[Purchase]
    """Bought, not expired, no label yet: what the stage still has outstanding, in order."""
    ahead: list[Purchase]
    """Purchases charged to a window after the ledger's (loop/window_charges.py)."""
    recent: list[str]
    """The last bought items (the novelty index's capacity)."""
    open: dict[str, Item]
    open_labelled: dict[str, float]
    """Open items (not settled) with some label: item -> deadline."""
    outbox: list[ExpertRequest]
    requested: set[str]
    quality: object
    bought: int
    labels_hash: int
    known: list[str]
    """Classes accepted, in first-accepted order (``label_policy: reject`` reads them)."""
    rejected: int
    newest: float
    """The newest timestamp among H's accepted labels."""
    pricing: tuple[int, dict, dict]
    """The cost model's learned times: observed, per annotator times, the model's state."""
    agreement: tuple[dict, Sequence[str]]
    one_each: bool
    """Every item of H had at most one label and nothing was fitted (no adjudication window)."""
    uniform: frozenset[str] = frozenset()
    """Items bought as uniform draws from the stream (:attr:`Coordinator.uniform`)."""


def image_of(c: Coordinator, requested: Mapping[str, str]) -> CoordinatorImage:
    """The image of ``c`` right after a restore (or a resume) with ``requested`` (nothing
    folded since)."""
    if c.rollback is not None:
        raise NotResumable("a rollback is in force: an image would not continue it")
    if c.base is None:
        raise ValueError("image_of takes a coordinator just restored: call restore first")
    a, base = c.annotating, c.base
    learned = c.learned
    return CoordinatorImage(
        labels=c.labels.image(), texts=c.texts.image(), settled=a.settled.image(),
        learned=learned.state(),
        costs=base.costs[:], expired=dict(base.expired), waiting=list(base.waiting),
        ahead=list(base.ahead), recent=list(base.recent),
        open=copy.deepcopy(a.open),
        open_labelled={i: it.deadline for i, it in a.open.items()
                       if not it.settled and c.labels.has_item(i)},
        outbox=list(a.outbox.requests), requested=set(requested),
        quality=copy.deepcopy(a.quality), bought=a.purchases,
        labels_hash=c.labels_hash.state(), known=c.labels.classes(), rejected=base.rejected,
        newest=c.labels.newest(),
        pricing=c.pricing.state(),
        agreement=c.agreement.state(),
        one_each=not a.several_labels_seen and c.labels.n_items == len(c.labels),
        uniform=frozenset(c.uniform),
    )


def check(c: Coordinator, image: CoordinatorImage, labels: Sequence[Label],
          bought: Container[str], requested: Mapping[str, str], now: float,
          state: RollbackInForce | None) -> None:
    """Raise :class:`NotResumable` if ``labels`` (the suffix's) or the rest could change what
    the image's history decided (the module's list); ``c``: the image loaded; ``bought``:
    the suffix's purchases (a label of an item bought nowhere is refused either way)."""
    if state is not None:
        raise NotResumable("a rollback is in force")
    a = c.annotating
    if a.by_verdict and not image.one_each:
        raise NotResumable("the image's history has multi-labelled items")
    new: dict[str, list[Label]] = {}
    for x in labels:
        if x.item_id not in bought and x.item_id not in c.texts:
            continue
        if x.item_id not in new and c.labels.has_item(x.item_id):
            if (x.item_id, x.annotator_id) in c.labels:
                continue  # a duplicate: it counts once
            raise NotResumable(f"a new label of item {x.item_id!r}, labelled before the image")
        new.setdefault(x.item_id, [])
        if x.annotator_id not in {y.annotator_id for y in new[x.item_id]}:
            new[x.item_id].append(x)
    fresh = [x for v in new.values() for x in v]
    if a.experts and any(x.annotator_id in a.experts for x in fresh):
        raise NotResumable("an expert's label in the suffix")
    if a.by_verdict and any(len(v) > 1 for v in new.values()):
        raise NotResumable("an item with several labels in the suffix")
    if c.pricing.cost.learn != "off" and any(x.timestamp < image.newest for x in fresh):
        raise NotResumable("a label older than the image's newest")
    if asked := [i for i in set(requested) - image.requested if c.labels.has_item(i)]:
        raise NotResumable(f"expert requests on items labelled before the image: "
                           f"{sorted(asked)[:3]}")
    if late := [i for i, d in image.open_labelled.items() if d < now]:
        raise NotResumable(f"open items past their deadline since the image: {late[:3]}")


def load(c: Coordinator, image: CoordinatorImage) -> None:
    """Put ``image`` into ``c`` (a fresh coordinator)."""
    c.labels = LabelStore.of_image(image.labels)
    c.labels_hash.load_state(image.labels_hash)
    c.texts = BoughtTexts.of_image(image.texts)
    c.learned = ()  # a fresh table over the image's bought texts
    c.learned.load_state(image.learned)
    a = c.annotating
    a.settled = SettledItems.of_image(image.settled)
    a.open = copy.deepcopy(image.open)
    a.continue_from(image.bought)
    a.quality = copy.deepcopy(image.quality)
    c.pricing.load_state(image.pricing)
    c.agreement.load_state(image.agreement)
    c.uniform = set(image.uniform)


def resume(c: Coordinator, image: CoordinatorImage, suffix: History) -> Restored:
    """What ``c.restore`` of H + S gives, from ``image`` (of H) and ``suffix``: the purchases
    (``selected``) and labels of S; its ``expired``, ``requested``, ``ledger`` and ``model``
    are the whole history's, as for a restore. Call on a fresh coordinator;
    :class:`NotResumable` when the suffix could change what H decided (``c`` then holds
    part of the image: restore H + S into another)."""
    labels, selected = suffix.labels, suffix.selected
    expired, requested = suffix.expired, suffix.requested
    load(c, image)
    check(c, image, labels, {s.item_id for s in selected}, requested, suffix.now,
          suffix.rollback)
    n_before = len(c.texts)
    items: dict[str, Purchase] = {}
    for s, was in zip(selected, c.texts.contains_many([s.item_id for s in selected]),
                      strict=True):
        if not was:
            items.setdefault(s.item_id, s)
    suffix_texts = {i: s.text for i, s in items.items()}
    c.texts.add_many(suffix_texts.items())
    costs = image.costs[:]
    for i in set(expired) - set(image.expired):
        if (at := c.texts.position(i)) is not None and at < n_before:
            costs[at] = 0.0  # adding 0.0 keeps the sum a restore makes, to the last bit
    costs.extend(0.0 if i in expired else s.cost for i, s in items.items())
    c.annotating.outbox.requests = [r for r in image.outbox if r.item_id not in requested]
    return fold(c, Fold(
        items, ChainMap(suffix_texts, c.texts), labels, expired, costs,
        (image.recent + list(items))[-c.stage.novelty.capacity:],
        image.waiting + list(items.values()), image.ahead + list(items.values()),
        known=image.known, rejected=image.rejected, resumed=True,
    ), suffix)
