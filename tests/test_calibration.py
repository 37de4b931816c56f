"""Calibration: ECE and reliability diagrams measure it; temperature scaling fixes what it can."""

import numpy as np
import pytest
from scipy.special import softmax

from stream_al.calibration import (
    TemperatureCalibrator,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    plot_reliability,
    reliability_diagram,
)
from stream_al.config import CalibrationSettings, LearnerSettings
from stream_al.learn import OnlineLearner
from tests.drift.realdata import embedded


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 3000)
    return np.array(labels), X


@pytest.fixture(scope="module")
def overconfident(ag_news):
    """Almost no regularisation, few labels, many iterations: a model sure of everything."""
    y, X = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(l2=1e-6, max_iter=500, committee_size=2))
    learner.learn_many(X[:150], list(y[:150]))
    snapshot = learner.snapshot()
    col = {c: i for i, c in enumerate(snapshot.classes)}
    return snapshot, np.array([col[c] for c in y])


def test_ece_is_the_bin_weighted_gap_between_confidence_and_accuracy():
    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 0, 0, 1])  # right twice at 0.95; right once in two at 0.6
    # bins: |1.0 - 0.95| for half the items, |0.5 - 0.6| for the other half
    assert expected_calibration_error(proba, y, bins=10) == pytest.approx(0.5 * 0.05 + 0.5 * 0.1)


def test_a_model_right_as_often_as_it_claims_has_no_calibration_error():
    proba = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(proba, np.array([0, 0, 0, 1]), bins=4) == pytest.approx(0.0)


def test_reliability_diagram_counts_every_item_once(ag_news, overconfident):
    y_str, X = ag_news
    snapshot, y = overconfident
    d = reliability_diagram(snapshot.predict_proba_many(X[1000:]), y[1000:], bins=15)
    assert d.counts.sum() == 2000 and len(d.edges) == 16
    assert d.ece == pytest.approx(expected_calibration_error(
        snapshot.predict_proba_many(X[1000:]), y[1000:], bins=15))


def test_temperature_scaling_lowers_ece_of_an_overconfident_model(ag_news, overconfident):
    _, X = ag_news
    snapshot, y = overconfident
    fit_rows, test_rows = slice(150, 1150), slice(1150, 3000)
    t = fit_temperature(snapshot.logits_many(X[fit_rows]), y[fit_rows])
    assert t > 1.5  # over-confident: the logits must be cooled
    before = expected_calibration_error(snapshot.predict_proba_many(X[test_rows]), y[test_rows])
    scaled = snapshot.with_temperature(t)
    after = expected_calibration_error(scaled.predict_proba_many(X[test_rows]), y[test_rows])
    assert after < 0.5 * before
    assert scaled.predict_many(X[test_rows]) == snapshot.predict_many(X[test_rows])  # same ranking


def test_the_fitted_temperature_follows_a_rescaling_of_the_logits(ag_news, overconfident):
    _, X = ag_news
    snapshot, y = overconfident
    z = snapshot.logits_many(X[150:1150])
    t1, t3 = fit_temperature(z, y[150:1150]), fit_temperature(3 * z, y[150:1150])
    assert t3 == pytest.approx(3 * t1, rel=0.01)
    assert negative_log_likelihood(z, y[150:1150], t1) < negative_log_likelihood(z, y[150:1150])


def test_the_calibrator_adopts_a_temperature_when_held_out_labels_improve(ag_news, overconfident):
    _, X = ag_news
    snapshot, y = overconfident
    calibrator = TemperatureCalibrator(CalibrationSettings(min_labels=100))
    assert calibrator.fit() is None  # not enough labels yet
    calibrator.update_many(snapshot.logits_many(X[150:750]), y[150:750])
    result = calibrator.fit()
    assert result.applied and calibrator.temperature == result.temperature > 1.5
    assert result.ece_after < result.ece_before and result.nll_after < result.nll_before
    assert result.n_fit + result.n_held_out == 600
    assert calibrator.ece() < expected_calibration_error(softmax(
        snapshot.logits_many(X[150:750]), axis=1), y[150:750])


def test_labels_the_model_cannot_explain_do_not_flatten_it(ag_news, overconfident):
    _, X = ag_news
    snapshot, y = overconfident
    shuffled = np.random.default_rng(0).permutation(y[150:750])  # labels unrelated to the text
    calibrator = TemperatureCalibrator(CalibrationSettings(min_labels=100))
    calibrator.update_many(snapshot.logits_many(X[150:750]), shuffled)
    result = calibrator.fit()
    assert not result.applied and calibrator.temperature == 1.0


def test_labels_of_classes_the_model_did_not_know_are_skipped(ag_news, overconfident):
    y_str, X = ag_news
    snapshot, _ = overconfident
    calibrator = TemperatureCalibrator()
    calibrator.update_from_snapshot(snapshot, X[:10], ["Weather"] * 5 + list(y_str[5:10]))
    assert len(calibrator) == 5


def test_only_labels_bought_for_an_unbiased_reason_calibrate(ag_news, overconfident):
    y_str, X = ag_news
    snapshot, _ = overconfident
    calibrator = TemperatureCalibrator()  # default: only "random" labels
    reasons = ["random", "uncertain", "diverse", "random", "ood", "drift_explore"]
    calibrator.update_from_snapshot(snapshot, X[:6], list(y_str[:6]), reasons)
    assert len(calibrator) == 2
    everything = TemperatureCalibrator(CalibrationSettings(reasons=[]))
    everything.update_from_snapshot(snapshot, X[:6], list(y_str[:6]), reasons)
    assert len(everything) == 6


def test_the_reliability_plot_is_written(tmp_path, ag_news, overconfident):
    _, X = ag_news
    snapshot, y = overconfident
    diagrams = {"raw": reliability_diagram(snapshot.predict_proba_many(X[1000:]), y[1000:]),
                "T=3": reliability_diagram(snapshot.with_temperature(3.0)
                                           .predict_proba_many(X[1000:]), y[1000:])}
    path = tmp_path / "reliability.png"
    plot_reliability(path, diagrams)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
