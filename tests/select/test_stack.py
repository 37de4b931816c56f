"""The selection stack as every driver builds it (stream_al/select/stack.py), and the selector
contract run on whatever the builder returns: every strategy under every combination of
wrappers (cost awareness, budget pacing, OOD cap, drift response with and without credit)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import Settings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.health import DataHealth
from stream_al.loop.pricing import Pricing
from stream_al.ood import OODDetector
from stream_al.select.budget import Budget
from stream_al.select.cost_aware import CostAware
from stream_al.select.drift_aware import DriftAwareSelector
from stream_al.select.factory import STRATEGIES as NAMES
from stream_al.select.ood_cap import OOD_REASON, OODSelector
from stream_al.select.paced import PacedSelector
from stream_al.select.stack import build_stage, find, layers
from tests.select.conftest import make_batch

DIM = 16
STRATEGIES = tuple(n for n in NAMES if n != "default")  # default: one of them (balanced)
COSTS = {"labels": {}, "minutes": {"unit": "minutes", "amount": 0.5, "period_items": 100,
                                   "base_seconds": 6.0, "seconds_per_char": 0.0, "aware": True}}
OOD = {"off": {"max_share": 0.0}, "on": {"max_share": 0.3, "min_labels": 20}}
PACING = {"off": {}, "on": {"enabled": True, "min_labels": 20, "check_every": 100}}
DRIFT = {"off": {"response_items": 0},
         "on": {"response_items": 300, "boost": 3.0, "max_credit": 0.0},
         "credit": {"response_items": 300, "boost": 3.0, "max_credit": 5.0}}
ALARM = DriftAlarm("embedding_mmd", 1.0, 0.5, 0)


def stack_settings(cost: str, ood: str, drift: str, fraction: float = 0.05,
                   seed: int = 0, pacing: str = "off") -> Settings:
    return Settings.load(budget={"fraction": fraction, "warmup_labels": 2},
                         selection={"batch_interval": 100, "seed": seed},
                         cost=COSTS[cost], ood=OOD[ood], drift=DRIFT[drift],
                         pacing=PACING[pacing])


def labelled_detector(s: Settings) -> OODDetector:
    """A detector that has learned one cluster of the stream: the others are OOD."""
    detector = OODDetector(DIM, s.ood, seed=0)
    batch = make_batch(400, dim=DIM, seed=99, clusters=4)
    near = batch.X[:40] @ batch.X[0] > 0.5
    detector.add_labelled_many(batch.X[:40][near] if near.sum() >= 20 else batch.X[:40])
    return detector


def drive(s: Settings, strategy: str, sizes, alarm_at: int | None = 3, seed: int = 0):
    """Batches through the built stage; per batch, what was bought and the ledger."""
    stage = build_stage(s, DIM, strategy, ood=labelled_detector(s))
    rng = np.random.default_rng(seed)
    start, bought, limit = 0, [], s.drift.max_credit
    for i, n in enumerate(sizes):
        if i == alarm_at and (aware := find(stage.selector, DriftAwareSelector)) is not None:
            aware.response.on_alarm(ALARM)
        batch = make_batch(n, dim=DIM, seed=seed * 1000 + i, start=start)
        if stage.cost_budget is not None:
            batch.costs = rng.uniform(0.5, 3.0, n).astype(np.float32)
        start += n
        bought += stage.select_many(batch)
        spent = sum(x.cost for x in bought)
        b = stage.budget
        assert b.spent <= b.total + 1e-6, "the ledger was overdrawn"
        assert spent <= b.fraction * b.seen + b.warmup + limit + 1e-6, "bought beyond the budget"
    bought += stage.flush()
    return stage, bought


COMBINATIONS = list(itertools.product(STRATEGIES, COSTS, OOD, DRIFT))


@pytest.mark.parametrize("pacing", list(PACING))
@pytest.mark.parametrize(("strategy", "cost", "ood", "drift"), COMBINATIONS)
def test_every_built_stack_stays_within_its_budget_and_buys_each_item_at_most_once(
        strategy, cost, ood, drift, pacing):
    s = stack_settings(cost, ood, drift, pacing=pacing)
    stage, bought = drive(s, strategy, [100] * 20)
    assert (find(stage.selector, PacedSelector) is not None) == (pacing == "on")
    ids = [x.item_id for x in bought]
    assert ids and len(ids) == len(set(ids))
    b = stage.budget
    assert sum(x.cost for x in bought) <= b.fraction * b.seen + b.warmup + s.drift.max_credit + 1e-6


@pytest.mark.parametrize(("cost", "ood", "drift"), list(itertools.product(COSTS, OOD, DRIFT)))
def test_the_random_control_spends_the_whole_budget_under_every_wrapper(cost, ood, drift):
    s = stack_settings(cost, ood, drift)
    stage, bought = drive(s, "random", [100] * 20)
    b = stage.budget
    left = b.total - b.spent  # what the ledger still allows
    assert left < 3.0 + 1.0, "the random control left budget unspent"  # < one purchase


@pytest.mark.parametrize("pacing", list(PACING))
@pytest.mark.parametrize(("strategy", "cost", "ood", "drift"), COMBINATIONS[::5])
def test_the_same_settings_and_seed_build_a_stack_that_buys_the_same_items(
        strategy, cost, ood, drift, pacing):
    def ids():
        s = stack_settings(cost, ood, drift, seed=7, pacing=pacing)
        return [x.item_id for x in drive(s, strategy, [60] * 15)[1]]

    assert ids() == ids()


@settings(max_examples=25, deadline=None)
@given(strategy=st.sampled_from(STRATEGIES), cost=st.sampled_from(list(COSTS)),
       ood=st.sampled_from(list(OOD)), drift=st.sampled_from(list(DRIFT)),
       pacing=st.sampled_from(list(PACING)),
       sizes=st.lists(st.integers(1, 150), min_size=1, max_size=15),
       alarm_at=st.none() | st.integers(0, 14), fraction=st.sampled_from([0.01, 0.05, 0.2]))
def test_property_no_built_stack_overspends_whatever_the_batches_and_alarms(
        strategy, cost, ood, drift, pacing, sizes, alarm_at, fraction):
    s = stack_settings(cost, ood, drift, fraction=fraction, pacing=pacing)
    if cost == "minutes":
        s = s.model_copy(update={"cost": s.cost.model_copy(
            update={"amount": fraction * 100 * 0.1})})  # `fraction` typical (6 s) labels an item
    _, bought = drive(s, strategy, sizes, alarm_at)
    ids = [x.item_id for x in bought]
    assert len(ids) == len(set(ids))


def test_ood_items_are_bought_for_their_own_reason_within_the_cap():
    s = stack_settings("labels", "on", "off")
    stage, bought = drive(s, "uncertainty", [100] * 20)
    ood = [x for x in bought if x.reason == OOD_REASON]
    assert ood, "no OOD item was bought although three clusters are unlabelled"
    assert sum(x.cost for x in ood) <= 0.3 * 0.05 * (2000 + s.ood.cap_window_items) + 1e-9


def test_the_selector_is_wrapped_only_for_what_is_switched_on():
    def wrappers(**sections) -> list[str]:
        settings = Settings.load(budget={"fraction": 0.1}, **sections)
        stage = build_stage(settings, 8, ood=DataHealth(settings.drift, settings.ood, 8).ood)
        names, part = [], stage.selector
        while hasattr(part, "base"):
            names.append(type(part).__name__)
            part = part.base
        return names

    assert wrappers() == ["DriftAwareSelector", "OODSelector"]
    assert wrappers(ood={"max_share": 0.0}) == ["DriftAwareSelector"]
    assert wrappers(drift={"response_items": 0}) == ["OODSelector"]
    assert wrappers(ood={"max_share": 0.0}, drift={"response_items": 0}) == []


def test_a_minute_budget_puts_its_ledger_and_cost_awareness_under_the_stage():
    settings = Settings.load(cost={"unit": "minutes", "amount": 0.5, "period_items": 100},
                             budget={"warmup_labels": 2}, ood={"max_share": 0.0},
                             drift={"response_items": 0})
    stage = build_stage(settings, 8)
    pricing = Pricing(settings.cost, settings.annotation, stage.cost_budget)
    assert isinstance(stage.budget, Budget) and stage.budget is pricing.ledger
    assert stage.budget.allowance == pytest.approx(2.0)  # the warm-up, in typical labels
    assert isinstance(stage.selector, CostAware)
    plain = build_stage(Settings(), 8)  # labels: the stage's own ledger, no cost awareness
    assert not any(isinstance(p, CostAware) for p in layers(plain.selector))


def test_wrappers_are_found_by_kind():
    stage = build_stage(Settings.load(budget={"fraction": 0.1}), 8, "bandit")
    assert isinstance(find(stage.selector, OODSelector), OODSelector)
    assert find(stage.selector, CostAware) is None


def test_the_ood_cap_and_drift_response_accrue_at_the_ledgers_rate():
    """With a budget in minutes the ledger's fraction is the cost budget's (amount per typical
    label), not ``budget.fraction``: the OOD cap's share and the response's boost are of it."""
    s = Settings.load(budget={"fraction": 0.5}, cost={"unit": "minutes", "amount": 0.01})
    stage = build_stage(s, 8, "random")
    assert stage.budget.fraction != pytest.approx(0.5)
    assert find(stage.selector, OODSelector).cap.rate == \
        pytest.approx(s.ood.max_share * stage.budget.fraction)
    assert find(stage.selector, DriftAwareSelector).response.fraction == \
        pytest.approx(stage.budget.fraction)
