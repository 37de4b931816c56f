"""Prices in labels, minutes or money, k annotators per item, labelling times learned."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.labels import Label
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.pricing import Pricing
from stream_al.select.cost_aware import CostAware


def pricing_of(settings: Settings) -> Pricing:
    return Pricing(settings.cost, settings.annotation, seed=settings.selection.seed,
                   warmup=float(settings.budget.warmup_labels))


def test_a_label_budget_charges_one_per_annotator_asked():
    pricing = pricing_of(Settings.load(annotation={"gold_fraction": 0.3, "gold_annotators": 3}))
    ids = [f"i{n}" for n in range(1000)]
    costs, k = pricing.price_many(ids, ["text"] * len(ids))
    assert set(k.tolist()) == {1, 3} and 0.25 < np.mean(k == 3) < 0.35
    assert costs.tolist() == k.astype(float).tolist()
    assert [pricing.annotators(i) for i in ids[:20]] == k[:20].tolist()


def test_a_minute_budget_prices_long_items_higher_and_multiplies_by_k():
    settings = Settings.load(cost={"unit": "minutes", "amount": 1.0, "period_items": 100,
                                   "base_seconds": 5, "seconds_per_char": 0.05,
                                   "reference_chars": 100},
                             annotation={"low_confidence": 0.5})
    pricing = pricing_of(settings)
    costs, k = pricing.price_many(["a", "b", "c"], ["x" * 100, "x" * 400, "x" * 100],
                                  np.array([0.9, 0.9, 0.2]))
    assert k.tolist() == [1, 1, 3]
    assert costs.tolist() == pytest.approx([1.0, 2.5, 3.0])  # 10 s is one unit; 25 s; 3 x 10 s
    assert pricing.units(1.0) == pytest.approx(10 / 60)  # one ledger unit = 10 s in minutes


def test_labelling_times_are_learned_from_each_annotators_consecutive_timestamps():
    settings = Settings.load(cost={"unit": "minutes", "base_seconds": 30, "seconds_per_char": 0,
                                   "prior_weight": 1, "learn": "linear"})
    pricing = pricing_of(settings)
    texts = {f"i{n}": "x" * 100 for n in range(60)}
    # annotator a takes 10 s per item; b's labels arrive out of order; a break of 20 min
    labels = [Label(f"i{n}", "y", "a", 1000.0 + 10 * n) for n in range(30)]
    labels += [Label(f"i{n}", "y", "b", 5000.0 + 10 * (59 - n)) for n in range(30, 60)]
    labels += [Label("i0", "y", "a", 1000.0 + 10 * 29 + 1200)]
    assert pricing.observe_labels(labels, texts) == 29 + 29
    assert pricing.seconds(100) == pytest.approx(10.0, abs=1.0)


def test_the_coordinator_spends_a_minute_budget_on_k_annotator_items(embedder, rows):
    """Live path: prices by length and k on selected items, the ledger in minutes, and the
    cost model learning from the labels' timestamps."""
    from tests.loop.test_coordinator import Feed

    settings = Settings.load(
        embedder={"name": "hashing"}, selection={"batch_interval": 50},
        cost={"unit": "minutes", "amount": 3.0, "period_items": 100, "reference_chars": 200},
        annotation={"gold_fraction": 0.3, "gold_annotators": 3})
    feed = Feed(Coordinator(settings, embedder.dim, embedder), embedder, rows)
    bought = [x for start in range(0, 400, 50) for x in feed.texts(start, start + 50)]
    bought += feed.c.flush(now=200.0)
    pricing = feed.c.pricing
    assert {x.annotators for x in bought} == {1, 3}
    for x in bought:
        one = pricing.budget.cost_many(np.array([len(x.text)], dtype=float))[0]
        assert x.cost == pytest.approx(one * x.annotators, rel=1e-5)
    spent_minutes = pricing.units(sum(x.cost for x in bought))
    assert spent_minutes <= 3.0 * 400 / 100 + 1e-6  # 3 minutes per 100 stream items
    assert spent_minutes == pytest.approx(pricing.units(feed.c.stage.budget.spent))
    before = pricing.seconds(200)
    for n, x in enumerate(bought):  # annotator "a" takes 4 s per item, whatever its length
        feed.labels([x.item_id], now=1000.0 + 4 * n)
    assert pricing.observed == len(bought) - 1
    assert pricing.seconds(200) < before  # the prior (6 s + 0.06 s/char = 18 s) comes down


@pytest.fixture(scope="module")
def rows():
    import csv

    from tests.loop.test_coordinator import AG_NEWS
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        return [(r["text"], r["label"]) for _, r in zip(range(400), csv.DictReader(f),
                                                         strict=False)]


@pytest.fixture(scope="module")
def embedder():
    from stream_al.embed import make_embedder
    return make_embedder(Settings(embedder={"name": "hashing", "hashing_features": 2**14}).embedder)


def test_cost_aware_ranking_uses_one_labels_price_when_an_item_asks_for_several():
    from stream_al.score.batch import ScoredBatch
    from stream_al.select.random import RandomSelector

    batch = ScoredBatch(["a", "b", "c"], np.eye(3, 4, dtype=np.float32),
                        {"margin": np.full(3, 0.8, np.float32),
                         "annotators": np.array([1, 3, 1], np.float32)},
                        costs=np.array([1.0, 3.0, 3.0], np.float32))
    margin = CostAware(RandomSelector(0.1))._rescaled(batch).scores["margin"]
    assert margin[0] == margin[1] > margin[2]  # b: 3 labels of price 1; c: 1 label of price 3
