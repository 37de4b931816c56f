"""The EXP3 bandit weighs each late label by the probability its arm had when the item was routed."""

import pytest

from stream_al.select import Budget, Exp3Bandit, RandomSelector
from tests.select.conftest import make_batch


def random_arm(name: str, seed: int) -> RandomSelector:
    arm = RandomSelector(1.0, seed=seed)
    arm.name = name  # its purchases carry the arm's name
    return arm


def two_random_arms(gamma: float = 0.5, seed: int = 0) -> Exp3Bandit:
    return Exp3Bandit({"a": random_arm("a", 1), "b": random_arm("b", 2)}, gamma=gamma, seed=seed)


def buy(bandit: Exp3Bandit, budget: Budget, n: int, start: int) -> list:
    budget.observe(n)
    return bandit.select_many(make_batch(n, seed=start, start=start), budget)


def test_a_late_label_is_weighed_by_the_probability_in_force_when_its_item_was_routed():
    bandit = two_random_arms()
    routed_at = bandit.weights()["a"]
    late = next(s for s in buy(bandit, Budget(1.0), 40, 0) if s.strategy == "b")  # label still in flight
    bandit.reward_many(["a"] * 20, [1.0] * 20)  # meanwhile arm "a" gains: p(b) falls
    assert bandit.weights()["b"] < routed_at
    before = bandit._log_w.copy()
    bandit.reward_many(["b"], [1.0], item_ids=[late.item_id])
    step = bandit._log_w - before
    assert step[1] == pytest.approx(bandit.gamma * (1.0 / routed_at) / 2)  # not / p(b) now
    assert step[0] == 0


def test_routing_memory_is_bounded():
    bandit, budget = two_random_arms(), Budget(1.0)
    for step in range(25):
        buy(bandit, budget, 500, 1000 * step)
    assert len(bandit._route_of) <= 8192 and len(bandit.routed_p) <= 8192
