"""Live governance in the coordinator: drift response, OOD picks and measured temperature scaling
(stream_al/loop/governing.py), on real texts and the static embedder, without a broker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stream_al.calibration import expected_calibration_error
from stream_al.config import LearnerSettings, Settings
from stream_al.drift.health import DataHealth
from stream_al.learn.online import OnlineLearner
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.governing import REFIT_EVERY, Governance
from stream_al.loop.restore import History
from stream_al.select.drift_aware import DriftAwareSelector
from stream_al.select.ood_cap import OODSelector
from stream_al.select.stack import build_stage, has_ood_cap
from stream_al.select.stage import SelectionStage
from tests.data import rows as dataset_rows
from tests.drift.realdata import embedded, static_embedder
from tests.loop.test_coordinator import Feed

DRIFT = {"reference_items": 200, "window_items": 100, "check_every": 50, "permutations": 200}


def coordinator(**sections) -> Coordinator:
    settings = Settings.load(**{"embedder": {"name": "static"}, "budget": {"fraction": 0.1},
                                "selection": {"strategy": "uncertainty"},
                                "annotation": {"learn_from": "labels"}, **sections})
    embedder = static_embedder()
    return Coordinator(settings, embedder.dim, embedder)


@pytest.fixture(scope="module")
def ag_news() -> list[tuple[str, str]]:
    return dataset_rows("ag_news", 3000)


def test_a_real_shift_starts_a_response_that_explores_the_new_topic(ag_news):
    sports = [r for r in ag_news if r[1] == "Sports"][:500]
    world = [r for r in ag_news if r[1] == "World"][:400]
    c = coordinator(drift=DRIFT)
    feed = Feed(c, static_embedder(), sports + world)
    before = [s for start in range(0, 500, 50) for s in feed.texts(start, start + 50)]
    feed.labels([s.item_id for s in before])
    assert not c.governance.responding
    after = [s for start in range(500, 900, 50) for s in feed.texts(start, start + 50)]
    assert c.health.alarm_count > 0 and c.governance.response.alarms
    explored = [s for s in after if s.reason == "drift_explore"]
    assert explored, "the response bought nothing in the drifting region"
    assert all(int(s.item_id.split("-")[1]) >= 500 for s in explored)  # World texts
    assert isinstance(c.stage.selector, DriftAwareSelector)


def test_out_of_distribution_texts_are_bought_for_their_own_reason_and_capped(ag_news):
    news = ag_news[:600]
    banking = dataset_rows("banking77", 400)
    c = coordinator(drift={"response_items": 0}, ood={"max_share": 0.2, "min_labels": 20,
                                                         "cap_window_items": 200})
    feed = Feed(c, static_embedder(), news + banking)
    bought = [s for start in range(0, 600, 50) for s in feed.texts(start, start + 50)]
    feed.labels([s.item_id for s in bought])
    assert c.health.ood.ready
    seen_before = c.stage.budget.seen
    later = [s for start in range(600, 1000, 50) for s in feed.texts(start, start + 50)]
    ood = [s for s in later if s.reason == "ood"]
    assert ood and all(int(s.item_id.split("-")[1]) >= 600 for s in ood)
    assert all(s.scores["ood_distance"] > c.health.ood.threshold for s in ood)
    assert c.stage.budget.seen - seen_before == 400
    assert len(ood) <= 0.2 * 0.1 * (400 + 200) + 1e-9  # accrual, plus at most 200 items' worth
    assert isinstance(c.stage.selector, OODSelector)
    assert not c.health.checks_ood and c.health.ood_ratio > 0  # counted once, by the selector


def test_a_rebuild_restores_the_ood_detector_from_the_labels_and_recalibrates_on_the_stream(
        ag_news):
    c = coordinator(ood={"min_labels": 20})
    feed = Feed(c, static_embedder(), ag_news[:400])
    bought = [s for start in range(0, 400, 50) for s in feed.texts(start, start + 50)]
    feed.labels([s.item_id for s in bought])
    from stream_al.labels import Label

    labels = [Label(item_id=x.item_id, annotator_id=x.annotator_id,
                    timestamp=x.timestamp, label=x.label) for x in c.labels]
    restored = coordinator(ood={"min_labels": 20})
    restored.restore(History(bought, {}, labels, c.ledger(1.0), c.learner.version, 1.0))
    detector = restored.health.ood
    assert detector.ready and np.isfinite(detector.threshold)  # from the labels alone
    assert c.health.ood.calibrated_on_stream and not detector.calibrated_on_stream
    resumed = Feed(restored, static_embedder(), ag_news)
    resumed.offset = restored.control_offset
    for start in range(400, 800, 50):
        resumed.texts(start, start + 50)
    assert detector.calibrated_on_stream  # the stream's next texts, as before the rebuild
    assert detector.threshold == pytest.approx(c.health.ood.threshold, rel=0.05)
    assert restored.governance.response.started_at is None  # a response is not restored


def overconfident(learner: OnlineLearner, factor: float = 6.0):
    s = learner.snapshot()
    return replace(s, weights=s.weights * factor, bias=s.bias * factor)


def test_a_temperature_is_adopted_when_it_lowers_the_held_out_nll():
    texts, labels, X = embedded("ag_news", 1600)
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.learn_many(X[:200], labels[:200])
    settings = Settings.load(budget={"fraction": 0.1})
    stage = SelectionStage(settings.selection, settings.budget, X.shape[1])
    governance = Governance(settings.calibration, stage, DataHealth(settings.drift, settings.ood, X.shape[1]))
    before = overconfident(learner)
    results = []
    for start in range(200, 600, REFIT_EVERY):
        rows = slice(start, start + REFIT_EVERY)
        governance.on_labels(before, X[rows], labels[rows], ["random"] * REFIT_EVERY)
        results.append(governance.calibrate(learner))
    adopted = [r for r in results if r is not None and r.applied]
    assert adopted and all(r.nll_after < r.nll_before for r in adopted)
    assert learner.temperature == governance.temperature > 1.5
    assert learner.snapshot().temperature == governance.temperature  # published with the model
    col = {c: i for i, c in enumerate(before.classes)}
    test = X[600:]
    y = np.array([col[v] for v in labels[600:]])
    scaled = before.with_temperature(governance.temperature)
    assert expected_calibration_error(scaled.predict_proba_many(test), y) < \
        expected_calibration_error(before.predict_proba_many(test), y)
    assert scaled.predict_many(test) == before.predict_many(test)  # rankings never change


def test_only_labels_bought_for_a_calibrating_reason_calibrate():
    _, labels, X = embedded("ag_news", 800)
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.learn_many(X[:200], labels[:200])
    settings = Settings.load(budget={"fraction": 0.1})
    stage = SelectionStage(settings.selection, settings.budget, X.shape[1])
    governance = Governance(settings.calibration, stage,
                            DataHealth(settings.drift, settings.ood, X.shape[1]))
    before = overconfident(learner)
    for start in range(200, 800, REFIT_EVERY):
        rows = slice(start, start + REFIT_EVERY)
        governance.on_labels(before, X[rows], labels[rows], ["uncertainty"] * REFIT_EVERY)
        assert governance.calibrate(learner) is None
    assert learner.temperature == 1.0


def test_a_rebuild_keeps_the_temperature_of_the_last_published_model():
    _, labels, X = embedded("ag_news", 400)
    settings = Settings.load(budget={"fraction": 0.1})
    stage = SelectionStage(settings.selection, settings.budget, X.shape[1])
    governance = Governance(settings.calibration, stage,
                            DataHealth(settings.drift, settings.ood, X.shape[1]))
    learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
    learner.learn_many(X, labels)  # the rebuild re-learned every label, at temperature 1
    governance.resume_temperature(learner, 1.7)
    assert learner.snapshot().temperature == governance.temperature == 1.7
    assert learner.snapshot().version == 1  # the same version, now published with it


def test_a_response_with_credit_counts_its_debt_in_the_ledger_and_stays_within_it(ag_news):
    from stream_al.drift.base import DriftAlarm

    c = coordinator(drift={**DRIFT, "max_credit": 6.0, "boost": 4.0},
                    budget={"fraction": 0.05, "warmup_labels": 2})
    feed = Feed(c, static_embedder(), ag_news[:1200])
    for start in range(0, 400, 50):
        feed.texts(start, start + 50)
    c.governance.on_alarms([DriftAlarm("embedding_mmd", 1.0, 0.5, 400)])
    debts = []
    for start in range(400, 1200, 50):
        feed.texts(start, start + 50)
        b = c.stage.budget
        ledger = c.ledger(0.0)
        debts.append(c.governance.debt)
        assert ledger.spent == pytest.approx(b.spent + c.governance.debt)
        assert ledger.spent <= 0.05 * b.seen + 2 + 6.0 + 1e-9
    assert max(debts) > 0  # it borrowed during the response


def test_by_default_a_response_moves_spending_and_never_exceeds_the_budget(ag_news):
    from stream_al.drift.base import DriftAlarm

    c = coordinator(drift=DRIFT, budget={"fraction": 0.05, "warmup_labels": 2})
    feed = Feed(c, static_embedder(), ag_news[:1200])
    for start in range(0, 400, 50):
        feed.texts(start, start + 50)
    c.governance.on_alarms([DriftAlarm("embedding_mmd", 1.0, 0.5, 400)])
    explored = []
    for start in range(400, 1200, 50):
        explored += [s for s in feed.texts(start, start + 50) if s.reason == "drift_explore"]
        assert c.governance.debt == 0
        assert c.ledger(0.0).spent <= 0.05 * c.stage.budget.seen + 2 + 1e-9
    assert explored


def test_each_stream_item_is_checked_for_ood_once_or_the_governance_names_the_fix():
    settings = Settings.load(budget={"fraction": 0.1})
    assert has_ood_cap(settings.ood)
    for checks in (True, False):
        health = DataHealth(settings.drift, settings.ood, 8, checks_ood=checks)
        stage = build_stage(settings, 8, ood=health.ood)
        if checks:  # the stage's OOD cap checks them too: twice
            with pytest.raises(ValueError, match="checks_ood=not has_ood_cap"):
                Governance(settings.calibration, stage, health)
        else:
            Governance(settings.calibration, stage, health)
