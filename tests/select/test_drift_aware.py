"""The drift response borrows budget and explores, and the long-run budget still holds."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_al.config import Settings
from stream_al.drift import DriftAlarm, DriftResponse
from stream_al.learn import ModelSnapshot
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select import Budget, SelectionStage
from stream_al.select.drift_aware import EXPLORE_REASON, CreditBudget, DriftAwareSelector
from tests.drift.realdata import embedded

ALARM = DriftAlarm("embedding_mmd", 1.0, 0.5, 0)


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    return labels, X


operations = st.lists(
    st.one_of(
        st.tuples(st.just("observe"), st.integers(1, 300)),
        st.tuples(st.just("alarm"), st.just(0)),
        st.tuples(st.just("spend"), st.floats(0.1, 5.0)),
        st.tuples(st.just("release"), st.integers(0, 50)),
    ),
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(fraction=st.floats(0.005, 1.0), boost=st.floats(1.0, 10.0),
       max_credit=st.floats(0.0, 60.0), period=st.integers(0, 3000),
       warmup=st.floats(0.0, 10.0), ops=operations)
def test_credit_never_breaks_the_long_run_budget(fraction, boost, max_credit, period, warmup, ops):
    base = Budget(fraction, warmup=warmup)
    response = DriftResponse(fraction, period, boost, max_credit)
    credit = CreditBudget(base)
    outstanding: list[float] = []
    slack = 1e-6
    for op, arg in ops:
        if op == "observe":
            base.observe(arg)
            response.observe(arg)
            credit.limit = response.credit_limit()
            credit.repay()
        elif op == "alarm":
            response.on_alarm(ALARM)
            credit.limit = response.credit_limit()
        elif op == "spend" and credit.can_spend(arg):
            credit.spend(arg)
            outstanding.append(arg)
        elif op == "release" and outstanding:
            credit.release(outstanding.pop(arg % len(outstanding)))
        accrued = fraction * base.seen + warmup
        assert base.spent <= accrued + slack  # the wrapped ledger is never overdrawn
        assert 0 <= credit.debt <= max_credit + slack
        assert credit.spent <= accrued + max_credit + slack  # borrowing is bounded
        if credit.debt == 0:
            assert credit.spent <= accrued + slack
    # the response ends and the debt is repaid within max_credit / fraction items
    n = period + math.ceil(max_credit / fraction) + 1
    base.observe(n)
    response.observe(n)
    credit.limit = response.credit_limit()
    credit.repay()
    assert credit.debt == 0
    assert credit.spent <= fraction * base.seen + warmup + slack


def stage_for(fraction, strategy="random", seed=0, **drift):
    s = Settings.load(budget={"fraction": fraction}, selection={"seed": seed},
                      drift={"response_items": 400, "boost": 4.0, "max_credit": 12.0, **drift})
    stage = SelectionStage(s.selection, s.budget, dim=256, strategy=strategy)
    return s, stage


def batches(X, sizes, start=0):
    pos = start
    for n in sizes:
        rows = np.arange(pos, pos + n) % len(X)
        scores = score_many(ModelSnapshot.empty(256), X[rows])
        yield ScoredBatch([str(r) for r in rows], X[rows], scores)
        pos += n


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.sampled_from([0.01, 0.05, 0.2]),
       strategy=st.sampled_from(["random", "uncertainty", "diverse", "bandit"]),
       sizes=st.lists(st.integers(1, 120), min_size=5, max_size=40),
       alarms=st.sets(st.integers(0, 39), max_size=4))
def test_the_stage_never_buys_beyond_the_long_run_budget(ag_news, fraction, strategy, sizes,
                                                         alarms):
    _, X = ag_news
    s, stage = stage_for(fraction, strategy)
    response = DriftResponse.from_settings(s.drift, fraction)
    stage.selector = DriftAwareSelector(stage.selector, response)
    bought = 0.0
    for i, batch in enumerate(batches(X, sizes)):
        if i in alarms:
            response.on_alarm(ALARM)
        bought += sum(sel.cost for sel in stage.select_many(batch))
        credit = stage.selector.credit
        assert bought == pytest.approx(credit.spent)
        assert stage.budget.spent <= stage.budget.total + 1e-6
        assert bought <= fraction * stage.budget.seen + s.drift.max_credit + 1e-6
    tail = s.drift.response_items + math.ceil(s.drift.max_credit / fraction) + 1
    for batch in batches(X, [tail]):
        bought += sum(sel.cost for sel in stage.select_many(batch))
    assert stage.selector.credit.debt == 0
    assert bought <= fraction * stage.budget.seen + 1e-6


def test_without_an_alarm_it_selects_exactly_what_the_selector_alone_does(ag_news):
    _, X = ag_news
    _, plain = stage_for(0.05, "uncertainty", seed=3)
    s, wrapped = stage_for(0.05, "uncertainty", seed=3)
    response = DriftResponse.from_settings(s.drift, 0.05)
    wrapped.selector = DriftAwareSelector(wrapped.selector, response)
    sizes = [50] * 40
    a = [sel.item_id for b in batches(X, sizes) for sel in plain.select_many(b)]
    b = [sel.item_id for b in batches(X, sizes) for sel in wrapped.select_many(b)]
    assert a and a == b


def test_an_alarm_buys_faster_explores_the_novel_items_then_repays(ag_news):
    _, X = ag_news
    s, stage = stage_for(0.02, "random")
    response = DriftResponse.from_settings(s.drift, 0.02)
    stage.selector = DriftAwareSelector(stage.selector, response)
    for b in batches(X, [50] * 20):  # 1000 items, about 20 labels
        stage.select_many(b)
    before = stage.selector.credit.spent
    response.on_alarm(ALARM)
    during = []
    for b in batches(X, [50] * 8, start=1000):  # the 400-item response
        during += stage.select_many(b)
    # 400 items at 2% are 8 labels; boost 4 allows 32, capped by 12 borrowed: 20
    assert len(during) == pytest.approx(8 + 12, abs=2)
    explored = [sel for sel in during if sel.reason == EXPLORE_REASON]
    assert len(explored) >= 0.4 * len(during)
    novelty = [sel.scores["novelty"] for sel in explored]
    others = [sel.scores["novelty"] for sel in during if sel.reason != EXPLORE_REASON]
    assert np.mean(novelty) >= np.mean(others)
    # then nothing is bought until the 12 borrowed labels are repaid (600 items at 2%)
    after = [sel for b in batches(X, [50] * 10, start=1400) for sel in stage.select_many(b)]
    assert len(after) <= 2
    assert stage.selector.credit.spent - before <= 0.02 * 900 + 12 + 1e-6
    assert stage.selector.credit.debt <= 12 - 0.02 * 500 + 1e-6


def test_a_response_of_zero_items_is_switched_off():
    response = DriftResponse(0.05, period=0)
    response.on_alarm(ALARM)
    response.observe(100)
    assert not response.active and response.credit_limit() == 0.0


@pytest.mark.parametrize("kwargs", [{"boost": 0.5}, {"max_credit": -1.0}, {"explore_share": 1.5}])
def test_bad_response_settings_name_the_fix(kwargs):
    with pytest.raises(ValueError, match="drift response needs"):
        DriftResponse(0.05, **kwargs)
