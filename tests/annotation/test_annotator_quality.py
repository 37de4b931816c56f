"""Per-annotator accuracy against gold items, as labels arrive, exported as metrics."""

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from stream_al.annotation.quality import AnnotatorQuality
from stream_al.labels.base import Label
from stream_al.metrics import Metrics
from stream_al.simulate.annotators import SimulatedAnnotator, crowd_labels

POOL = [SimulatedAnnotator(f"a{i}", e) for i, e in enumerate((0.1, 0.2, 0.3, 0.4))] + [
    SimulatedAnnotator("spammer", kind="spammer")]


@pytest.fixture
def quality_on_ag_news(ag_news):
    gold = dict(zip(ag_news.ids[:300], ag_news.labels[:300], strict=True))  # a gold set
    labels = crowd_labels(POOL, ag_news.ids, ag_news.labels, ag_news.classes, 3,
                          np.random.default_rng(0))
    quality = AnnotatorQuality(gold)
    for start in range(0, len(labels), 100):  # labels stream in
        quality.observe_many(labels[start : start + 100])
    return quality


def test_accuracy_on_gold_tracks_each_annotators_true_error_rate(quality_on_ag_news):
    report = quality_on_ag_news.report()
    for a in POOL[:4]:
        assert report[a.annotator_id].accuracy == pytest.approx(1 - a.error_rate, abs=0.08)
    assert report["spammer"].accuracy == pytest.approx(0.25, abs=0.08)
    assert sum(s.total for s in report.values()) == 900  # only gold items count


def test_spammers_are_named(quality_on_ag_news):
    assert quality_on_ag_news.below(0.4, min_gold=50) == ["spammer"]


def test_exported_as_the_annotator_accuracy_gauge(quality_on_ag_news):
    metrics = Metrics(CollectorRegistry())
    quality_on_ag_news.export(metrics)
    value = metrics.registry.get_sample_value("stream_al_annotator_accuracy_ratio",
                                              {"annotator": "a0"})
    assert value == pytest.approx(quality_on_ag_news.accuracy("a0"))


def test_with_a_half_life_recent_work_counts_most():
    quality = AnnotatorQuality({f"g{i}": "x" for i in range(200)}, half_life=20)
    quality.observe_many(Label(f"g{i}", "x", "a", i) for i in range(100))  # good, then
    quality.observe_many(Label(f"g{i}", "y", "a", i) for i in range(100, 200))  # careless
    assert quality.accuracy("a") < 0.1
    assert AnnotatorQuality({}).accuracy("never-seen") == 0.5
