"""The cross-validated learning curve: every label bought, scored on held-out folds."""

import json
import math

import numpy as np
import pytest

from stream_al.config import PacingSettings
from stream_al.learn import ModelSnapshot
from stream_al.pace.crossval import CrossValidatedCurve
from stream_al.pace.pacer import CONTROL_REASON, Pacer


def blobs(n: int, k: int, spread: float, seed: int = 0, dim: int = 16,
          ) -> tuple[np.ndarray, list[str]]:
    """``n`` rows of ``k`` Gaussian classes; ``spread``: noise against unit-norm centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(k, size=n)
    X = centres[y] + spread * rng.normal(size=(n, dim))
    return X.astype(np.float32), [f"c{c}" for c in y]


def test_on_a_problem_learned_from_few_labels_it_expects_little_from_more():
    X, y = blobs(300, 2, spread=0.2)
    curve = CrossValidatedCurve(l2=1.0)
    curve.add_many(X, y)
    mean, spread = curve.gain(300, 600)
    assert 0 <= mean < 0.01 and spread < 0.01


def test_on_a_problem_still_learning_it_expects_more_accuracy_from_more_labels():
    """Many noisy classes: a model on 300 labels is far from what 600 would learn."""
    X, y = blobs(300, 20, spread=0.35, dim=64)
    curve = CrossValidatedCurve(l2=1.0)
    curve.add_many(X, y)
    mean, spread = curve.gain(300, 600)
    sizes, accuracy = curve.points.T
    assert mean > 0.03 and mean > 2 * spread
    # the points it was fitted to rise with the training size (first 1/8 to all 3/4)
    by_size = {round(s, -1): a for s, a in zip(sizes, accuracy, strict=True)}
    assert min(sizes) == pytest.approx(300 * 3 / 4 / 8, abs=2)
    assert max(sizes) == pytest.approx(300 * 3 / 4, abs=2)
    assert by_size[max(by_size)] > by_size[min(by_size)] + 0.1


def test_models_are_fitted_to_the_first_labels_bought_not_a_random_share():
    """The first half of the labels come from two classes only: the models on the first 1/8
    to 1/2 of the labels never saw the other classes, so in order the curve rises far more
    than from a random share of the same labels."""
    X, y = blobs(900, 6, spread=0.2, seed=1)
    two = [i for i, c in enumerate(y) if c in ("c0", "c1")][:150]
    rows = two + [i for i in range(900) if i not in two][:150]
    X, y = X[rows], [y[i] for i in rows]
    gains = {}
    for in_order in (True, False):
        curve = CrossValidatedCurve(l2=1.0, in_order=in_order)
        curve.add_many(X, y)
        curve.fits()
        gains[in_order] = curve.points[curve.points[:, 0].argsort()][:, 1]
    assert gains[True][0] < gains[False][0] - 0.2  # at 1/8 of the labels


def test_scored_on_random_labels_only_it_is_unknown_until_enough_of_them_came():
    X, y = blobs(200, 2, spread=0.2)
    curve = CrossValidatedCurve(l2=1.0, score_random=True, min_random=20)
    curve.add_many(X, y, random=[i % 20 == 0 for i in range(200)])  # 10 random labels
    assert math.isnan(curve.gain(200, 400)[0])
    X2, y2 = blobs(200, 2, spread=0.2, seed=2)
    curve.add_many(X2, y2, random=[True] * 200)
    assert math.isfinite(curve.gain(400, 800)[0])


def test_it_is_unknown_with_too_few_labels_or_one_class_and_after_a_reset():
    X, y = blobs(100, 2, spread=0.2)
    curve = CrossValidatedCurve(l2=1.0, min_labels=60)
    curve.add_many(X[:59], y[:59])
    assert math.isnan(curve.gain(59, 120)[0])
    curve.add_many(X[59:], y[59:])
    assert math.isfinite(curve.gain(100, 200)[0]) and curve.labels == 100
    curve.reset()
    assert math.isnan(curve.gain(100, 200)[0]) and curve.labels == 0
    one = CrossValidatedCurve(l2=1.0, min_labels=10)
    one.add_many(X[:50], ["a"] * 50)
    assert math.isnan(one.gain(50, 100)[0])


def test_beyond_its_memory_it_keeps_a_uniform_sample_and_counts_every_label():
    X, y = blobs(500, 2, spread=0.2)
    curve = CrossValidatedCurve(l2=1.0, memory=100)
    curve.add_many(X, y)
    assert len(curve) == 100 and curve.labels == 500


def _pacer_on(X: np.ndarray, y: list[str]) -> Pacer:
    """A pacer reading the cross-validated curve, fed the labels ``X, y`` (most of them chosen,
    not random; of classes the model knows) and then stable models for six checks."""
    settings = PacingSettings(enabled=True, curve="crossval", floor=0.2, check_every=100,
                              min_labels=10, stop_set_size=50, kappa_window=2, kappa=0.95,
                              tolerance=0.01, resume_hold_items=0)
    pacer = Pacer(settings, l2=1.0)
    dim, classes = X.shape[1], tuple(sorted(set(y)))
    w = np.random.default_rng(1).normal(size=(len(classes), dim)).astype(np.float32)
    before = ModelSnapshot(0, classes, w, np.zeros(len(classes), dtype=np.float32))
    reasons = [CONTROL_REASON if i % 5 == 0 else "uncertain" for i in range(len(y))]
    pacer.on_labels(before, X, y, reasons)
    rng = np.random.default_rng(0)
    for v in range(1, 7):
        stream = rng.normal(size=(100, dim)).astype(np.float32)
        pacer.observe_many(stream, 0.05, ModelSnapshot(v, classes, w, before.bias))
    return pacer


def test_the_pacer_slows_down_when_the_labelled_set_says_more_labels_add_nothing():
    """Few control labels (fewer than the control curve needs): every label counts."""
    pacer = _pacer_on(*blobs(150, 2, spread=0.2))
    assert len(pacer.curve) == 150
    assert pacer.rate < 1.0 and pacer.predicted_loss(pacer.rate)[0] <= 0.01


def test_the_pacer_keeps_full_rate_while_the_labelled_set_still_learns():
    pacer = _pacer_on(*blobs(150, 20, spread=0.35, dim=64))
    assert pacer.rate == 1.0 and pacer.predicted_loss(0.5)[0] > 0.01


def test_a_rebuilt_pacer_starts_its_cross_validated_curve_empty_and_keeps_its_rate():
    pacer = _pacer_on(*blobs(150, 2, spread=0.2))
    state = json.loads(json.dumps(pacer.state_dict()))
    rebuilt = Pacer.from_state(pacer.settings, state, l2=1.0)
    assert isinstance(rebuilt.curve, CrossValidatedCurve) and rebuilt.curve.l2 == 1.0
    assert rebuilt.rate == pacer.rate and len(rebuilt.curve) == 0
    assert math.isnan(rebuilt.predicted_loss(rebuilt.rate)[0])


@pytest.mark.parametrize("curve, points", [("control", 2), ("prequential", 10)])
def test_a_prequential_curve_takes_every_label_a_control_curve_only_the_random_ones(curve,
                                                                                    points):
    pacer = Pacer(PacingSettings(enabled=True, curve=curve))
    X, y = blobs(10, 2, spread=0.2)
    w = np.zeros((2, X.shape[1]), dtype=np.float32)
    before = ModelSnapshot(0, ("c0", "c1"), w, np.zeros(2, dtype=np.float32))
    pacer.on_labels(before, X, y, [CONTROL_REASON if i < 2 else "uncertain" for i in range(10)])
    assert len(pacer.curve.points) == points
