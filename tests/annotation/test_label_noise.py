"""Suspicious labels are flagged for review: on real AG News with 15% of labels flipped, the
flags are mostly real errors, far above the 15% base rate."""

import numpy as np
import pytest

from stream_al.annotation.base import AnnotationSettings
from stream_al.annotation.noise import NoiseFlagger, cleanlab_suspicions
from stream_al.config import LearnerSettings
from stream_al.learn.online import OnlineLearner

FLIP = 0.15


@pytest.fixture(scope="module")
def noisy(ag_news):
    rng = np.random.default_rng(0)
    labels = np.array(ag_news.labels, dtype=object)
    flipped = rng.random(len(labels)) < FLIP
    for i in np.flatnonzero(flipped):
        labels[i] = rng.choice([c for c in ag_news.classes if c != labels[i]])
    return labels, flipped


def flags(ag_news, noisy, l2: float | None = 1e-3, **settings):
    """Learn from the first 800 (noisy) labels (``l2`` None: chosen by cross-validation),
    then check the next 800 as they arrive."""
    labels, _ = noisy
    learner = OnlineLearner(ag_news.X.shape[1], LearnerSettings(committee_size=2, l2=l2))
    learner.learn_many(ag_news.X[:800], list(labels[:800]))
    flagger = NoiseFlagger(AnnotationSettings(**settings))
    flagger.remember_many(ag_news.ids[:800], ag_news.X[:800], list(labels[:800]))
    snapshot = learner.snapshot()
    return flagger.flag_many(ag_news.ids[800:], ag_news.X[800:], list(labels[800:]),
                             snapshot.predict_proba_many(ag_news.X[800:]), snapshot.classes)


def precision_recall(ag_news, flipped, suspicions, start=800):
    flagged = {s.item_id for s in suspicions}
    wrong = {ag_news.ids[i] for i in np.flatnonzero(flipped) if i >= start}
    return len(flagged & wrong) / max(1, len(flagged)), len(flagged & wrong) / len(wrong)


def test_labels_against_a_confident_model_and_their_neighbours_are_mostly_wrong(ag_news, noisy):
    suspicions = flags(ag_news, noisy)
    precision, recall = precision_recall(ag_news, noisy[1], suspicions)
    assert precision > 0.6  # base rate 0.15
    assert recall > 0.5
    s = suspicions[0]
    assert s.reasons == ("model", "neighbours") and s.model_label != s.label
    assert s.model_confidence >= 0.7 and s.neighbour_share < 0.3


def test_a_softer_model_with_cross_validated_l2_still_finds_most_flipped_labels(ag_news, noisy):
    """It is rarely 0.7 sure of anything: sure means sure for this model (its own quantile)."""
    precision, recall = precision_recall(ag_news, noisy[1], flags(ag_news, noisy, l2=None))
    assert precision > 0.6 and recall > 0.5
    fixed_only = flags(ag_news, noisy, l2=None, noise_confidence_quantile=0.0)
    assert precision_recall(ag_news, noisy[1], fixed_only)[1] < 0.3


def test_neighbours_keep_an_overconfident_model_from_flagging_good_labels(ag_news, noisy):
    both = precision_recall(ag_news, noisy[1], flags(ag_news, noisy))[0]
    model_alone = precision_recall(ag_news, noisy[1], flags(ag_news, noisy,
                                                             noise_neighbour_share=1.0))[0]
    assert both > model_alone + 0.2


def test_nothing_is_flagged_before_there_are_neighbours_to_ask(ag_news):
    flagger = NoiseFlagger(AnnotationSettings(noise_neighbours=10))
    flagger.remember_many(ag_news.ids[:5], ag_news.X[:5], ag_news.labels[:5])
    proba = np.tile([0.97, 0.01, 0.01, 0.01], (3, 1))
    assert flagger.flag_many(ag_news.ids[5:8], ag_news.X[5:8], ["x", "x", "x"], proba,
                             ["a", "b", "c", "d"]) == []


def test_an_item_is_not_its_own_neighbour(ag_news):
    flagger = NoiseFlagger(AnnotationSettings(noise_neighbours=1, noise_model_confidence=0.5))
    flagger.remember_many(["same", "other"], ag_news.X[:2], ["wrong", "right"])
    s = flagger.flag_many(["same"], ag_news.X[:1], ["wrong"], np.array([[0.9, 0.1]]),
                          ["right", "wrong"])
    assert s[0].neighbour_label == "right"


def test_the_memory_is_a_ring_of_fixed_capacity(ag_news):
    flagger = NoiseFlagger(AnnotationSettings(), capacity=100)
    flagger.remember_many(ag_news.ids[:250], ag_news.X[:250], ag_news.labels[:250])
    assert len(flagger) == 100


def test_cleanlab_finds_most_flipped_labels(ag_news, noisy):
    labels, flipped = noisy
    suspicions = cleanlab_suspicions(ag_news.ids, ag_news.X, list(labels))
    precision, recall = precision_recall(ag_news, flipped, suspicions, start=0)
    assert precision > 2 * FLIP and recall > 0.6
    assert suspicions[0].reasons == ("cleanlab",)


def test_cleanlab_audit_waits_for_enough_labels(ag_news, noisy):
    flagger = NoiseFlagger(AnnotationSettings(cleanlab_min_labels=1000))
    flagger.remember_many(ag_news.ids[:999], ag_news.X[:999], list(noisy[0][:999]))
    assert flagger.audit_memory() == []
    flagger.remember_many(ag_news.ids[999:1200], ag_news.X[999:1200], list(noisy[0][999:1200]))
    assert len(flagger.audit_memory()) > 50


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9, 0.999])
def test_the_sure_threshold_is_the_quantile_of_the_recent_top_probabilities_bit_for_bit(q):
    settings = AnnotationSettings(noise_confidence_quantile=q, noise_model_confidence=1.0)
    flagger = NoiseFlagger(settings)
    rng = np.random.default_rng(0)
    seen: list[float] = []
    for size in (30, 40, 700, 500):  # under CONFIDENCE_MIN, then past CONFIDENCE_WINDOW
        top = rng.uniform(0.3, 1.0, size)
        seen = (seen + top.tolist())[-1000:]
        got = flagger.confidence_threshold(top)
        want = 1.0 if len(seen) < 50 else min(1.0, float(np.quantile(seen, q)))
        assert got == want
