"""The online learner: learns from few labels, grows classes, versions and snapshots."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegressionCV

from stream_al.config import LearnerSettings
from stream_al.learn import ModelSnapshot, OnlineLearner, OnlineSoftmax
from stream_al.learn.replay import ReplayMemory


def blobs(n: int, k: int, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 3
    y = rng.integers(0, k, size=n)
    X = centers[y] + rng.normal(size=(n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), [f"c{i}" for i in y]


def test_learns_separable_classes_from_a_few_labels():
    X, y = blobs(300, 3)
    learner = OnlineLearner(8, LearnerSettings(committee_size=2))
    learner.learn_many(X[:30], y[:30])
    pred = learner.snapshot().predict_many(X[30:])
    assert np.mean(np.array(pred) == np.array(y[30:])) > 0.9


def test_every_update_raises_the_version_by_one():
    X, y = blobs(20, 2)
    learner = OnlineLearner(8, LearnerSettings(committee_size=2))
    versions = [learner.learn_one(X[i], y[i]) for i in range(5)]
    assert versions == [1, 2, 3, 4, 5]


def test_empty_update_keeps_the_version():
    learner = OnlineLearner(8, LearnerSettings(committee_size=2))
    assert learner.learn_many(np.zeros((0, 8), dtype=np.float32), []) == 0


def test_new_classes_can_appear_at_any_time():
    X, y = blobs(200, 4)
    learner = OnlineLearner(8, LearnerSettings(committee_size=2))
    first_two = [i for i in range(200) if y[i] in ("c0", "c1")][:20]
    learner.learn_many(X[first_two], [y[i] for i in first_two])
    assert set(learner.classes) == {"c0", "c1"}
    learner.learn_many(X[:100], y[:100])
    assert set(learner.classes) == {"c0", "c1", "c2", "c3"}
    assert learner.predict_proba_many(X[:5]).shape == (5, 4)


def test_a_snapshot_does_not_change_when_the_learner_learns_more():
    X, y = blobs(100, 3)
    learner = OnlineLearner(8, LearnerSettings(committee_size=2))
    learner.learn_many(X[:10], y[:10])
    snap = learner.snapshot()
    before = snap.predict_proba_many(X).copy()
    learner.learn_many(X[10:], y[10:])
    np.testing.assert_array_equal(snap.predict_proba_many(X), before)
    assert learner.snapshot().version == snap.version + 1


def test_snapshot_survives_the_wire_format():
    X, y = blobs(60, 3)
    learner = OnlineLearner(8, LearnerSettings(committee_size=3))
    learner.learn_many(X, y)
    snap = learner.snapshot()
    back = ModelSnapshot.from_bytes(snap.to_bytes())
    assert back.version == snap.version and back.classes == snap.classes
    assert back.fingerprint() == snap.fingerprint()
    np.testing.assert_allclose(back.predict_proba_many(X), snap.predict_proba_many(X))
    assert len(back.committee) == 3


def test_committee_members_are_trained_on_different_bootstraps():
    X, y = blobs(80, 3)
    learner = OnlineLearner(8, LearnerSettings(committee_size=3))
    learner.learn_many(X, y)
    a, b = learner.snapshot().committee_proba_many(X)[:2]
    assert not np.allclose(a, b)


def test_replay_memory_is_bounded():
    X, y = blobs(500, 2)
    model = OnlineSoftmax(8, memory=50, max_iter=5)
    for i in range(0, 500, 50):
        model.learn_many(X[i : i + 50], y[i : i + 50])
    assert len(model.replay) == 50 and model.n_labels == 500


def test_the_committee_shares_one_copy_of_the_labelled_rows():
    X, y = blobs(400, 3)
    learner = OnlineLearner(dim=8, settings=LearnerSettings(committee_size=4, memory=300))
    for i in range(0, 400, 100):
        learner.learn_many(X[i : i + 100], y[i : i + 100])
    models = [learner.main, *learner.committee]
    assert all(m.replay is learner.replay for m in models)
    assert len(learner.replay) == 300 and learner.n_labels == 400
    weights = [m._w[:300] for m in learner.committee]
    assert all((w >= 0).all() and w.mean() > 0.7 for w in weights)  # Poisson(1) counts
    assert len({w.tobytes() for w in weights}) == 4  # each member its own bootstrap
    assert (learner.main._w[:300] == 1).all()


def test_the_reservoir_keeps_every_row_with_the_same_chance():
    memory = ReplayMemory(dim=1, capacity=100, seed=3)
    for start in range(0, 2000, 50):
        rows = np.arange(start, start + 50, dtype=np.float32).reshape(-1, 1)
        memory.add_many(rows, ["a"] * 50)
    kept = memory.X[:, 0]
    assert len(set(kept.tolist())) == 100 and memory.seen == 2000
    assert 600 < kept.mean() < 1400  # uniform over 0..1999, not the first or the last rows


def test_rejects_features_of_the_wrong_width():
    model = OnlineSoftmax(8)
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        model.learn_many(np.zeros((2, 3), dtype=np.float32), ["a", "b"])


def test_rows_learned_without_a_fit_give_the_same_models_at_the_next_fit():
    X, y = blobs(60, 3)
    at_once = OnlineLearner(8, LearnerSettings(committee_size=2))
    at_once.learn_many(X[:20], y[:20])
    at_once.learn_many(X[20:60], y[20:60])
    deferred = OnlineLearner(8, LearnerSettings(committee_size=2))
    deferred.learn_many(X[:20], y[:20])
    deferred.learn_many(X[20:40], y[20:40], fit=False)
    deferred.learn_many(X[40:60], y[40:60], fit=False)
    assert deferred.version == 1 and deferred.unfitted == 40
    assert deferred.snapshot().n_labels == 20  # the published model is the fitted one
    assert deferred.fit() and not deferred.fit()  # nothing left: no new version
    assert deferred.version == 2 and deferred.unfitted == 0
    assert deferred.snapshot().fingerprint() == at_once.snapshot().fingerprint()


def test_with_l2_by_cross_validation_the_ceiling_is_at_least_scikit_learns_cv_logistic_regression(
        real_slice):
    X, labels = real_slice("ag_news", 1600)
    train, test = slice(0, 1000), slice(1000, 1600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs iteration limits at the weakest penalties
        reference = LogisticRegressionCV(Cs=np.logspace(-2, 3, 11), cv=5, max_iter=1000)
        reference_accuracy = reference.fit(X[train], labels[train]).score(X[test], labels[test])
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2, l2=None))
    for part in np.array_split(np.arange(1000), 5):  # labels arrive in batches
        learner.learn_many(X[part], list(labels[part]))
    pred = np.array(learner.snapshot().predict_many(X[test]), dtype=object)
    assert np.mean(pred == labels[test]) >= reference_accuracy - 0.01
