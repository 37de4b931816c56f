"""Selectors spend within the budget, deterministically for a seed, each in its own way."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import BudgetSettings, SelectionSettings
from stream_al.select import (
    STRATEGIES,
    Budget,
    DiverseReservoir,
    Exp3Bandit,
    RandomSelector,
    VariableUncertainty,
    make_selector,
)
from tests.select.conftest import ColdModel, make_batch


def run(selector, batches, fraction=0.05):
    budget = Budget(fraction)
    chosen = []
    for batch in batches:
        budget.observe(len(batch))
        chosen += selector.select_many(batch, budget)
        assert budget.spent <= fraction * budget.seen + 1e-9
    return chosen, budget


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_spends_close_to_but_never_over_the_budget(name, batches):
    selector = make_selector(name, SelectionSettings(batch_interval=100), BudgetSettings(fraction=0.05),
                             ColdModel())
    chosen, budget = run(selector, batches)
    assert 0.5 * 0.05 * budget.seen <= len(chosen) <= 0.05 * budget.seen
    assert len({s.item_id for s in chosen}) == len(chosen)


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_same_seed_selects_the_same_items(name, batches):
    def ids():
        selector = make_selector(name, SelectionSettings(seed=7, batch_interval=100),
                                 BudgetSettings(fraction=0.05), ColdModel())
        return [s.item_id for s in run(selector, batches)[0]]

    assert ids() == ids()


def test_unknown_strategy_lists_the_valid_names():
    with pytest.raises(ValueError, match="choose one of random, uncertainty, diverse"):
        make_selector("greedy", SelectionSettings(), BudgetSettings(), ColdModel())


def test_random_ignores_scores(batches):
    chosen, _ = run(RandomSelector(0.05, seed=1), batches)
    margins = [s.scores["margin"] for s in chosen]
    assert 0.3 < np.mean(margins) < 0.7


def test_random_spends_the_whole_budget_like_the_strategies_it_is_compared_with(batches):
    for seed in range(5):
        chosen, budget = run(RandomSelector(0.05, seed=seed), batches)
        assert len(chosen) >= int(0.05 * budget.seen) - 1


def test_random_buys_every_stream_position_with_the_same_probability():
    runs, batch, counts = 1500, make_batch(40), np.zeros(40)
    for seed in range(runs):
        chosen, _ = run(RandomSelector(0.1, seed=seed), [batch], fraction=0.1)
        for s in chosen:
            counts[int(s.item_id.split("-")[1])] += 1
    assert counts.sum() == 4 * runs
    assert counts.min() / runs > 0.07 and counts.max() / runs < 0.13


def test_random_pays_a_purchase_it_could_not_afford_on_the_next_item_it_can():
    batch = make_batch(200)
    batch.costs[:] = 3.0
    batch.costs[1::2] = 1.0
    chosen, budget = run(RandomSelector(0.05, seed=3), [batch])
    assert budget.spent >= 0.05 * 200 - 3


def test_variable_uncertainty_prefers_uncertain_items(batches):
    chosen, _ = run(VariableUncertainty("margin", delta=0.25, seed=1), batches)
    assert np.mean([s.scores["margin"] for s in chosen]) > 0.6


def test_variable_uncertainty_tightens_after_labels_and_loosens_without():
    rule = VariableUncertainty("margin", threshold=0.5, step=0.1, delta=0.0)
    budget = Budget(1.0)
    batch = make_batch(1)
    batch.scores["margin"][:] = 0.9  # confidence 0.1 < 0.5: label it
    budget.observe(1)
    assert rule.select_many(batch, budget)
    assert rule.threshold == pytest.approx(0.45)
    batch.scores["margin"][:] = 0.0  # confidence 1.0: no label
    budget.observe(1)
    assert not rule.select_many(batch, budget)
    assert rule.threshold == pytest.approx(0.495)


def test_diverse_reservoir_memory_is_bounded_and_batches_cover_clusters(batches):
    selector = DiverseReservoir(ColdModel(), max_clusters=4, size=8, batch_interval=10_000)
    budget = Budget(0.05)
    for batch in batches:
        budget.observe(len(batch))
        selector.select_many(batch, budget)
        assert selector.fill <= selector.capacity == 32
    chosen = selector.flush(budget)
    assert 28 <= len(chosen) <= 32  # at most all held items; near-duplicates are skipped
    assert len({s.group for s in chosen}) == 4  # every cluster is represented


def test_diverse_batches_keep_similar_items_together(batches):
    selector = DiverseReservoir(ColdModel(), max_clusters=4, size=8, batch_interval=500)
    chosen, _ = run(selector, batches, fraction=0.1)
    groups = [s.group for s in chosen[:20]]
    assert groups == sorted(groups) or len(set(groups)) == 1


def test_bandit_moves_budget_towards_the_arm_with_more_gain(batches):
    arms = {"random": RandomSelector(0.05, seed=1), "uncertainty": VariableUncertainty(seed=2)}
    bandit = Exp3Bandit(arms, gamma=0.1, seed=0)
    for _ in range(200):
        bandit.reward_many(["uncertainty", "random"], [0.9, 0.1])
    weights = bandit.weights()
    assert weights["uncertainty"] > 0.8 > weights["random"]
    assert sum(weights.values()) == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.01, 0.5), sizes=st.lists(st.integers(0, 120), min_size=1, max_size=15),
       seed=st.integers(0, 10_000), name=st.sampled_from(STRATEGIES))
def test_property_no_strategy_ever_exceeds_the_budget(fraction, sizes, seed, name):
    selector = make_selector(name, SelectionSettings(seed=seed, batch_interval=50),
                             BudgetSettings(fraction=fraction), ColdModel())
    budget = Budget(fraction)
    for i, n in enumerate(sizes):
        batch = make_batch(n, seed=seed + i, start=1000 * i)
        budget.observe(n)
        selector.select_many(batch, budget)
        assert budget.spent <= fraction * budget.seen + 1e-9


@settings(max_examples=15, deadline=None)
@given(clusters=st.integers(1, 6), size=st.integers(1, 10),
       sizes=st.lists(st.integers(1, 200), min_size=1, max_size=10))
def test_property_reservoir_memory_never_exceeds_its_cap(clusters, size, sizes):
    selector = DiverseReservoir(ColdModel(), max_clusters=clusters, size=size,
                                batch_interval=10**9)
    budget = Budget(0.01)
    for i, n in enumerate(sizes):
        budget.observe(n)
        selector.select_many(make_batch(n, seed=i, start=1000 * i), budget)
        assert selector.fill <= clusters * size
