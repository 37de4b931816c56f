"""Adjudication recovers the accuracy that single labels and majority vote lose.

Simulated annotators with known error rates label real AG News items: four honest ones
(10%, 20%, 30%, 40% wrong) and one spammer or adversary; each item gets three of them.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_al.annotation.adjudication import Adjudicator, dawid_skene_many, majority_many
from stream_al.annotation.base import AnnotationSettings
from stream_al.config import LearnerSettings
from stream_al.labels.base import Label
from stream_al.learn.online import OnlineLearner
from stream_al.simulate.annotators import SimulatedAnnotator, crowd_labels

HONEST = [SimulatedAnnotator(f"honest-{e}", e) for e in (0.1, 0.2, 0.3, 0.4)]
SPAMMER = SimulatedAnnotator("spammer", kind="spammer")
ADVERSARY = SimulatedAnnotator("adversary", 0.8, kind="adversarial")
N_TRAIN = 1200


def crowd(corpus, last, seed=0, per_item=3):
    return crowd_labels([*HONEST, last], corpus.ids[:N_TRAIN], corpus.labels[:N_TRAIN],
                        corpus.classes, per_item, np.random.default_rng(seed))


def label_accuracy(corpus, chosen: dict[str, str]) -> float:
    return float(np.mean([chosen[i] == y for i, y in
                          zip(corpus.ids[:N_TRAIN], corpus.labels[:N_TRAIN], strict=True)]))


def model_accuracy(corpus, chosen: dict[str, str]) -> float:
    """Train on the first 1200 items with ``chosen`` labels, test on the other 400 (gold)."""
    learner = OnlineLearner(corpus.X.shape[1], LearnerSettings(l2=1.0, committee_size=2))
    learner.learn_many(corpus.X[:N_TRAIN], [chosen[i] for i in corpus.ids[:N_TRAIN]])
    pred = learner.snapshot().predict_many(corpus.X[N_TRAIN:])
    return float(np.mean(np.asarray(pred) == np.asarray(corpus.labels[N_TRAIN:])))


def three_ways(labels):
    single: dict[str, str] = {}
    for x in labels:
        single.setdefault(x.item_id, x.label)
    majority = {i: v.label for i, v in majority_many(labels).items()}
    ds = {i: v.label for i, v in dawid_skene_many(labels).verdicts.items()}
    return single, majority, ds


def test_dawid_skene_recovers_label_accuracy_lost_to_a_spammer(ag_news):
    single, majority, ds = (label_accuracy(ag_news, c) for c in three_ways(crowd(ag_news, SPAMMER)))
    assert single < 0.70  # one label per item: the pool's average error shows
    assert majority > single + 0.08
    assert ds > majority + 0.03


def test_dawid_skene_reads_a_systematic_mislabeller_backwards(ag_news):
    single, majority, ds = (label_accuracy(ag_news, c)
                            for c in three_ways(crowd(ag_news, ADVERSARY)))
    assert ds > majority + 0.08
    assert ds > 0.9


def test_models_trained_on_dawid_skene_labels_are_more_accurate(ag_news):
    scores = np.array([[model_accuracy(ag_news, c) for c in three_ways(crowd(ag_news, ADVERSARY, s))]
                       for s in (0, 1)]).mean(axis=0)
    single, majority, ds = scores
    clean = model_accuracy(ag_news, dict(zip(ag_news.ids, ag_news.labels, strict=True)))
    assert ds > majority > single
    assert ds > single + 0.04
    assert ds > clean - 0.03  # nearly what gold labels give


def test_dawid_skene_estimates_each_annotators_accuracy(ag_news):
    estimated = dawid_skene_many(crowd(ag_news, SPAMMER)).accuracy
    for a in HONEST:
        assert estimated[a.annotator_id] == pytest.approx(1 - a.error_rate, abs=0.06)
    assert estimated["spammer"] == pytest.approx(0.25, abs=0.06)


def test_gold_items_are_taken_as_known(ag_news):
    labels = crowd(ag_news, SPAMMER)
    gold = dict(zip(ag_news.ids[:60], ag_news.labels[:60], strict=True))
    verdicts = dawid_skene_many(labels, gold).verdicts
    assert all(verdicts[i].status == "gold" and verdicts[i].label == y for i, y in gold.items())
    assert majority_many(labels, gold)[ag_news.ids[0]].status == "gold"


def test_one_coin_model_fits_many_classes_with_few_labels():
    from tests.data import rows

    data = rows("banking77", 1500)
    ids, truth = [f"b-{i}" for i in range(len(data))], [y for _, y in data]
    labels = crowd_labels([*HONEST, SPAMMER], ids, truth, sorted(set(truth)), 3,
                          np.random.default_rng(0))
    gold = dict(zip(ids, truth, strict=True))
    acc = {name: np.mean([v.label == gold[i] for i, v in verdicts.items()]) for name, verdicts in (
        ("majority", majority_many(labels)),
        ("one_coin", dawid_skene_many(labels, one_coin=True).verdicts))}
    assert acc["one_coin"] > acc["majority"] + 0.05


# ---- the adjudicator: statuses, experts, escalation ----------------------------------------------
def labels(*rows):
    return [Label(item, y, who, float(t)) for t, (item, y, who) in enumerate(rows)]


def test_statuses_say_how_each_verdict_was_reached():
    verdicts = majority_many(labels(("a", "x", "1"), ("b", "x", "1"), ("b", "x", "2"),
                                    ("c", "x", "1"), ("c", "x", "2"), ("c", "y", "3"),
                                    ("c", "x", "4"), ("d", "x", "1"), ("d", "y", "2")))
    assert [verdicts[i].status for i in "abcd"] == ["single", "unanimous", "resolved",
                                                    "escalated"]
    assert verdicts["d"].label == "x"  # a tie goes to the label given first
    assert verdicts["c"].votes == {"x": 3, "y": 1} and verdicts["c"].n_labels == 4


def test_unresolved_disagreements_go_to_the_expert_topic():
    adjudicator = Adjudicator(AnnotationSettings(adjudication="majority", min_confidence=0.7),
                              expert_topic="acme.expert")
    verdicts = adjudicator.adjudicate_many(labels(("a", "x", "1"), ("a", "y", "2"),
                                                  ("b", "x", "1"), ("b", "x", "2")))
    escalations = adjudicator.escalations(verdicts.values())
    assert [(e.item_id, e.topic) for e in escalations] == [("a", "acme.expert")]
    assert escalations[0].votes == {"x": 1, "y": 1}
    assert not verdicts["a"].trusted and verdicts["b"].trusted


def test_an_experts_label_is_final():
    adjudicator = Adjudicator(AnnotationSettings(expert_annotators=["expert-1"]))
    verdicts = adjudicator.adjudicate_many(labels(("a", "x", "1"), ("a", "x", "2"),
                                                  ("a", "y", "expert-1"), ("b", "x", "1")))
    assert verdicts["a"].label == "y" and verdicts["a"].status == "expert"
    assert verdicts["a"].votes == {"x": 2, "y": 1}
    assert verdicts["b"].label == "x"


def test_no_labels_no_verdicts():
    assert dawid_skene_many([]).verdicts == {}
    assert Adjudicator(AnnotationSettings()).adjudicate_many([]) == {}


def _weighted_by_formula(labels, accuracy, default=0.7):
    """The weighted vote written out once per label (what weighted_vote_many computes)."""
    import math

    k = max(2, len({x.label for x in labels}))
    w: dict[str, dict[str, float]] = {}
    for x in labels:
        acc = min(max(accuracy.get(x.annotator_id, default), 1e-3), 1 - 1e-3)
        w.setdefault(x.item_id, {}).setdefault(x.label, 0.0)
        w[x.item_id][x.label] += math.log(acc * (k - 1) / (1 - acc))
    out = {}
    for item, ws in w.items():
        top = max(ws.values())
        z = sum(math.exp(v - top) for v in ws.values()) + (k - len(ws)) * math.exp(-top)
        out[item] = (max(ws, key=lambda c: ws[c]), 1.0 / z)
    return out


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 4)),
                max_size=40),
       st.dictionaries(st.sampled_from([f"a{n}" for n in range(4)]), st.floats(0.0, 1.0)))
def test_the_weighted_vote_is_the_formula_label_by_label(rows, accuracy):
    from stream_al.annotation.adjudication import weighted_vote_many

    labels = [Label(f"i{i}", f"c{c}", f"a{a}", float(n)) for n, (i, a, c) in enumerate(rows)]
    got = {i: (v.label, v.confidence) for i, v in weighted_vote_many(labels, accuracy).items()}
    assert got == _weighted_by_formula(labels, accuracy)
