"""A rebuild from an image of an earlier rebuild plus the records after it (the checkpoint's
format 3, loop/resume.py) leaves the state a rebuild of every record leaves: the same label
store, hash, settled verdicts, open and held items, requests to send again, learned rows,
bought texts, cost-model times, agreement window, gold and learner weights
(:func:`restored_state` of test_restore_bulk.py). A suffix that could change what the image's
history decided is refused, naming why, and the caller rebuilds from every record."""

from __future__ import annotations

import dataclasses

import pytest

from stream_al.embed import make_embedder
from stream_al.labels import Label
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import Purchase
from stream_al.loop.restore import History
from stream_al.loop.resume import CoordinatorImage, NotResumable, image_of, resume
from stream_al.select.stack import find
from stream_al.select.validation import VALIDATION_REASON, ValidationTrickle
from tests.loop.test_restore_bulk import (
    EXPERT,
    NOW,
    digest,
    history,
    restored_state,
    settings,
)

SPLIT = 180
"""Items i-0 .. i-179 and their labels are the image's history H; the rest is the suffix S."""
EXPIRED_LATER = {"i-5": 1.0, "i-185": 1.0}
"""Expiries on the suffix: an item of H still waiting for a label, and one of S."""


def number(item_id: str) -> int:
    return int(item_id.split("-")[1]) if item_id.startswith("i-") else -1


def split_history(one_each: bool = True, experts_in_suffix: bool = False):
    """H and S of one history: purchases before their labels, the suffix's labels newer than
    H's (a label's time follows its item's number), a vendor's retry of H's labels in S."""
    bought, labels, requested = history(one_each=one_each)
    labels = sorted(labels, key=lambda x: (number(x.item_id), x.timestamp))
    if not experts_in_suffix:
        labels = [x for x in labels if number(x.item_id) < SPLIT or x.annotator_id != EXPERT]
    h = ([s for s in bought if number(s.item_id) < SPLIT],
         [x for x in labels if number(x.item_id) < SPLIT],
         {i: r for i, r in requested.items() if number(i) < SPLIT})
    s = ([s for s in bought if number(s.item_id) >= SPLIT],
         [x for x in labels if number(x.item_id) >= SPLIT] + h[1][10:14],  # retries: once
         EXPIRED_LATER)
    return h, s, requested


def fresh(adjudication: str, share: float = 0.0) -> Coordinator:
    """A coordinator on the tests' settings (``share``: ``selection.validation_share``)."""
    embedder = make_embedder(settings().embedder)
    configured = settings(adjudication)
    configured = configured.model_copy(update={"selection": configured.selection.model_copy(
        update={"validation_share": share})})
    return Coordinator(configured, embedder.dim, embedder)


def full_rebuild(adjudication: str, h, s, requested, share: float = 0.0) -> Coordinator:
    c = fresh(adjudication, share)
    c.restore(History(h[0] + s[0], s[2], h[1] + s[1], None, 0, NOW, requested=requested))
    return c


def image(adjudication: str, h, share: float = 0.0) -> CoordinatorImage:
    c = fresh(adjudication, share)
    c.restore(History(h[0], {}, h[1], None, 0, NOW - 0.5, requested=h[2]))
    return image_of(c, h[2])


def resumed(adjudication: str, img: CoordinatorImage, s, requested,
            share: float = 0.0) -> Coordinator:
    c = fresh(adjudication, share)
    resume(c, img, History(s[0], s[2], s[1], None, 0, NOW, requested=requested))
    return c


@pytest.mark.parametrize("adjudication", ["majority", "dawid_skene"])
def test_an_image_and_the_suffix_after_it_leave_the_state_a_full_rebuild_leaves(adjudication):
    h, s, requested = split_history()
    full = full_rebuild(adjudication, h, s, requested)
    again = resumed(adjudication, image(adjudication, h), s, requested)
    assert digest(restored_state(again)) == digest(restored_state(full))
    assert again.stage.outstanding.keys() == full.stage.outstanding.keys()
    assert again.stage.budget.spent == full.stage.budget.spent
    assert len(again.learned) == len(full.learned)
    assert repr(vars(again.pricing.model)) == repr(vars(full.pricing.model))


