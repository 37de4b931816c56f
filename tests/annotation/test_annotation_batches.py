"""Batches group neighbours (less context switching) yet cover the space, and carry deadlines:
late items are offered again, then released from the budget."""

from collections import Counter

import numpy as np
import pytest

from stream_al.annotation.batches import (
    AnnotationBatch,
    BatchTracker,
    budget_share,
    make_batches,
    neighbourhoods,
)
from stream_al.select.base import Selection
from stream_al.select.budget import Budget


def selections(ag_news, n=200, cost=1.0):
    return [Selection(ag_news.ids[i], "diverse", "diverse", 1.0, cost=cost,
                      embedding=ag_news.X[i]) for i in range(n)]


def mean_within_similarity(X, groups):
    sims = []
    for g in groups:
        S = X[g] @ X[g].T
        sims.append((S.sum() - np.trace(S)) / (len(g) * (len(g) - 1)))
    return float(np.mean(sims))


def test_batches_hold_more_similar_items_than_random_batches(ag_news):
    X = ag_news.X[:200]
    grouped = mean_within_similarity(X, neighbourhoods(X, 20))
    rng = np.random.default_rng(0)
    random = np.mean([mean_within_similarity(X, np.array_split(rng.permutation(200), 10))
                      for _ in range(20)])
    assert grouped > random + 0.05


def test_batches_are_mostly_one_topic_and_early_batches_cover_every_topic(ag_news):
    labels = dict(zip(ag_news.ids, ag_news.labels, strict=True))
    batches = make_batches(selections(ag_news), batch_size=20, now=0.0, deadline_s=60.0)
    topics = [Counter(labels[s.item_id] for s in b.items) for b in batches]
    purity = np.mean([t.most_common(1)[0][1] / sum(t.values()) for t in topics])
    assert purity > 0.5  # random batches of 4 balanced classes: about 0.4
    first = {t.most_common(1)[0][0] for t in topics[:6]}
    assert first == set(ag_news.classes)


def test_every_item_lands_in_exactly_one_batch_with_the_deadline(ag_news):
    chosen = selections(ag_news, 95)
    batches = make_batches(chosen, batch_size=20, now=100.0, deadline_s=60.0, seed=1)
    assert sorted(len(b) for b in batches) == [15, 20, 20, 20, 20]
    ids = [s.item_id for b in batches for s in b.items]
    assert sorted(ids) == sorted(s.item_id for s in chosen)
    assert {b.deadline for b in batches} == {160.0}
    assert len({b.batch_id for b in batches}) == 5
    again = make_batches(chosen, batch_size=20, now=100.0, deadline_s=60.0, seed=1)
    assert [b.batch_id for b in again] == [b.batch_id for b in batches]


def test_selections_without_embeddings_are_refused_with_the_reason(ag_news):
    with pytest.raises(ValueError, match="group items by embedding"):
        make_batches([Selection("x", "random", "random", 1.0)], 10, 0.0, 60.0)


def test_items_answered_in_time_are_done_and_late_ones_are_reoffered_then_released():
    items = [Selection(f"i{n}", "random", "random", 1.0, cost=2.0) for n in range(3)]
    tracker = BatchTracker(max_offers=2)
    tracker.offer(AnnotationBatch("b1", items, 0.0, 60.0), needed={"i2": 2})
    assert tracker.labelled("i0", "ann-1")
    assert not tracker.labelled("i2", "ann-1")  # needs a second annotator
    assert tracker.expire(now=30.0).reoffer == []  # not late yet
    late = tracker.expire(now=61.0)
    assert sorted(o.selection.item_id for o in late.reoffer) == ["i1", "i2"]
    assert late.release == []
    tracker.offer(AnnotationBatch("b2", [o.selection for o in late.reoffer], 61.0, 121.0))
    assert tracker.out["i2"].answered == {"ann-1"} and tracker.out["i2"].offers == 2
    final = tracker.expire(now=122.0)
    assert final.reoffer == [] and sorted(o.selection.item_id for o in final.release) == ["i1", "i2"]
    assert tracker.out == {}
    shares = {o.selection.item_id: budget_share(o) for o in final.release}
    assert shares == {"i1": 2.0, "i2": 1.0}  # i2 got one of its two labels


def test_released_costs_go_back_to_the_budget():
    budget = Budget(0.1)
    budget.observe(100)
    item = Selection("i0", "random", "random", 1.0, cost=4.0)
    budget.spend(item.cost)
    tracker = BatchTracker(max_offers=1)
    tracker.offer(AnnotationBatch("b", [item], 0.0, 1.0))
    for offered in tracker.expire(now=2.0).release:
        budget.release(budget_share(offered))
    assert budget.spent == 0.0
