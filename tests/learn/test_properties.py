"""Invariants of the learner under any sequence of updates (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner

CLASSES = ["World", "Sports", "Business", "Sci/Tech"]


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(0, 6), min_size=1, max_size=12), seed=st.integers(0, 1000))
def test_property_versions_only_go_up_and_probabilities_sum_to_one(sizes, seed):
    rng = np.random.default_rng(seed)
    learner = OnlineLearner(6, LearnerSettings(committee_size=2, max_iter=5))
    last = learner.version
    for n in sizes:
        X = rng.normal(size=(n, 6)).astype(np.float32)
        labels = [CLASSES[i] for i in rng.integers(0, 4, n)]
        version = learner.learn_many(X, labels)
        assert version == last + (1 if n else 0)
        assert learner.snapshot().version == version
        last = version
        if learner.classes:
            p = learner.predict_proba_many(X)
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
