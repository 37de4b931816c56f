"""Validation labels by design (stream_al/select/validation.py): a share of the budget drawn
uniformly from the stream before the strategy buys, from the same ledger."""

from __future__ import annotations

import pytest

from stream_al.config import Settings
from stream_al.select.stack import build_stage, find
from stream_al.select.validation import VALIDATION_REASON, ValidationTrickle
from tests.select.conftest import make_batch

DIM = 16


def drive(strategy: str, share: float, batches: int = 40, fraction: float = 0.05):
    settings = Settings.load(budget={"fraction": fraction, "warmup_labels": 2},
                             selection={"batch_interval": 100, "validation_share": share},
                             ood={"max_share": 0.0}, drift={"response_items": 0})
    stage = build_stage(settings, DIM, strategy)
    bought = []
    for i in range(batches):
        bought += stage.select_many(make_batch(100, dim=DIM, seed=i, start=100 * i))
    return stage, bought + stage.flush()


@pytest.mark.parametrize("strategy", ["default", "uncertainty", "bandit"])
def test_a_validation_share_draws_that_share_of_the_budget_one_item_per_block_of_the_stream(
        strategy):
    stage, bought = drive(strategy, share=0.2)
    drawn = [int(s.item_id.split("-")[1]) for s in bought if s.reason == VALIDATION_REASON]
    # 0.2 x 0.05 = one item in every 100 of the stream, anywhere in its block
    assert sorted(p // 100 for p in drawn) == list(range(40))
    ids = [s.item_id for s in bought]
    assert len(ids) == len(set(ids))
    assert stage.budget.spent <= 0.05 * 4000 + 2 + 1e-9  # the strategy spends what is left


def test_the_validation_share_comes_out_of_the_same_budget():
    _, without = drive("default", share=0.0)
    _, with_share = drive("default", share=0.2)
    assert abs(len(with_share) - len(without)) <= 1
    assert not any(s.reason == VALIDATION_REASON for s in without)


def test_random_is_not_wrapped_its_labels_all_are_uniform_draws():
    assert find(drive("random", share=0.2, batches=1)[0].selector, ValidationTrickle) is None
    assert find(drive("default", share=0.2, batches=1)[0].selector, ValidationTrickle)
    assert find(drive("default", share=0.0, batches=1)[0].selector, ValidationTrickle) is None


def test_the_strategy_hears_the_rewards_of_its_own_purchases_only():
    heard = []

    class Listening:
        name = "listening"
        reads_novelty = False

        def select_many(self, batch, budget):
            return []

        def reward_many(self, strategies, rewards, item_ids=None):
            heard.append((list(strategies), list(rewards), item_ids))

    trickle = ValidationTrickle(Listening(), share=0.1, fraction=0.05)
    trickle.reward_many([VALIDATION_REASON, "margin"], [0.3, 0.7], ["a", "b"])
    assert heard == [(["margin"], [0.7], ["b"])]


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="validation share"):
        ValidationTrickle(drive("default", 0.0, 1)[0].selector, share, 0.05)
