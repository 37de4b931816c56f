"""The stopping signals: kappa of successive models, stop set, gain trend, learning curve."""

import math

import numpy as np
import pytest

from stream_al.pace.signals import GainTrend, LearningCurve, Prequential, StopSet, cohen_kappa


def test_kappa_is_one_for_identical_predictions_and_zero_for_chance_agreement():
    assert cohen_kappa(list("abab"), list("abab")) == 1.0
    assert cohen_kappa(list("aabb"), list("abab")) == 0.0


def test_kappa_of_two_models_predicting_one_and_the_same_class_is_one():
    assert cohen_kappa(list("aaaa"), list("aaaa")) == 1.0
    assert cohen_kappa(list("aaaa"), list("bbbb")) == 0.0


def test_kappa_needs_sequences_of_one_length():
    with pytest.raises(ValueError, match="one length"):
        cohen_kappa(["a"], ["a", "b"])


def test_the_stop_set_is_a_sample_that_is_replaced_every_refresh_items():
    stop = StopSet(size=10, refresh_items=100, seed=0)
    stop.observe_many(np.zeros((100, 3), dtype=np.float32))
    assert stop.X.shape == (10, 3) and not stop.X.any()
    stop.observe_many(np.ones((99, 3), dtype=np.float32))
    assert not stop.X.any()  # the fresh sample is not used before it is complete
    stop.observe_many(np.ones((1, 3), dtype=np.float32))
    assert stop.X.shape == (10, 3) and stop.X.all()


def test_the_gain_trend_is_negative_when_labels_teach_less_and_less():
    trend = GainTrend(window=100)
    trend.add_many(np.linspace(0.9, 0.1, 100).tolist())
    assert trend.trend < -0.3
    assert math.isnan(GainTrend().trend)


def test_prequential_accuracy_is_the_share_predicted_right_in_the_window():
    p = Prequential(window=4)
    p.add_many([False, False, True, True, True, True])
    assert p.accuracy == 1.0 and len(p) == 4


def test_the_learning_curve_expects_what_an_inverse_power_law_says():
    curve = LearningCurve(min_points=10)
    for n in range(10, 1010, 10):
        curve.add(n, 0.9 - 0.5 * n ** -0.5)
    a, b, c = np.median(curve.fits(), axis=0)
    assert (a, b, c) == pytest.approx((0.9, 0.5, 0.5), abs=0.05)
    expected = 0.5 * 1000 ** -0.5 - 0.5 * 1100 ** -0.5
    assert curve.improvement_per(100) == pytest.approx(expected, rel=0.1)


def test_a_flat_learning_curve_expects_nothing_more():
    curve = LearningCurve(min_points=10)
    rng = np.random.default_rng(0)
    for n in range(10, 1010, 10):
        curve.add(n, 0.8 + 0.01 * rng.random())
    assert curve.improvement_per(100) < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_from_right_or_wrong_labels_the_curve_finds_the_rise_within_its_spread(seed):
    """Bernoulli points (a control label predicted right or not) of accuracy 0.9 - 2 / sqrt(n):
    the bagged fit recovers the gain of doubling the labels within its spread."""
    rng = np.random.default_rng(seed)
    curve = LearningCurve(min_points=10, seed=seed)
    for n in range(10, 400, 2):
        curve.add(n, float(rng.random() < 0.9 - 2.0 * n ** -0.5))
    mean, spread = curve.gain(200, 400)
    assert 0 < spread < 0.05
    assert abs(mean - 2.0 * (200 ** -0.5 - 400 ** -0.5)) < 2 * spread + 0.01


def test_the_learning_curve_is_unknown_with_too_few_points_and_after_a_reset():
    curve = LearningCurve(min_points=30)
    for n in range(1, 30):
        curve.add(n, 1.0 / n)
    assert math.isnan(curve.improvement_per(100))
    curve.add(30, 1 / 30)
    assert math.isfinite(curve.improvement_per(100))
    curve.reset()
    assert math.isnan(curve.improvement_per(100))
