"""The pacer: down while labels stop paying, up at once when the stream changes."""

import json

import numpy as np
import pytest

from stream_al.config import PacingSettings
from stream_al.learn import ModelSnapshot
from stream_al.pace.pacer import CONTROL_REASON, Pacer

DIM = 4


def model(version: int, flip: float = 0.0) -> ModelSnapshot:
    """A two-class linear model; ``flip`` turns its boundary (0: the same model)."""
    w = np.array([[np.cos(flip), np.sin(flip), 0, 0], [-np.cos(flip), -np.sin(flip), 0, 0]],
                 dtype=np.float32)
    return ModelSnapshot(version, ("a", "b"), w, np.zeros(2, dtype=np.float32))


def items(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def settings(**kw) -> PacingSettings:
    base = {"enabled": True, "floor": 0.2, "check_every": 100, "min_labels": 10,
            "stop_set_size": 50, "kappa_window": 2, "kappa": 0.95, "tolerance": 0.01,
            "resume_hold_items": 0}
    return PacingSettings(**(base | kw))


def flat_curve(pacer: Pacer, labels: int = 60) -> None:
    """Random control labels whose gain no longer falls: the curve expects nothing more."""
    X = np.tile(np.array([[0.3, 0.0, 0.0, 0.0]], dtype=np.float32), (labels, 1))
    y = ["a"] * labels  # what model() predicts, each with the same gain
    pacer.on_labels(model(0), X, y, [CONTROL_REASON] * labels)


def stable_stream(pacer: Pacer, n_checks: int, start_version: int = 1) -> None:
    for v in range(start_version, start_version + n_checks):
        pacer.observe_many(items(100, seed=v), 0.05, model(v))


def test_it_starts_at_full_rate():
    pacer = Pacer(settings())
    assert (pacer.rate, pacer.state, pacer.saved) == (1.0, "active", 0.0)


def test_stable_models_and_a_flat_learning_curve_slow_it_down_to_the_floor():
    pacer = Pacer(settings())
    flat_curve(pacer)
    stable_stream(pacer, 6)
    assert pacer.state == "paused" and pacer.rate == pytest.approx(0.2)
    (change,) = pacer.take_changes()
    assert change.kind == "paused" and change.reason == "labels_stopped_paying"
    assert change.signals["kappa"] == 1.0


def test_it_keeps_full_rate_while_the_learning_curve_still_rises():
    pacer = Pacer(settings())
    for n in range(1, 61):  # accuracy rising like 1 - n ** -0.5: more labels still pay
        pacer.labels = n
        pacer.curve.add(n, 0.95 - 2.0 * n ** -0.5)
    stable_stream(pacer, 6)
    assert pacer.rate == 1.0


def test_it_keeps_full_rate_while_successive_models_still_settle():
    pacer = Pacer(settings())
    flat_curve(pacer)
    for v in range(1, 6):  # each model turns less than the last: their agreement still rises
        pacer.observe_many(items(100, seed=v), 0.05, model(v, flip=3.0 / v))
    assert len(pacer.kappas) == 4 and max(pacer.kappas) < 0.95
    assert not pacer.stable() and pacer.rate == 1.0


def test_models_that_agree_no_better_than_before_count_as_stable_below_the_kappa():
    """A learner whose predictions stay noisy near its boundary settles at its own kappa."""
    pacer = Pacer(settings(kappa=0.99, stop_set_refresh_items=100))
    flat_curve(pacer)
    for v in range(1, 6):  # every model a fixed turn from the last: kappa flat near 0.75
        pacer.observe_many(items(100, seed=v), 0.05, model(v, flip=0.3 * (v % 2)))
    assert max(pacer.kappas) < 0.8
    assert pacer.rate < 1.0 and pacer.take_changes() == []  # slowing, not yet paused


@pytest.mark.parametrize("event", ["drift_alarm", "new_class"])
def test_a_drift_alarm_or_a_new_class_resumes_full_rate_at_once(event):
    pacer = Pacer(settings())
    flat_curve(pacer)
    stable_stream(pacer, 6)
    assert pacer.state == "paused"
    if event == "drift_alarm":
        pacer.on_alarm("embedding_mmd")
    else:
        pacer.on_labels(model(9), items(1), ["c"], ["diverse"])
    assert pacer.rate == 1.0
    assert [c.kind for c in pacer.take_changes()] == ["paused", "resumed"]


def test_a_rise_of_the_ood_share_resumes_full_rate():
    pacer = Pacer(settings(ood_rise=0.1))
    flat_curve(pacer)
    for v in range(1, 7):
        pacer.observe_many(items(100, seed=v), 0.05, model(v), np.zeros(100, dtype=bool))
    assert pacer.state == "paused"
    flags = np.ones(100, dtype=bool)
    pacer.observe_many(items(100, seed=9), 0.05, model(7), flags)
    assert pacer.rate == 1.0 and pacer.take_changes()[-1].reason == "ood_rise"


def test_a_drop_of_the_control_labels_accuracy_resumes_full_rate():
    pacer = Pacer(settings(accuracy_drop=0.1))
    flat_curve(pacer)  # the control labels are all predicted right
    stable_stream(pacer, 6)
    assert pacer.state == "paused"
    X = items(30, seed=5)
    wrong = ["b" if x[0] > 0 else "a" for x in X]
    pacer.on_labels(model(9), X, wrong, [CONTROL_REASON] * 30)
    assert pacer.rate == 1.0 and pacer.take_changes()[-1].reason == "accuracy_drop"


def test_after_a_resume_it_holds_full_rate_for_resume_hold_items():
    pacer = Pacer(settings(resume_hold_items=1000))
    flat_curve(pacer)
    pacer.slow_down("test")
    pacer.resume("test")
    flat_curve(pacer)
    stable_stream(pacer, 8)
    assert pacer.rate == 1.0
    stable_stream(pacer, 4, start_version=20)
    assert pacer.rate < 1.0


def test_budget_not_spent_below_full_rate_is_saved_not_carried_over():
    pacer = Pacer(settings())
    pacer.slow_down("test")
    pacer.observe_many(items(100), 0.05, model(1))
    assert pacer.saved == pytest.approx(0.5 * 0.05 * 100)
    pacer.resume("test")
    assert pacer.take_grant() == 0.0  # borrow_cap 0: saved stays saved


def test_a_resume_may_borrow_saved_budget_up_to_the_cap():
    pacer = Pacer(settings(borrow_cap=1.0, step_down=0.2))
    flat_curve(pacer)
    pacer.slow_down("test")
    pacer.observe_many(items(1000), 0.05, model(1))  # 0.8 * 0.05 * 1000 = 40 saved
    pacer.resume("test")
    assert pacer.take_grant() == 1.0 and pacer.take_grant() == 0.0
    assert pacer.saved == pytest.approx(39.0) and pacer.borrowed == 1.0


def test_labels_saved_are_the_saved_budget_at_the_mean_cost_of_a_label():
    pacer = Pacer(settings())
    pacer.saved = 10.0
    pacer.count_spent(cost=6.0, n=3)
    assert pacer.labels_saved == pytest.approx(5.0)


def test_a_pacer_rebuilt_from_its_state_goes_on_where_it_stopped():
    """A coordinator rebuild (restart, rebalance) restores the pacer from the state it wrote:
    the same rate, savings and learning curve, and the same decisions on the same stream."""
    first = Pacer(settings())
    flat_curve(first)
    stable_stream(first, 6)
    assert first.state == "paused"
    state = json.loads(json.dumps(first.state_dict()))
    rebuilt = Pacer.from_state(settings(), state)
    assert (rebuilt.rate, rebuilt.saved, rebuilt.labels, rebuilt.position) == (
        first.rate, first.saved, first.labels, first.position)
    assert rebuilt.curve.gain(60, 200) == first.curve.gain(60, 200)
    assert rebuilt.predicted_loss(rebuilt.rate) == first.predicted_loss(first.rate)
    first.take_changes()
    for pacer in (first, rebuilt):  # both resume on the same alarm, from the same rate
        pacer.observe_many(items(100, seed=40), 0.05, model(40))
        pacer.on_alarm("embedding_mmd")
    assert [c.reason for c in first.take_changes()] == \
        [c.reason for c in rebuilt.take_changes()] == ["drift_alarm:embedding_mmd"]
    assert rebuilt.saved == pytest.approx(first.saved)
