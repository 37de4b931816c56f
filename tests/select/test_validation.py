"""Validation labels by design (stream_al/select/validation.py): a share of the budget drawn
uniformly from the stream before the strategy buys, from the same ledger, and only where the
learner can use the draws (once that share of the labels bought reaches the rows its search
needs for the classes seen), catching up at the whole budget's rate until it holds that
many."""

from __future__ import annotations

import itertools
from collections import Counter
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
def test_once_started_the_trickle_catches_up_at_the_whole_budget_then_draws_its_share(strategy):
    stage, bought = drive(strategy, share=0.2)
    drawn = [int(s.item_id.split("-")[1]) for s in bought if s.reason == VALIDATION_REASON]
    per_batch = Counter(p // 100 for p in drawn)
    first = min(per_batch)
    # it starts once 0.2 of the labels bought reach the 10 rows a search needs; then the whole
    # budget (0.05: 5 items in every 100) until it holds those 10, then 0.2 x 0.05 = one item
    # in every 100 of the stream, to the end
    assert [per_batch[b] for b in range(first, 40)] == [5, 5] + [1] * (40 - first - 2)
    ids = [s.item_id for s in bought]
    assert len(ids) == len(set(ids))
    assert stage.budget.spent <= 0.05 * 4000 + 2 + 1e-9  # the strategy spends what is left


@pytest.mark.parametrize("strategy", ["default", "uncertainty", "bandit"])
def test_the_draws_never_exceed_their_share_of_the_labels_bought(strategy):
    _, bought = drive(strategy, share=0.2)
    drawn = list(itertools.accumulate(s.reason == VALIDATION_REASON for s in bought))
    assert all(d <= 0.2 * n for n, d in enumerate(drawn, 1))


def test_a_stream_that_ends_right_after_the_start_leaves_the_rows_needed_not_a_few():
    _, whole = drive("default", share=0.2)
    start = next(int(s.item_id.split("-")[1]) // 100 for s in whole
                 if s.reason == VALIDATION_REASON)
    _, short = drive("default", share=0.2, batches=start + 2)  # 200 items after the start
    # at the share alone: 2 draws (one per 100 items); caught up: the 10 a search needs
    assert sum(s.reason == VALIDATION_REASON for s in short) == 10


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


def test_a_resumed_trickle_goes_on_from_the_purchases_and_draws_it_is_given():
    def first_draws(bought: int, drawn: int) -> int:
        stage, _ = drive("default", share=0.2, batches=0)
        trickle = find(stage.selector, ValidationTrickle)
        trickle.resume(bought, drawn)
        assert trickle.drawing  # 0.2 x 100 labels bought >= the 10 rows needed
        stage.budget.observe(1000)  # a ledger with room: what it draws is the trickle's rate
        chosen = stage.select_many(make_batch(100, dim=DIM, seed=7, start=5000))
        return sum(s.reason == VALIDATION_REASON for s in chosen)

    assert first_draws(bought=100, drawn=0) == 5  # catching up: the whole budget's rate
    assert first_draws(bought=100, drawn=10) == 1  # caught up: its share
