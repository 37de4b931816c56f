"""The scorers' first level: candidates by informativeness, each standing for 1/p texts."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.select.preselect import PreSelector


def margins(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    return {"margin": np.random.default_rng(seed).beta(0.5, 2.0, n)}


def test_at_most_about_the_multiple_of_the_budget_share_is_forwarded():
    pre = PreSelector(fraction=0.05, multiple=4.0, seed=0)
    forwarded = sum(len(pre.select_many(margins(100, s)).rows) for s in range(100))
    assert 0.05 * 10_000 < forwarded <= 0.2 * 10_000 * 1.1


def test_weights_stand_for_every_text_seen_unbiasedly():
    pre = PreSelector(fraction=0.05, multiple=4.0, seed=1)
    total = sum(pre.select_many(margins(300, s)).weights.sum() for s in range(200))
    assert total == pytest.approx(60_000, rel=0.05)


def test_informative_texts_are_forwarded_more_often_and_confident_ones_still_can_be():
    pre = PreSelector(fraction=0.05, multiple=4.0, seed=2)
    scores = {"margin": np.r_[np.full(5000, 0.01), np.full(5000, 0.9)]}
    rows = np.concatenate([pre.select_many(scores).rows for _ in range(5)])
    confident, uncertain = (rows < 5000).sum(), (rows >= 5000).sum()
    assert uncertain > 5 * confident > 0


def test_small_batches_of_many_partitions_are_judged_as_one_large_batch():
    one, many = PreSelector(0.05, seed=3), PreSelector(0.05, seed=3)
    scores = margins(8000, 4)
    big = len(one.select_many(scores).rows)
    small = sum(len(many.select_many({"margin": scores["margin"][i:i + 3]}).rows)
                for i in range(0, 8000, 3))
    assert small == pytest.approx(big, rel=0.15)


def test_a_batch_without_the_score_is_sampled_uniformly_and_bad_settings_name_the_fix():
    pre = PreSelector(fraction=0.1, multiple=2.0, seed=5)
    chosen = pre.select_many({}, 10_000)
    assert len(chosen.rows) == pytest.approx(2000, rel=0.1)
    assert np.allclose(chosen.weights, 5.0)
    with pytest.raises(ValueError, match="candidate_multiple"):
        PreSelector(fraction=0.1, multiple=0.5)
