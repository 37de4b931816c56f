"""Streams for budget pacing (stationary, class-mix shift, late class, domain switch) and the
runs that replay them through the worker's coordinator with and without the pacer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.simulate import Simulation
from stream_al.simulate.drift_scenario import stationary
from stream_al.simulate.pacing_scenario import (
    PacingRun,
    class_mix_shift,
    domain_switch,
    joined,
    late_class,
)
from stream_al.simulate.report import write_report
from tests.data import static_slice

LABELS = [c for c in "abcd" for _ in range(500)]


def test_a_class_mix_shift_moves_most_of_the_stream_from_one_half_of_the_classes_to_the_other():
    stream = class_mix_shift(LABELS, length=1000, shift_at=500, share=0.8, seed=0)
    y = np.asarray(LABELS)
    before, after = y[stream.order[:500]], y[stream.order[500:]]
    shares = {c: ((before == c).mean(), (after == c).mean()) for c in "abcd"}
    major = {c for c, (b, _) in shares.items() if b > 0.25}
    assert len(major) == 2
    assert sum(shares[c][0] for c in major) == pytest.approx(0.8, abs=0.05)
    assert sum(shares[c][1] for c in major) == pytest.approx(0.2, abs=0.05)
    assert not set(stream.order) & set(stream.test_after)


def test_a_late_class_appears_only_after_the_change():
    stream = late_class(LABELS, length=1500, shift_at=750, seed=0)
    y = np.asarray(LABELS)
    first = set(y[stream.order[:750]])
    assert len(first) == 3
    assert set(y[stream.order[750:]]) - first and len(stream.order) == 1500


def test_a_late_class_needs_two_classes_before_it():
    with pytest.raises(ValueError, match="at least 3 classes"):
        late_class(["a", "b"] * 10, length=10, shift_at=5)


def test_a_domain_switch_streams_one_set_then_the_other_and_tests_each_phase_on_its_own():
    X = np.zeros((30, 2), dtype=np.float32)
    both = joined("one", ["x", "y"] * 10, X[:20], ["t"] * 20, "two", ["u", "v"] * 5, X[20:],
                  ["t"] * 10)
    assert both.labels[0] == "one:x" and both.labels[-1] == "two:v"
    stream = domain_switch(both, half=8, test_per_class=2, seed=0)
    assert stream.shift_at == 8
    assert (stream.order[:8] < 20).all() and (stream.order[8:] >= 20).all()
    assert (stream.test_before < 20).all() and (stream.test_after >= 20).all()


def test_sets_with_the_same_classes_keep_their_label_names():
    X = np.zeros((4, 2), dtype=np.float32)
    both = joined("sst2", ["neg", "pos"], X[:2], ["a", "b"], "mr", ["pos", "neg"], X[2:],
                  ["c", "d"])
    assert both.labels == ["neg", "pos", "pos", "neg"]


@pytest.fixture(scope="module")
def ag_news():
    return static_slice("ag_news", 2400)


def quick(pacing: bool, **kw) -> Settings:
    return Settings.load(budget={"fraction": 0.05},
                         simulation={"test_size": 300, "label_delay": 20, "checkpoints": 5},
                         learner={"committee_size": 2, "max_iter": 30},
                         pacing={"enabled": pacing, "check_every": 100, "min_labels": 20,
                                 "kappa": 0.5, "tolerance": 1.0, "floor": 0.5, **kw})


def test_a_paced_run_spends_less_and_never_beyond_the_budget(ag_news):
    data, X = ag_news
    stream = stationary(data.labels, length=2000, test_per_class=50, seed=0)
    run = PacingRun(data.labels, X, stream, data.texts, eval_every=500)
    plain, paced = run.run_with(quick(False)), run.run_with(quick(True))
    assert plain.spend_fraction == pytest.approx(1.0, abs=0.02)
    assert paced.spend_fraction < plain.spend_fraction
    assert paced.saved_labels > 0 and paced.reasons.get("pace_control", 0) > 0
    assert max(plain.max_overspend, paced.max_overspend) <= 1e-6
    assert "paused" in {c.kind for c in paced.changes}


def test_the_simulator_reports_the_pacers_rate_under_the_learning_curve(ag_news, tmp_path):
    data, X = ag_news
    result = Simulation(data, X, quick(True)).run("default")
    assert result.pace and min(rate for _, rate in result.pace) < 1.0
    summary = write_report(tmp_path, {"default": result}, 0.9)
    assert json.loads(json.dumps(summary))["strategies"]["default"]["labels_saved"] > 0
    lines = (tmp_path / "pacing.csv").read_text().splitlines()
    assert lines[0] == "strategy,position,rate" and len(lines) == len(result.pace) + 1
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
