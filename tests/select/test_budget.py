"""The budget ledger: never spends more than the stream allows."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_al.select import Budget, BudgetError, SubBudget


def test_allowance_grows_with_the_stream():
    b = Budget(fraction=0.1)
    assert not b.can_spend(1)
    b.observe(10)
    assert b.can_spend(1) and not b.can_spend(1.5)


def test_spending_beyond_the_allowance_is_refused():
    b = Budget(fraction=0.5)
    b.observe(2)
    b.spend(1)
    with pytest.raises(BudgetError, match="exceeds the allowance"):
        b.spend(1)


def test_released_cost_can_be_spent_again():
    b = Budget(fraction=0.5)
    b.observe(2)
    b.spend(1)
    b.release(1)
    assert b.can_spend(1)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_fraction_outside_zero_one_names_the_range(fraction):
    with pytest.raises(BudgetError, match=r"budget must be in \(0, 1\]"):
        Budget(fraction=fraction)


def test_windowed_budget_starts_each_window_afresh():
    b = Budget(fraction=0.1, window_items=100)
    b.observe(100)  # first window complete: the new window has seen nothing yet
    assert not b.can_spend(1)
    b.observe(50)
    b.spend(5)
    assert not b.can_spend(1)
    b.observe(50)  # a new window
    assert not b.can_spend(1)
    b.observe(10)
    assert b.can_spend(1)


def test_sub_budget_spends_from_its_parent():
    parent = Budget(fraction=0.5)
    child = SubBudget.of(parent)
    parent.observe(4)
    child.observe(2)
    child.spend(1)
    assert parent.spent == 1 and child.own.spent == 1
    assert not child.can_spend(1)  # its own share (0.5 * 2) is used up


@given(
    fraction=st.floats(0.01, 1.0),
    steps=st.lists(st.tuples(st.integers(0, 50), st.floats(0.1, 5.0)), max_size=60),
)
def test_property_spent_never_exceeds_what_the_stream_allows(fraction, steps):
    b = Budget(fraction=fraction)
    for n_items, cost in steps:
        b.observe(n_items)
        if b.can_spend(cost):
            b.spend(cost)
        assert b.spent <= fraction * b.seen + 1e-6


@given(st.integers(0, 400), st.floats(0.0, 5.0), st.floats(0.0, 4.0), st.integers(0, 150),
       st.lists(st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0, 0.1]), max_size=40))
def test_buying_ranked_picks_in_one_call_is_spending_them_one_by_one(
        seen, limit, debt, window, costs):
    """``spent_in_order`` (a ledger's ``try_spend``: the allowance read once a pick) buys the
    same picks and leaves the same ledger, bit for bit, as ``can_spend`` then ``spend`` per
    pick: on a plain ledger, a windowed one, and the drift response's credit over one."""
    from stream_al.select.budget import spent_in_order
    from stream_al.select.drift_aware import CreditBudget

    def ledgers():
        plain = Budget(0.05, window, warmup=2.0)
        plain.observe(seen)
        base = Budget(0.05, window, warmup=2.0)
        base.observe(seen)
        return [plain, CreditBudget(base, limit=limit, debt=min(debt, limit))]

    for one_by_one, together in zip(ledgers(), ledgers(), strict=True):
        bought = []
        for n, cost in enumerate(costs):
            if one_by_one.can_spend(cost):
                one_by_one.spend(cost)
                bought.append(n)
        assert spent_in_order(together, costs) == bought
        assert repr(together) == repr(one_by_one)
