"""Uncertainty scores: in [0, 1], highest for uniform predictions, 1 for a cold model."""

import numpy as np
import pytest

from stream_al.learn import ModelSnapshot
from stream_al.score import committee_disagreement, entropy, least_confidence, margin, uncertainty
from stream_al.score.batch import score_many

SCORES = [entropy, margin, least_confidence]


@pytest.mark.parametrize("fn", SCORES)
def test_uniform_is_most_and_certain_is_least_uncertain(fn):
    proba = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.7, 0.1, 0.1, 0.1]])
    s = fn(proba)
    assert s[0] == pytest.approx(1.0, abs=1e-6)
    assert s[1] == pytest.approx(0.0, abs=1e-6)
    assert s[1] < s[2] < s[0]


@pytest.mark.parametrize("fn", SCORES)
def test_a_model_with_fewer_than_two_classes_is_maximally_uncertain(fn):
    assert fn(np.ones((3, 1))).tolist() == [1.0, 1.0, 1.0]
    assert fn(np.zeros((2, 0))).tolist() == [1.0, 1.0]


def test_margin_looks_only_at_the_two_best_classes():
    a = margin(np.array([[0.5, 0.5, 0.0]]))
    b = margin(np.array([[0.4, 0.4, 0.2]]))
    assert a[0] == pytest.approx(1.0) and b[0] == pytest.approx(1.0)


def test_unknown_uncertainty_names_the_choices():
    with pytest.raises(ValueError, match="entropy"):
        uncertainty("variance", np.ones((1, 2)) / 2)


def test_disagreement_is_zero_when_members_agree_and_high_when_they_do_not():
    agree = [np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]])]
    split = [np.array([[0.99, 0.01]]), np.array([[0.01, 0.99]])]
    assert committee_disagreement(agree)[0] == pytest.approx(0.0, abs=1e-6)
    assert committee_disagreement(split)[0] > 0.8


def test_score_many_gives_every_score_for_every_row():
    snap = ModelSnapshot.empty(4)
    scores = score_many(snap, np.ones((3, 4), dtype=np.float32))
    assert set(scores) >= {"entropy", "margin", "least_confidence", "disagreement", "confidence"}
    assert all(len(v) == 3 for v in scores.values())
