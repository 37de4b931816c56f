"""score_many: every score of the five models from one product, equal to the per-model maths."""

import numpy as np
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn.online import OnlineLearner
from stream_al.score import committee_disagreement, entropy, least_confidence, margin
from stream_al.score.batch import SCORES, probabilities_many, score_many


@pytest.fixture(scope="module")
def snapshot():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 12)) * 2
    labels = rng.integers(0, 3, 300)
    X = (centres[labels] + rng.normal(size=(300, 12))).astype(np.float32)
    learner = OnlineLearner(12, LearnerSettings())
    learner.learn_many(X, [f"class-{c}" for c in labels])
    return learner.snapshot().with_temperature(1.5)


def rows(n=50, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 12)).astype(np.float32) * 2


def test_one_product_gives_each_models_own_probabilities(snapshot):
    proba, members = probabilities_many(snapshot, rows())
    assert len(snapshot.committee) >= 2
    np.testing.assert_allclose(proba, snapshot.predict_proba_many(rows()), atol=1e-6)
    for mine, theirs in zip(members, snapshot.committee_proba_many(rows()), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_scores_are_those_of_the_per_model_definitions(snapshot):
    proba = snapshot.predict_proba_many(rows())
    expected = {"entropy": entropy(proba), "margin": margin(proba),
                "least_confidence": least_confidence(proba), "confidence": proba.max(axis=1),
                "disagreement": committee_disagreement(snapshot.committee_proba_many(rows()))}
    scores = score_many(snapshot, rows())
    assert set(scores) == set(SCORES)
    for name, values in expected.items():
        assert scores[name].dtype == np.float32
        np.testing.assert_allclose(scores[name], values, atol=1e-6, err_msg=name)


def test_only_the_scores_asked_for_are_computed(snapshot):
    scores = score_many(snapshot, rows(), ("margin",))
    assert list(scores) == ["margin"]
    np.testing.assert_array_equal(scores["margin"], score_many(snapshot, rows())["margin"])
    with pytest.raises(ValueError, match="choose from"):
        score_many(snapshot, rows(), ("variance",))