def test_the_split_history_has_what_the_equivalence_needs():
    """Holds for an expert, an expert's label in H, items open with and without labels, an
    expiry of an item of H in S, a request of S, a vendor's retry of H's labels in S."""
    h, s, requested = split_history()
    c = full_rebuild("dawid_skene", h, s, requested)
    held = {i: it.held for i, it in c.annotating.open.items() if it.held}
    assert "suspicious_label" in held.values()
    assert any(number(i) >= SPLIT for i in held)
    assert any(x.annotator_id == EXPERT for x in h[1])
    assert any(not it.settled for it in c.annotating.open.values())
    assert "i-5" in {s.item_id for s in h[0]} and not any(x.item_id == "i-5" for x in h[1])
    assert set(h[1]) & set(s[1])


def test_a_label_h_folded_and_the_suffix_brings_again_counts_once():
    """The ``labels`` offsets an image records may be behind what it folded: the overlap is a
    duplicate per (item, annotator), not a second label."""
    h, s, requested = split_history()
    overlap = (s[0], s[1] + h[1], s[2])  # every label of H again
    img = image("majority", h)
    assert digest(restored_state(resumed("majority", img, overlap, requested))) == \
        digest(restored_state(full_rebuild("majority", h, s, requested)))


def test_an_image_is_made_once_and_resumed_twice_the_same():
    h, s, requested = split_history()
    img = image("majority", h)
    first = digest(restored_state(resumed("majority", img, s, requested)))
    assert digest(restored_state(resumed("majority", img, s, requested))) == first


@pytest.mark.parametrize(("change", "why"), [
    (lambda h, s: (s[0], s[1] + [Label("i-2", "World", "ann-9", 5e3)], s[2]),
     "labelled before the image"),
    (lambda h, s: (s[0], s[1] + [Label("i-200", "World", EXPERT, 5e3)], s[2]), "expert"),
    (lambda h, s: (s[0], s[1] + [Label("i-201", "World", "ann-9", 5e3)], s[2]),
     "several labels"),
    (lambda h, s: (s[0], s[1] + [Label("i-203", "World", "ann-1", 1.0)], s[2]), "older"),
])
def test_a_suffix_that_could_change_what_h_decided_is_refused(change, why):
    """A new label of a settled item (its verdict would be decided again with it), an
    expert's label (gold moves every verdict's weight), two labels on one item (Dawid-Skene's
    fit), a label older than H's newest (the cost model's gaps): the caller rebuilds in full."""
    h, s, requested = split_history()
    s = change(h, s)
    if why == "older":
        s = (s[0], [x for x in s[1] if x.item_id != "i-203"] + s[1][-1:], s[2])
    with pytest.raises(NotResumable, match=why):
        resumed("dawid_skene", image("dawid_skene", h), s, requested)


def test_an_expert_request_on_an_item_of_h_is_refused():
    h, s, requested = split_history()
    with pytest.raises(NotResumable, match="expert requests"):
        resumed("majority", image("majority", h), s, {**requested, "i-2": "suspicious_label"})


def test_an_item_of_h_open_with_a_label_whose_deadline_passed_since_is_refused():
    h, s, requested = split_history()
    late = [dataclasses.replace(p, deadline=NOW - 2) if p.item_id == "i-3" else p
            for p in h[0]]  # i-3 asks 3 labels, has 1: open, due at NOW - 2
    c = fresh("majority")
    c.restore(History(late, {}, h[1], None, 0, NOW - 5, requested=h[2]))
    img = image_of(c, h[2])
    assert "i-3" in img.open_labelled
    with pytest.raises(NotResumable, match="past their deadline"):
        resumed("majority", img, s, requested)


def test_an_image_of_multi_labelled_items_is_refused_under_verdicts():
    h, s, requested = split_history(one_each=False)
    with pytest.raises(NotResumable, match="multi-labelled"):
        resumed("dawid_skene", image("dawid_skene", h), s, requested)


