"""Self-training: the learner also learns its most confident predictions on the unlabelled stream."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import LearnerSettings
from stream_al.learn.online import OnlineLearner
from stream_al.learn.self_training import SelfTraining, UnlabelledReservoir, pseudo_labels


@settings(max_examples=30, deadline=None)
@given(capacity=st.integers(1, 50), sizes=st.lists(st.integers(0, 40), max_size=8))
def test_the_reservoir_holds_at_most_its_capacity_of_rows_it_was_offered(capacity, sizes):
    pool = UnlabelledReservoir(dim=1, capacity=capacity, seed=0)
    offered = 0
    for n in sizes:
        pool.observe_many(np.arange(offered, offered + n, dtype=np.float32).reshape(-1, 1))
        offered += n
    assert len(pool) == min(capacity, offered) and pool.seen == offered
    held = pool.X.ravel()
    assert len(set(held.tolist())) == len(held) and ((held >= 0) & (held < offered)).all()


def test_the_reservoir_is_a_uniform_sample_of_the_whole_stream_not_its_start():
    pool = UnlabelledReservoir(dim=1, capacity=500, seed=3)
    for start in range(0, 10_000, 100):
        pool.observe_many(np.arange(start, start + 100, dtype=np.float32).reshape(-1, 1))
    later_half = float((pool.X.ravel() >= 5000).mean())
    assert 0.4 < later_half < 0.6


def test_each_class_gets_per_label_times_its_labels_of_its_most_confident_predictions():
    X = np.array([[3, 0], [1, 0], [2, 0], [0, 3], [0, 1], [0, 2]], dtype=np.float32)
    W, b = np.eye(2), np.zeros(2)
    rows, y = pseudo_labels(W, b, X, labels_per_class=np.array([2, 1]), per_label=1)
    assert rows.tolist() == [[3, 0], [2, 0], [0, 3]] and y.tolist() == [0, 0, 1]
    rows, y = pseudo_labels(W, b, X, labels_per_class=np.array([2, 1]), per_label=0.5)
    assert y.tolist() == [0]  # floor(0.5 x 1) = 0 for the class with one label


def test_no_pseudo_labels_before_the_labels_could_cross_validate_the_penalty():
    pool = UnlabelledReservoir(dim=2, capacity=10, seed=0)
    pool.observe_many(np.eye(2, dtype=np.float32))
    training = SelfTraining(pool, per_label=3, min_labels=10, min_per_class=5)
    W, b = np.eye(2), np.zeros(2)
    assert len(training.pseudo_labels(W, b, np.repeat([0, 1], 4), k=2)[1]) == 0  # 8 < 10
    assert len(training.pseudo_labels(W, b, np.repeat([0, 1, 2], 4), k=3)[1]) == 0  # 12 < 15
    assert len(training.pseudo_labels(W, b, np.repeat([0, 1], 5), k=2)[1]) == 2
    with pytest.raises(ValueError, match="pseudo-labels per label must be >= 0"):
        SelfTraining(pool, per_label=-1)


def blobs(rng, n_per_class: int, centres: np.ndarray, spread: float) -> tuple[np.ndarray, list[str]]:
    X = np.vstack([c + spread * rng.normal(size=(n_per_class, centres.shape[1])) for c in centres])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), [f"c{i}" for i in range(len(centres)) for _ in range(n_per_class)]


def test_a_learner_that_observed_the_stream_learns_from_it_and_predicts_better_on_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 24))
    X_stream, _ = blobs(rng, 300, centres, 0.9)
    X_lab, y_lab = blobs(rng, 6, centres, 0.9)
    X_test, y_test = blobs(rng, 100, centres, 0.9)
    accuracy = {}
    for per_label in (0.0, 3.0):
        learner = OnlineLearner(24, LearnerSettings(committee_size=2, pseudo_labels=per_label))
        learner.observe_many(X_stream)
        learner.learn_many(X_lab, y_lab)
        predicted = learner.snapshot().predict_many(X_test)
        accuracy[per_label] = float(np.mean(np.array(predicted) == np.array(y_test)))
        assert learner.n_labels == len(y_lab)  # pseudo-labels are not labels
        assert learner.unlabelled.seen == (len(X_stream) if per_label else 0)
    assert accuracy[3.0] > accuracy[0.0]


def test_without_self_training_observing_the_stream_changes_nothing():
    rng = np.random.default_rng(1)
    X, y = blobs(rng, 10, rng.normal(size=(3, 8)), 0.5)
    off = LearnerSettings(committee_size=2, pseudo_labels=0)
    plain, observing = OnlineLearner(8, off), OnlineLearner(8, off)
    observing.observe_many(rng.normal(size=(200, 8)).astype(np.float32))
    plain.learn_many(X, y)
    observing.learn_many(X, y)
    assert plain.snapshot().fingerprint() == observing.snapshot().fingerprint()


def test_self_training_is_off_by_default_and_then_keeps_no_stream_sample():
    learner = OnlineLearner(4, LearnerSettings(committee_size=2))
    learner.observe_many(np.ones((10, 4), dtype=np.float32))
    assert learner.main.self_training is None and len(learner.unlabelled) == 0


def test_a_learner_rebuilt_from_the_verdicts_keeps_the_stream_sample_it_had():
    on = LearnerSettings(committee_size=2, pseudo_labels=3.0)
    old, rebuilt = OnlineLearner(4, on), OnlineLearner(4, on)
    old.observe_many(np.ones((10, 4), dtype=np.float32))
    rebuilt.adopt_unlabelled(old)
    assert rebuilt.main.self_training.unlabelled is old.unlabelled and len(rebuilt.unlabelled) == 10
