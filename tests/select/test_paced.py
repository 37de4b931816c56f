"""Budget pacing in the selection stack: the strategy at the pacer's rate, a random control
trickle, and never more than the budget ledger allows, whatever the pacer does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import PacingSettings, Settings
from stream_al.drift.base import DriftAlarm
from stream_al.drift.health import DataHealth
from stream_al.learn import ModelSnapshot
from stream_al.loop.governing import Governance
from stream_al.pace.pacer import CONTROL_REASON
from stream_al.select.budget import Budget, BudgetError
from stream_al.select.drift_aware import DriftAwareSelector
from stream_al.select.paced import PacedBudget, PacedSelector
from stream_al.select.stack import build_stage, find
from stream_al.select.variable_uncertainty import VariableUncertainty
from tests.select.conftest import make_batch

DIM = 16


def paced(strategy, floor: float = 0.2, fraction: float = 0.05, ledger=None,
          **kw) -> PacedSelector:
    pacing = PacingSettings(enabled=True, floor=floor, **kw)
    return PacedSelector(strategy, pacing, fraction, lambda: ModelSnapshot.empty(DIM),
                         ledger=ledger)


def uncertainty(fraction: float = 0.05):
    return VariableUncertainty("margin", seed=0)


def spend(selector, budget: Budget, n_batches: int, size: int = 100, start: int = 0):
    bought = []
    for b in range(n_batches):
        batch = make_batch(size, dim=DIM, seed=start + b, start=(start + b) * size)
        budget.observe(len(batch))
        bought += selector.select_many(batch, budget)
    return bought


def test_the_paced_budget_allows_its_own_allowance_and_never_more_than_the_ledger():
    base = Budget(0.1)
    base.observe(10)
    view = PacedBudget(base, own=5.0)
    assert view.allowance == 1.0
    with pytest.raises(BudgetError, match="paced allowance"):
        view.spend(2.0)


def test_at_full_rate_it_spends_the_budget_a_floor_share_of_it_at_random():
    budget = Budget(0.05)
    bought = spend(paced(uncertainty()), budget, 40)
    control = [s for s in bought if s.reason == CONTROL_REASON]
    assert budget.spent >= 0.9 * 0.05 * 4000
    assert len(control) == pytest.approx(0.2 * 0.05 * 4000, abs=3)


def test_at_full_rate_refunds_of_labels_that_never_came_are_spent_again():
    """The coordinator refunds an expired purchase to the stage's ledger, not to the paced view:
    at rate 1 the strategy gets it back, as it would unpaced."""
    budget = Budget(0.05)
    selector = paced(uncertainty(), ledger=lambda: budget)
    spend(selector, budget, 20)
    budget.release(8.0)
    spend(selector, budget, 20, start=20)
    assert budget.spent == pytest.approx(0.05 * 4000, abs=2)


def test_at_the_floor_only_the_random_control_trickle_is_bought():
    selector = paced(uncertainty())
    selector.pacer.slow_down("test")
    selector.pacer.slow_down("test")
    selector.pacer.slow_down("test")
    assert selector.pacer.state == "paused"
    budget = Budget(0.05)
    bought = spend(selector, budget, 40)
    assert {s.reason for s in bought} == {CONTROL_REASON}
    assert len(bought) == pytest.approx(0.2 * 0.05 * 4000, abs=3)
    assert selector.pacer.saved == pytest.approx(0.8 * 0.05 * 4000)


def test_control_labels_do_not_reward_the_wrapped_strategy():
    rewarded = []

    class Recorder:
        name = "recorder"
        reads_novelty = False

        def select_many(self, batch, budget):
            return []

        def reward_many(self, strategies, rewards, item_ids=None):
            rewarded.extend(strategies)

    selector = paced(Recorder())
    selector.reward_many(["pace_control", "recorder"], [0.5, 0.5], ["a", "b"])
    assert rewarded == ["recorder"]


@settings(max_examples=60, deadline=None)
@given(fraction=st.floats(0.01, 0.3), floor=st.floats(0.05, 1.0),
       borrow_cap=st.floats(0.0, 20.0), window=st.sampled_from([0, 250, 1000]),
       moves=st.lists(st.sampled_from(["down", "up", "stay"]), min_size=1, max_size=30))
def test_whatever_the_pacer_does_spending_never_exceeds_the_budget(fraction, floor, borrow_cap,
                                                                     window, moves):
    selector = paced(uncertainty(fraction), floor=floor, fraction=fraction,
                     borrow_cap=borrow_cap)
    budget = Budget(fraction, window_items=window)
    for n, move in enumerate(moves):
        if move == "down":
            selector.pacer.slow_down("test")
        elif move == "up":
            selector.pacer.resume("test")
        spend(selector, budget, 1, size=100, start=n)
        assert budget.spent <= fraction * budget.seen + 1e-6
        if window:
            assert budget.window_spent <= fraction * budget.window_seen + 1e-6


def test_the_stack_paces_only_when_pacing_is_enabled():
    off = build_stage(Settings.load(), DIM, strategy="uncertainty")
    on = build_stage(Settings.load(pacing={"enabled": True}), DIM, strategy="uncertainty")
    assert find(off.selector, PacedSelector) is None
    assert find(on.selector, PacedSelector) is not None


def test_governance_hands_drift_alarms_to_the_pacer():
    settings_ = Settings.load(pacing={"enabled": True})
    health = DataHealth(settings_.drift, settings_.ood, DIM, checks_ood=False)
    stage = build_stage(settings_, DIM, strategy="uncertainty", ood=health.ood)
    governance = Governance(settings_.calibration, stage, health)
    governance.pacer.slow_down("test")
    governance.on_alarms([DriftAlarm("embedding_mmd", 1.0, 0.5, 0)])
    assert governance.pacer.rate == 1.0
    assert np.isclose(governance.pacer.take_changes()[-1].rate, 1.0)


def test_budget_saved_while_paused_is_withheld_from_every_layer_of_the_stack():
    s = Settings.load(budget={"fraction": 0.05}, pacing={"enabled": True, "floor": 0.2},
                      drift={"response_items": 4000, "explore_share": 1.0, "boost": 3.0},
                      selection={"batch_interval": 100})
    stage = build_stage(s, DIM, strategy="uncertainty")
    paced_layer = find(stage.selector, PacedSelector)
    for _ in range(3):
        paced_layer.pacer.slow_down("test")
    stage.select_many(make_batch(100, dim=DIM, seed=99, start=10_000))  # the rate takes effect
    aware = find(stage.selector, DriftAwareSelector)
    aware.response.on_alarm(DriftAlarm("embedding_mmd", 1.0, 0.5, 0))  # explores, unpaced
    spent, withheld, saved = stage.budget.spent, stage.budget.withheld, paced_layer.pacer.saved
    for b in range(40):
        stage.select_many(make_batch(100, dim=DIM, seed=b, start=100 * b))
    assert stage.budget.spent - spent <= 0.2 * 0.05 * 4000 + 1.0
    assert stage.budget.withheld - withheld == pytest.approx(0.8 * 0.05 * 4000)
    assert paced_layer.pacer.saved - saved == pytest.approx(0.8 * 0.05 * 4000)


def test_a_paced_selector_resumed_from_its_state_buys_what_the_original_buys():
    budget = Budget(0.05)
    original = paced(uncertainty(), floor=0.25, ledger=lambda: budget, check_every=100_000)
    spend(original, budget, 10)
    original.pacer.slow_down("test")
    spend(original, budget, 5, start=10)
    state = original.state_dict()

    ledger = Budget(0.05, seen=budget.seen, spent=budget.spent)  # what a rebuild restores
    again = paced(uncertainty(), floor=0.25, ledger=lambda: ledger, check_every=100_000)
    again.resume(state, ledger)
    assert again.pacer.rate == original.pacer.rate == 0.5
    assert (ledger.withheld, ledger.withhold_share) == (budget.withheld, budget.withhold_share)
    controls = []
    for b in range(15, 25):  # the control trickle at the same positions, the same withheld
        mine = spend(again, ledger, 1, start=b)
        theirs = spend(original, budget, 1, start=b)
        assert control_ids(mine) == control_ids(theirs)
        assert ledger.withheld == pytest.approx(budget.withheld)
        controls += control_ids(mine)
    assert controls
    assert again.pacer.state_dict() == original.pacer.state_dict()


def control_ids(bought) -> list[str]:
    """(The strategy's own state, e.g. its threshold, is not the pacer's to keep.)"""
    return [s.item_id for s in bought if s.reason == CONTROL_REASON]


def test_the_pacer_hears_the_ood_flags_the_scorers_forwarded():
    # scale.ood_at_scorers: the coordinator's detector holds no rows (its threshold is inf);
    # the pacer's OOD share comes from the forwarded flags (-1: not judged, not counted OOD)
    s = Settings.load(pacing={"enabled": True},
                      scale={"preselect": True, "ood_at_scorers": True})
    stage = build_stage(s, DIM, strategy="uncertainty")
    pacer = find(stage.selector, PacedSelector).pacer
    batch = make_batch(100, dim=DIM, seed=0)
    batch.scores["ood_distance"] = np.full(100, 0.5, dtype=np.float32)
    batch.scores["ood_flag"] = np.r_[np.ones(30), np.zeros(60), -np.ones(10)].astype(np.float32)
    stage.select_many(batch)
    assert pacer.signals.ood_share == pytest.approx(0.3)