def test_the_suffix_s_purchase_of_an_item_h_bought_is_the_first_one():
    h, s, requested = split_history()
    again = Purchase("i-3", "another text", "b", "u", "u", {}, 0, NOW + 1, 9.0, 0)
    s2 = ([again, *s[0]], s[1], s[2])
    c = resumed("majority", image("majority", h), s2, requested)
    assert c.texts["i-3"] == next(p.text for p in h[0] if p.item_id == "i-3")
    assert digest(restored_state(c)) == digest(restored_state(
        full_rebuild("majority", h, s2, requested)))


def test_an_image_of_a_resumed_rebuild_resumes_as_a_full_rebuild():
    """Checkpoints follow each other: the image of (image + suffix) + the next suffix."""
    h, s, requested = split_history()
    first = ([p for p in s[0] if number(p.item_id) < 210],
             [x for x in s[1] if number(x.item_id) < 210], {})
    second = ([p for p in s[0] if number(p.item_id) >= 210],
              [x for x in s[1] if number(x.item_id) >= 210], s[2])
    between = {i: r for i, r in requested.items() if number(i) < 210}
    c = resumed("majority", image("majority", h), first, between)
    again = resumed("majority", image_of(c, between), second, requested)
    assert digest(restored_state(again)) == digest(restored_state(
        full_rebuild("majority", h, s, requested)))


@pytest.mark.parametrize("adjudication", ["majority", "dawid_skene"])
def test_a_coordinator_made_only_to_be_imaged_makes_the_same_image(adjudication):
    """``image_only`` (a checkpoint's writer) skips the embeddings and the learner: the images
    it makes, of a restore and of a resume, resume to the same state as the others."""
    h, s, requested = split_history()
    lean = fresh(adjudication)
    lean.image_only = True
    lean.restore(History(h[0], {}, h[1], None, 0, NOW - 0.5, requested=h[2]))
    assert lean.learner.version == 0 and not lean.embeddings
    full = digest(restored_state(resumed(adjudication, image(adjudication, h), s, requested)))
    assert digest(restored_state(resumed(adjudication, image_of(lean, h[2]), s,
                                         requested))) == full
    again = fresh(adjudication)
    again.image_only = True
    resume(again, image(adjudication, h),
           History(s[0], s[2], s[1], None, 0, NOW, requested=requested))
    empty = ([], [], s[2])
    assert digest(restored_state(resumed(adjudication, image_of(again, requested), empty,
                                         requested))) == digest(restored_state(
                                             full_rebuild(adjudication, h, s, requested)))


def drawn(purchases: list[Purchase]) -> list[Purchase]:
    """Every 7th bought as a uniform draw (select/validation.py)."""
    return [dataclasses.replace(p, reason=VALIDATION_REASON) if number(p.item_id) % 7 == 0
            else p for p in purchases]


def test_the_validation_draws_of_the_image_and_the_suffix_are_flagged_as_in_a_full_rebuild():
    h, s, requested = split_history()
    h, s = (drawn(h[0]), *h[1:]), (drawn(s[0]), *s[1:])
    full = full_rebuild("majority", h, s, requested)
    again = resumed("majority", image("majority", h), s, requested)
    assert {number(i) % 7 for i in full.uniform} == {0} and again.uniform == full.uniform
    assert full.learner.replay.uniform.any()
    assert again.learner.replay.uniform.tolist() == full.learner.replay.uniform.tolist()


def test_the_trickle_goes_on_from_the_image_and_the_suffix_as_from_a_full_rebuild():
    """A trickle counts the purchases and uniform draws restored (its start, its catch-up:
    select/validation.py), the same whether restored from every record or from an image."""
    h, s, requested = split_history()
    h, s = (drawn(h[0]), *h[1:]), (drawn(s[0]), *s[1:])
    full = full_rebuild("majority", h, s, requested, share=0.1)
    again = resumed("majority", image("majority", h, share=0.1), s, requested, share=0.1)
    counts = [(t.bought, t.drawn) for t in (find(c.stage.selector, ValidationTrickle)
                                            for c in (full, again))]
    uniform = sum(p.reason == VALIDATION_REASON for p in h[0] + s[0])
    assert counts == [(len({p.item_id for p in h[0] + s[0]}), uniform)] * 2
