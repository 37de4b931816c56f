"""Model-side drift: ADWIN on the prequential error, Page-Hinkley on the mean uncertainty.

The model is a real OnlineLearner trained on AG News; the drift is texts of topics it never
saw (Business, Sci/Tech) arriving after texts of the topics it knows (World, Sports).
"""

import numpy as np
import pytest

from stream_al.config import LearnerSettings
from stream_al.drift import ErrorRateDrift, UncertaintyDrift
from stream_al.learn import OnlineLearner
from stream_al.score import margin
from tests.drift.realdata import embedded

OLD, NEW = ["World", "Sports"], ["Business", "Sci/Tech"]


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    y = np.array(labels)
    old = np.flatnonzero(np.isin(y, OLD))
    new = np.flatnonzero(np.isin(y, NEW))
    return X, y, old, new


@pytest.fixture(scope="module")
def two_topic_model(ag_news):
    X, y, old, _ = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.learn_many(X[old[:200]], list(y[old[:200]]))
    return learner.snapshot()


@pytest.fixture(scope="module")
def four_topic_model(ag_news):
    X, y, _, _ = ag_news
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.learn_many(X[:400], list(y[:400]))
    return learner.snapshot()


def errors(snapshot, X, y):
    return (np.array(snapshot.predict_many(X)) != y).astype(float)


def test_error_rate_alarm_when_labels_of_unseen_topics_arrive(ag_news, two_topic_model):
    X, y, old, new = ag_news
    rows = np.concatenate([old[300:600], new[:200]])
    e = errors(two_topic_model, X[rows], y[rows])
    alarms = ErrorRateDrift().update_many(e, start=0)
    assert alarms, "the error rate went from ~5% to 100% unnoticed"
    assert 300 <= alarms[0].position < 300 + 60
    assert alarms[0].score > 2 * e[:300].mean()  # the recent error rate ADWIN kept


def test_a_falling_error_rate_is_learning_not_drift(ag_news, two_topic_model):
    X, y, old, new = ag_news
    rows = np.concatenate([new[:200], old[300:600]])  # wrong first, then right
    assert ErrorRateDrift().update_many(errors(two_topic_model, X[rows], y[rows]), 0) == []


def test_no_error_alarm_on_a_stationary_stream(ag_news, four_topic_model):
    X, y, _, _ = ag_news
    rows = np.arange(1000, 3000)
    e = errors(four_topic_model, X[rows], y[rows])
    assert 0.05 < e.mean() < 0.4
    assert ErrorRateDrift().update_many(e, start=0) == []


def test_mean_uncertainty_alarm_when_unseen_topics_arrive(ag_news, two_topic_model):
    X, y, old, new = ag_news
    mixed = np.random.default_rng(0).permutation(np.concatenate([old[1000:1400], new[:400]]))
    rows = np.concatenate([old[300:1000], mixed])
    u = margin(two_topic_model.predict_proba_many(X[rows]))
    assert u[700:].mean() > u[:700].mean()  # the premise: new topics confuse the model
    alarms = UncertaintyDrift().update_many(u, start=0)
    assert alarms and 700 <= alarms[0].position < 700 + 500


def test_no_uncertainty_alarm_on_a_stationary_stream(ag_news, four_topic_model):
    X, _, _, _ = ag_news
    u = margin(four_topic_model.predict_proba_many(X[1000:5000]))
    assert UncertaintyDrift().update_many(u, start=0) == []


def test_a_cold_models_constant_uncertainty_does_not_calibrate_the_test(ag_news, four_topic_model):
    X, _, _, _ = ag_news
    detector = UncertaintyDrift(warmup_blocks=5)
    assert detector.update_many(np.ones(1000), start=0) == []  # cold model: all 1.0
    u = margin(four_topic_model.predict_proba_many(X[1000:3000]))
    assert detector.update_many(u, start=1000) == []  # a real, lower level next: no alarm
    assert abs(detector.score) < 5
