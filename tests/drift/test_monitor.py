"""The drift monitor puts every detector on the stream's time line and feeds the metrics."""

import numpy as np
import pytest

from stream_al.config import DriftSettings
from stream_al.drift import DriftMonitor
from stream_al.metrics import Metrics
from stream_al.simulate.drift_scenario import emerging_classes
from tests.drift.realdata import embedded


@pytest.fixture(scope="module")
def ag_news():
    _, labels, X = embedded("ag_news", 7600)
    return labels, X


def test_stream_alarms_carry_the_stream_position_whatever_the_batching(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], 1500, length=2500, seed=0)
    monitor = DriftMonitor()
    alarms = []
    for start in range(0, 2500, 64):
        alarms += monitor.update_many(X[stream.order[start : start + 64]])
    assert monitor.position == 2500
    assert [a.detector for a in alarms] == ["embedding_mmd"]
    assert 1500 <= alarms[0].position < 1800
    assert list(monitor.alarms) == alarms
    assert monitor.region is not None


def test_label_alarms_are_placed_at_the_current_stream_position(ag_news):
    _, X = ag_news
    monitor = DriftMonitor()
    monitor.update_many(X[:1000])
    right = [True] * 19 + [False]  # 5% errors, then nothing but errors
    alarms = monitor.update_labels(right * 10) + monitor.update_labels([False] * 80)
    assert [a.detector for a in alarms] == ["prequential_error"]
    assert alarms[0].position == 1000
    assert monitor.labels_seen == 280


def test_scores_and_alarms_feed_the_prometheus_metrics(ag_news):
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], 1500, length=2500, seed=0)
    monitor, metrics = DriftMonitor(), Metrics()
    for start in range(0, 2500, 100):
        for alarm in monitor.update_many(X[stream.order[start : start + 100]]):
            metrics.count_drift_alarm(alarm.detector)
        for detector, score in monitor.scores().items():
            metrics.set_drift_score(detector, score)
    sample = metrics.registry.get_sample_value
    assert sample("stream_al_drift_alarms_total", {"detector": "embedding_mmd"}) == 1.0
    assert sample("stream_al_drift_score", {"detector": "embedding_mmd"}) > 0


def test_uncertainty_must_match_the_embeddings(ag_news):
    _, X = ag_news
    with pytest.raises(ValueError, match="100 embeddings but 99 uncertainty values"):
        DriftMonitor().update_many(X[:100], np.zeros(99))


def test_settings_reach_every_detector():
    monitor = DriftMonitor(DriftSettings(window_items=80, kernel="linear", error_delta=0.01,
                                         uncertainty_block=10))
    assert monitor.embedding.window_items == 80 and monitor.embedding.kernel == "linear"
    assert monitor.error.delta == 0.01 and monitor.uncertainty.block == 10


def test_the_rbf_test_runs_through_fourier_frequencies_by_default_and_the_linear_one_exactly():
    assert DriftMonitor().embedding.frequencies == 64
    assert DriftMonitor(DriftSettings(frequencies=0)).embedding.frequencies == 0  # exact kernel
    assert DriftMonitor(DriftSettings(kernel="linear")).embedding.frequencies == 0


def test_on_a_sample_the_detectors_read_fewer_items_and_alarms_keep_stream_positions(ag_news):
    """drift.sample 0.5: a seeded half of the items reaches the stream's detectors, so the
    drift is seen later in the stream, but the alarm names the position of a stream item."""
    labels, X = ag_news
    stream = emerging_classes(labels, ["World", "Sports"], 1500, length=3500, seed=0)
    monitor = DriftMonitor(DriftSettings(sample=0.5))
    alarms = []
    for start in range(0, 3500, 64):
        chunk = X[stream.order[start : start + 64]]
        alarms += monitor.update_many(chunk, uncertainty=np.full(len(chunk), 0.5))
    assert monitor.position == 3500
    assert [a.detector for a in alarms] == ["embedding_mmd"]
    assert 1500 <= alarms[0].position < 2500
    every = DriftMonitor()
    for start in range(0, 3500, 64):
        every.update_many(X[stream.order[start : start + 64]])
    assert alarms[0].position > next(iter(every.alarms)).position  # seen later
