"""Validation labels by design (stream_al/select/validation.py): a share of the budget drawn
uniformly from the stream before the strategy buys, from the same ledger, and only where the
learner can use the draws (once that share of the labels bought reaches the rows its search
needs for the classes seen)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from stream_al.config import LearnerSettings, Settings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.select.stack import build_stage, find
from stream_al.select.validation import VALIDATION_REASON, ValidationTrickle
from tests.select.conftest import make_batch

DIM = 16


def drive(strategy: str, share: float, batches: int = 40, fraction: float = 0.05,
          learner: LearnerSettings | None = None):
    settings = Settings.load(budget={"fraction": fraction, "warmup_labels": 2},
                             selection={"batch_interval": 100, "validation_share": share},
                             ood={"max_share": 0.0}, drift={"response_items": 0})
    if learner is not None:
        settings = settings.model_copy(update={"learner": learner})
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
    # 0.2 x 0.05 = one item in every 100 of the stream, anywhere in its block, from the block
    # it starts in (once 0.2 of the labels bought reach the 10 rows a search needs) to the end
    first = drawn[0] // 100
    assert sorted(p // 100 for p in drawn) == list(range(first, 40))
    ids = [s.item_id for s in bought]
    assert len(ids) == len(set(ids))
    assert stage.budget.spent <= 0.05 * 4000 + 2 + 1e-9  # the strategy spends what is left


def test_the_trickle_starts_once_its_share_of_the_labels_bought_reaches_the_rows_needed():
    _, bought = drive("default", share=0.2)
    before = list(itertools.takewhile(lambda s: s.reason != VALIDATION_REASON, bought))
    # enough_rows(no class known yet, cv_min_labels 10, 5 folds) = 10 = 0.2 x 50 labels
    assert 50 <= len(before) <= 50 + 5  # the batch that crossed 50 buys before it draws
    assert any(s.reason == VALIDATION_REASON for s in bought[len(before):])


def test_a_trickle_that_cannot_reach_the_rows_needed_buys_what_the_strategy_alone_buys():
    short = Settings.load(learner={"cv_min_labels": 100_000}).learner
    _, without = drive("default", share=0.0)
    _, never = drive("default", share=0.2, learner=short)
    assert [(s.item_id, s.reason) for s in never] == [(s.item_id, s.reason) for s in without]


def test_the_rows_needed_grow_with_the_classes_the_model_knows():
    stage, _ = drive("default", share=0.2, batches=1)
    trickle = find(stage.selector, ValidationTrickle)
    assert trickle.needed() == 10  # no class yet: cv_min_labels
    for k, needed in ((2, 10), (4, 20), (26, 130)):  # then cv_folds (5) per class
        stage.set_model(replace(ModelSnapshot.empty(DIM), classes=tuple(map(str, range(k)))))
        assert trickle.needed() == needed


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
