"""The served head (``learner.served_rule``): a second penalty from the same search folds for
the model that predicts, while the main model and the committee go on selecting."""

import numpy as np
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.learn.regularisation import L2Search


def taught(X, labels, parts: int = 4, **settings) -> OnlineLearner:
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, **settings))
    for part in np.array_split(np.arange(len(labels)), parts):
        learner.learn_many(X[part], list(labels[part]))
    return learner


def near_the_boundary(X, labels, n: int) -> np.ndarray:
    """The ``n`` rows (of the first 1,500) a model of all of them is least sure of: labels as
    an uncertainty selector buys them."""
    judge = OnlineLearner(X.shape[1], LearnerSettings(l2=1.0, committee_size=2))
    judge.learn_many(X[:1500], list(labels[:1500]))
    p = judge.snapshot().predict_proba_many(X[:1500])
    return np.argsort(np.abs(p[:, 0] - p[:, 1]))[:n]


def test_without_a_served_rule_the_served_model_is_the_selecting_one(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels)
    assert learner.served is None
    assert learner.served_snapshot() is learner.snapshot()


def test_a_served_rule_leaves_the_selecting_model_as_it_was(real_slice):
    X, labels = real_slice("sst2", 400)
    off, on = taught(X, labels), taught(X, labels, served_rule="nll")
    assert on.snapshot().fingerprint() == off.snapshot().fingerprint()
    assert (on.main.l2, on.version) == (off.main.l2, off.version)


@pytest.mark.parametrize("name", ["sst2", "ag_news"])
def test_the_served_head_takes_the_served_rules_choice_from_the_same_folds(real_slice, name):
    X, labels = real_slice(name, 400)
    learner = taught(X, labels, served_rule="nll")
    search = learner.main.search
    assert learner.served.l2 == search.served_l2
    assert search.losses[search.served_l2] == min(search.losses.values())
    assert search.scores[search.l2] == max(search.scores.values())


def test_the_served_snapshot_predicts_with_the_served_head(real_slice):
    X, labels = real_slice("sst2", 400)
    learner = taught(X, labels, served_rule="nll")
    served = learner.served_snapshot()
    assert np.allclose(served.predict_proba_many(X[:50]), learner.served.predict_proba_many(X[:50]),
                       atol=1e-5)
    assert (served.version, served.classes) == (learner.version, learner.snapshot().classes)


@pytest.mark.parametrize("name", ["sst2", "subj"])
def test_on_labels_near_the_boundary_the_served_penalty_is_no_weaker(real_slice, name):
    X, labels = real_slice(name, 2000)
    rows = near_the_boundary(X, labels, 300)
    learner = taught(X[rows], labels[rows], served_rule="nll")
    assert learner.served.l2 >= learner.main.l2


def test_a_bad_served_rule_names_the_fix():
    with pytest.raises(ValueError, match="served rule must be one of best"):
        L2Search(served_rule="logloss")


def test_a_served_rule_with_a_fixed_l2_names_the_fix():
    with pytest.raises(ValueError, match="unset one of them"):
        OnlineLearner(2, LearnerSettings(l2=1.0, served_rule="nll"))


def test_the_served_snapshot_follows_the_temperature_and_waits_for_the_next_fit(real_slice):
    X, labels = real_slice("ag_news", 400)
    two = np.isin(labels, np.unique(labels)[:2])
    learner = taught(X[two], labels[two], served_rule="nll")
    before = learner.served_snapshot()
    learner.set_temperature(2.0)
    assert learner.served_snapshot().temperature == learner.snapshot().temperature == 2.0
    learner.learn_many(X[~two][:5], list(labels[~two][:5]), fit=False)  # a class learned, no fit
    after = learner.served_snapshot()
    assert after.classes == before.classes == learner.snapshot().classes
    assert np.array_equal(after.weights, before.weights)
    assert np.array_equal(after.bias, before.bias)
    learner.fit()
    served = learner.served_snapshot()
    assert served.classes == learner.snapshot().classes == tuple(learner.classes)
    assert served.weights.shape == (len(learner.classes), X.shape[1])
    assert len(served.classes) > len(before.classes)
