"""End to end on a real shift (stream_al/simulate/drift_scenario.py): the alarm comes soon, and
the response recovers accuracy faster.

AG News holds only World and Sports for 1500 items, then Business and Sci/Tech emerge. The
same selector runs with and without the drift-aware budget response, through the simulator's
loop (learner, selection stage, label delay) with the drift monitor attached.
"""

import pytest

from stream_al.config import Settings
from stream_al.simulate.drift_scenario import DriftScenario, emerging_classes, stationary
from tests.drift.realdata import embedded

SHIFT_AT, LENGTH, BUDGET = 1500, 3500, 0.02


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    return labels, X


def settings(seed=0):
    return Settings.load(budget={"fraction": BUDGET}, selection={"seed": seed},
                         learner={"seed": seed, "committee_size": 2},
                         drift={"seed": seed, "max_credit": 20.0},
                         simulation={"label_delay": 100, "chunk_size": 50})


@pytest.fixture(scope="module")
def shifted(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, LENGTH, seed=0)
    scenario = DriftScenario(labels, X, settings(), stream)
    return scenario.run("uncertainty", respond=False), scenario.run("uncertainty", respond=True)


def test_the_alarm_fires_within_a_bounded_delay_and_not_before_the_shift(shifted):
    for result in shifted:
        assert result.false_alarms == 0
        assert result.alarm_delay is not None and result.alarm_delay <= 300


def test_the_shift_costs_accuracy(shifted):
    plain, _ = shifted
    before = [p.accuracy for p in plain.curve if p.position == SHIFT_AT][0]
    assert before > 0.85
    assert plain.accuracy_at(100) < before - 0.3  # two topics the model never saw


def test_the_response_recovers_accuracy_faster_than_the_same_selector_without_it(shifted):
    plain, responding = shifted
    assert responding.recovery_auc(1000) > plain.recovery_auc(1000) + 0.03
    assert responding.accuracy_at(500) > plain.accuracy_at(500)
    assert responding.reasons.get("drift_explore", 0) > 0 and "drift_explore" not in plain.reasons


def test_the_response_spends_no_more_than_the_budget_plus_its_credit(shifted):
    plain, responding = shifted
    s = settings()
    for result in shifted:
        assert result.curve[-1].spent <= BUDGET * LENGTH + s.drift.max_credit + 1e-6
    # by the end the credit is (nearly) repaid: both bought about the same number of labels
    assert abs(responding.labels_used - plain.labels_used) <= 0.2 * plain.labels_used


def test_no_alarm_from_any_detector_on_the_same_texts_shuffled(ag_news):
    labels, X = ag_news
    stream = stationary(labels, length=LENGTH, test_per_class=100, seed=1)
    result = DriftScenario(labels, X, settings(1), stream).run("uncertainty", respond=True)
    assert result.alarms == []
    assert "drift_explore" not in result.reasons


def test_ood_picks_keep_within_their_share_of_the_budget_in_the_same_loop(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], SHIFT_AT, LENGTH, seed=0)
    s = settings()
    result = DriftScenario(labels, X, s, stream).run("uncertainty", respond=False, ood=True)
    assert 0 < result.reasons.get("ood", 0) <= s.ood.max_share * BUDGET * LENGTH + 1e-9
