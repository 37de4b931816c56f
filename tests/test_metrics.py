"""The Metrics module: names, isolation, what each helper method moves, the coordinator
gauges that vanish with the role, and the HTTP endpoints (/metrics, /healthz, /readyz)."""

from __future__ import annotations

import urllib.error
from urllib.request import urlopen

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from stream_al import __version__
from stream_al.health import WORKER_CONDITIONS
from stream_al.metrics import (
    COORDINATOR_GAUGES,
    LABEL_OUTCOMES,
    METRIC_NAMES,
    METRIC_TYPES,
    OTHER,
    PROCESS_METRIC_TYPES,
    STAGES,
    Metrics,
)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def set_every_coordinator_gauge(metrics: Metrics, unit: str = "minutes") -> None:
    metrics.set_budget(4, 6, limit=10, unit=unit, spent_cost=1.5, remaining_cost=2.0)
    metrics.set_bandit_weights({"random": 1.0})
    metrics.set_reservoir(items=3, capacity=32, clusters=1)
    metrics.set_prequential_accuracy(0.8)
    metrics.set_calibration_error(0.05)
    metrics.set_temperature(1.2)
    metrics.set_drift_score("mmd", 0.1)
    metrics.set_ood_ratio(0.01)
    metrics.set_agreement(0.7)
    metrics.set_annotator_accuracy("ann-1", 0.9)
    metrics.set_pacer(2, 0.2, saved_labels=12.0, saved_cost=12.0, signals={"kappa": 0.98})


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def exposed_families(metrics: Metrics) -> dict[str, str]:
    """Family name -> type, as a Prometheus server reads them from the text exposition."""
    text = metrics.exposition().decode()
    families: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            families[name] = kind
    return families


# ---------------------------------------------------------------------------- names
def test_every_metric_name_starts_with_stream_al_but_the_process_collectors(metrics):
    names = {family.name for family in metrics.registry.collect()}
    ours = {name for name in names if name.startswith("stream_al_")}
    assert ours
    standard = {name.removesuffix("_total") for name in PROCESS_METRIC_TYPES}
    assert names - ours == standard


def test_counters_are_exposed_with_total_suffix(metrics):
    families = exposed_families(metrics)
    counters = {name for name, kind in families.items() if kind == "counter"}
    assert counters
    assert all(name.endswith("_total") for name in counters), counters


def test_metric_types_constant_matches_the_exposition(metrics):
    set_every_coordinator_gauge(metrics, unit="minutes")
    metrics.set_budget(1, 1, unit="money", spent_cost=1.0, remaining_cost=1.0)
    families = exposed_families(metrics)
    exported = {name: kind for name, kind in families.items() if not name.endswith("_created")}
    assert exported == METRIC_TYPES | PROCESS_METRIC_TYPES
    assert frozenset(METRIC_TYPES) == METRIC_NAMES


def test_process_memory_and_cpu_are_exported(metrics):
    assert value(metrics, "process_resident_memory_bytes") > 0
    assert value(metrics, "process_cpu_seconds_total") > 0


def test_build_info_names_the_release_and_python(metrics):
    (family,) = [f for f in metrics.registry.collect() if f.name == "stream_al_build"]
    (sample,) = family.samples
    assert sample.name == "stream_al_build_info" and sample.value == 1
    assert sample.labels["version"] == __version__
    assert sample.labels["python"].startswith("3.")


def test_units_are_in_the_names():
    assert "stream_al_stage_latency_seconds" in METRIC_NAMES
    assert "stream_al_label_to_model_seconds" in METRIC_NAMES
    for name, kind in METRIC_TYPES.items():
        if kind == "histogram":
            assert name.endswith(("_seconds", "_items")), name


def test_exposition_parses_as_prometheus_text(metrics):
    metrics.observe_stage("embed", 3, 3, 0.01)
    families = list(text_string_to_metric_families(metrics.exposition().decode()))
    assert families


# ------------------------------------------------------------------------ isolation
def test_two_instances_do_not_collide():
    first, second = Metrics(), Metrics()
    first.observe_stage("score", n_in=5, n_out=5, seconds=0.1)
    assert value(first, "stream_al_stage_items_in_total", stage="score") == 5
    assert value(second, "stream_al_stage_items_in_total", stage="score") == 0


def test_uses_the_registry_it_is_given():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.set_model_version(3)
    assert registry.get_sample_value("stream_al_model_version") == 3


def test_stage_series_exist_from_the_start(metrics):
    for stage in STAGES:
        assert value(metrics, "stream_al_stage_items_in_total", stage=stage) == 0
        assert value(metrics, "stream_al_stage_latency_seconds_count", stage=stage) == 0
    for outcome in LABEL_OUTCOMES:
        assert value(metrics, "stream_al_labels_received_total", outcome=outcome) == 0


# --------------------------------------------------------------- coordinator gauges
def test_coordinator_gauges_are_absent_until_set(metrics):
    families = exposed_families(metrics)
    assert not COORDINATOR_GAUGES & set(families)
    assert value(metrics, "stream_al_prequential_accuracy_ratio") is None  # never a fake 0


def test_coordinator_gauges_vanish_when_the_role_is_released(metrics):
    set_every_coordinator_gauge(metrics)
    money = {"stream_al_budget_spent_money", "stream_al_budget_remaining_money"}
    assert set(exposed_families(metrics)) == set(exposed_families(metrics)) | (
        COORDINATOR_GAUGES - money)
    metrics.release_coordinator()
    page = metrics.exposition().decode()
    for name in COORDINATOR_GAUGES:
        assert f"\n{name} " not in page and f"\n{name}{{" not in page, name
    assert value(metrics, "stream_al_stage_items_in_total", stage="embed") == 0  # the rest stays


def test_a_coordinator_again_exposes_only_what_it_sets_anew(metrics):
    set_every_coordinator_gauge(metrics)
    metrics.release_coordinator()
    metrics.set_bandit_weights({"uncertainty": 1.0})
    metrics.set_budget(1, 2)
    assert value(metrics, "stream_al_bandit_weight", strategy="random") is None
    assert value(metrics, "stream_al_bandit_weight", strategy="uncertainty") == 1.0
    assert value(metrics, "stream_al_budget_spent_labels") == 1
    assert value(metrics, "stream_al_budget_spent_minutes") is None
    assert value(metrics, "stream_al_model_temperature") is None


# ------------------------------------------------------------------ stage helpers
def test_observe_stage_moves_in_out_and_latency(metrics):
    metrics.observe_stage("embed", n_in=10, n_out=9, seconds=0.003)
    metrics.observe_stage("embed", n_in=5, n_out=5, seconds=2.0)
    assert value(metrics, "stream_al_stage_items_in_total", stage="embed") == 15
    assert value(metrics, "stream_al_stage_items_out_total", stage="embed") == 14
    assert value(metrics, "stream_al_stage_latency_seconds_count", stage="embed") == 2
    assert value(metrics, "stream_al_stage_latency_seconds_sum", stage="embed") == pytest.approx(
        2.003
    )
    assert value(metrics, "stream_al_stage_latency_seconds_bucket", stage="embed", le="0.005") == 1


def test_latency_buckets_span_1ms_to_10s(metrics):
    assert value(metrics, "stream_al_stage_latency_seconds_bucket", stage="learn", le="0.001") == 0
    assert value(metrics, "stream_al_stage_latency_seconds_bucket", stage="learn", le="10.0") == 0


def test_an_unknown_stage_is_refused_with_the_known_ones_named(metrics):
    with pytest.raises(ValueError, match="vendor_out"):
        metrics.observe_stage("embedd", 1, 1, 0.1)


def test_extra_stages_can_be_declared():
    metrics = Metrics(stages=(*STAGES, "drift"))
    metrics.observe_stage("drift", 1, 0, 0.01)
    assert value(metrics, "stream_al_stage_items_in_total", stage="drift") == 1


def test_errors_and_dead_letters_by_stage_and_reason(metrics):
    metrics.count_error("labels_in", "bad_schema")
    metrics.count_error("labels_in", "bad_schema", n=2)
    metrics.count_dead_letters("embed", "text_too_long", n=4)
    assert value(metrics, "stream_al_errors_total", stage="labels_in", reason="bad_schema") == 3
    assert (
        value(metrics, "stream_al_dead_letters_total", stage="embed", reason="text_too_long") == 4
    )


def test_consumer_lag_per_topic_and_partition(metrics):
    metrics.set_consumer_lag("stream-al.texts", 2, 120)
    metrics.set_consumer_lag("stream-al.texts", 2, 7)
    assert (
        value(metrics, "stream_al_consumer_lag_messages", topic="stream-al.texts", partition="2")
        == 7
    )


def test_partitions_a_worker_no_longer_reads_lose_their_lag_series(metrics):
    metrics.set_consumer_lags({("stream-al.texts", 0): 5, ("stream-al.texts", 1): 9})
    metrics.set_consumer_lags({("stream-al.texts", 1): 3, ("stream-al.labels", 0): 0})
    lag = "stream_al_consumer_lag_messages"
    assert value(metrics, lag, topic="stream-al.texts", partition="0") is None
    assert value(metrics, lag, topic="stream-al.texts", partition="1") == 3
    assert value(metrics, lag, topic="stream-al.labels", partition="0") == 0


def test_batch_sizes_are_a_histogram_per_stage(metrics):
    metrics.observe_batch("vendor_out", 25)
    assert value(metrics, "stream_al_batch_size_items_count", stage="vendor_out") == 1
    assert value(metrics, "stream_al_batch_size_items_sum", stage="vendor_out") == 25


# -------------------------------------------------------------- selection helpers
def test_selected_by_strategy_and_reason(metrics):
    metrics.count_selected("uncertainty", "below_threshold", n=3)
    assert (
        value(
            metrics,
            "stream_al_selected_items_total",
            strategy="uncertainty",
            reason="below_threshold",
        )
        == 3
    )


def test_a_budget_in_labels_has_no_minutes_or_money_series(metrics):
    metrics.set_budget(spent=40, remaining=10, limit=50)
    assert value(metrics, "stream_al_budget_spent_labels") == 40
    assert value(metrics, "stream_al_budget_remaining_labels") == 10
    assert value(metrics, "stream_al_budget_limit_labels") == 50
    for name in ("spent_minutes", "remaining_minutes", "spent_money", "remaining_money"):
        assert value(metrics, f"stream_al_budget_{name}") is None


@pytest.mark.parametrize("unit", ["minutes", "money"])
def test_a_budget_in_minutes_or_money_has_its_own_metric_beside_labels(metrics, unit):
    metrics.set_budget(spent=40, remaining=10, unit=unit, spent_cost=100.0, remaining_cost=25.0)
    assert value(metrics, f"stream_al_budget_spent_{unit}") == 100
    assert value(metrics, f"stream_al_budget_remaining_{unit}") == 25
    assert value(metrics, "stream_al_budget_spent_labels") == 40
    other = "money" if unit == "minutes" else "minutes"
    assert value(metrics, f"stream_al_budget_spent_{other}") is None


def test_a_budget_in_minutes_needs_its_figures(metrics):
    with pytest.raises(ValueError, match="spent_cost and remaining_cost"):
        metrics.set_budget(spent=1, remaining=1, unit="minutes")
    with pytest.raises(ValueError, match="labels, minutes, money"):
        metrics.set_budget(spent=1, remaining=1, unit="hours", spent_cost=1, remaining_cost=1)


def test_bandit_weights_per_strategy(metrics):
    metrics.set_bandit_weights({"random": 0.2, "uncertainty": 0.5, "diverse": 0.3})
    assert value(metrics, "stream_al_bandit_weight", strategy="uncertainty") == 0.5
    assert value(metrics, "stream_al_bandit_weight", strategy="diverse") == 0.3


def test_reservoir_fill_and_capacity(metrics):
    metrics.set_reservoir(items=48, capacity=64 * 32, clusters=3)
    assert value(metrics, "stream_al_reservoir_items") == 48
    assert value(metrics, "stream_al_reservoir_capacity_items") == 2048
    assert value(metrics, "stream_al_reservoir_clusters") == 3


# --------------------------------------------------------------- learning helpers
def test_count_label_by_outcome_annotator_and_class(metrics):
    metrics.count_label("accepted", label_class="sports", annotator="ann-1")
    metrics.count_label("duplicate", label_class="sports", annotator="ann-1")
    assert value(metrics, "stream_al_labels_received_total", outcome="accepted") == 1
    assert value(metrics, "stream_al_labels_received_total", outcome="duplicate") == 1
    assert value(metrics, "stream_al_labels_by_annotator_total", annotator="ann-1") == 2
    # only accepted labels count towards the class distribution
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": "sports"}) == 1


def test_an_unknown_label_outcome_is_refused(metrics):
    with pytest.raises(ValueError, match="accepted"):
        metrics.count_label("ok")


def test_classes_beyond_the_cap_are_counted_as_other():
    metrics = Metrics(max_classes=2)
    for label_class in ["a", "b", "c", "d", "a"]:
        metrics.count_label("accepted", label_class=label_class)
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": "a"}) == 2
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": OTHER}) == 2
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": "c"}) is None


def test_default_class_cap_is_200(metrics):
    for i in range(250):
        metrics.count_label("accepted", label_class=f"c{i}")
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": "c199"}) == 1
    assert value(metrics, "stream_al_labels_by_class_total", **{"class": OTHER}) == 50


def test_model_version_and_quality_gauges(metrics):
    metrics.set_model_version(7)
    metrics.set_prequential_accuracy(0.81)
    metrics.set_calibration_error(0.04)
    assert value(metrics, "stream_al_model_version") == 7
    assert value(metrics, "stream_al_prequential_accuracy_ratio") == 0.81
    assert value(metrics, "stream_al_calibration_error_ratio") == 0.04


def test_label_to_model_latency_one_observation_per_label(metrics):
    metrics.observe_label_to_model([0.4, 1.6, 45.0])
    assert value(metrics, "stream_al_label_to_model_seconds_count") == 3
    assert value(metrics, "stream_al_label_to_model_seconds_bucket", le="1.0") == 1
    assert value(metrics, "stream_al_label_to_model_seconds_bucket", le="60.0") == 3


# ------------------------------------------------------------ data-health helpers
def test_drift_score_and_alarms_by_detector(metrics):
    metrics.set_drift_score("adwin", 0.12)
    metrics.count_drift_alarm("adwin")
    metrics.count_drift_alarm("adwin")
    assert value(metrics, "stream_al_drift_score", detector="adwin") == 0.12
    assert value(metrics, "stream_al_drift_alarms_total", detector="adwin") == 2


def test_ood_ratio(metrics):
    metrics.set_ood_ratio(0.02)
    assert value(metrics, "stream_al_ood_ratio") == 0.02


def test_throughput_is_not_a_gauge_of_its_own_but_the_rate_of_the_stage_counters():
    assert not [name for name in METRIC_TYPES if "throughput" in name]
    assert METRIC_TYPES["stream_al_stage_items_in_total"] == "counter"


# -------------------------------------------------------------- annotation helpers
def test_agreement_and_annotator_accuracy(metrics):
    metrics.set_agreement(0.67)
    metrics.set_annotator_accuracy("ann-2", 0.9)
    assert value(metrics, "stream_al_annotator_agreement") == 0.67
    assert value(metrics, "stream_al_annotator_accuracy_ratio", annotator="ann-2") == 0.9


def test_annotators_beyond_the_cap_share_other_and_get_no_accuracy_gauge():
    metrics = Metrics(max_annotators=1)
    metrics.count_label("accepted", annotator="ann-1")
    metrics.count_label("accepted", annotator="ann-2")
    metrics.set_annotator_accuracy("ann-2", 0.5)
    assert value(metrics, "stream_al_labels_by_annotator_total", annotator=OTHER) == 1
    assert value(metrics, "stream_al_annotator_accuracy_ratio", annotator=OTHER) is None


# ---------------------------------------------------------------------- serving
def test_start_http_server_serves_this_registry_only(metrics):
    metrics.set_model_version(11)
    server, thread = metrics.start_http_server(0, "127.0.0.1")
    try:
        with urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert "stream_al_model_version 11.0" in body
    assert "python_gc_objects_collected_total" not in body  # not the global registry


def get(url: str) -> tuple[int, str]:
    try:
        with urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def served(metrics):
    server, thread = metrics.start_http_server(0, "127.0.0.1")
    yield metrics, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_healthz_answers_while_the_process_serves(served):
    _, url = served
    assert get(f"{url}/healthz") == (200, "ok\n")


def test_readyz_is_503_naming_each_missing_condition_until_all_are_met(served):
    metrics, url = served
    assert get(f"{url}/readyz") == (503, "not ready: joined\nnot ready: model_loaded\n")
    metrics.readiness.mark("joined")
    assert get(f"{url}/readyz") == (503, "not ready: model_loaded\n")
    metrics.readiness.mark("model_loaded")
    assert get(f"{url}/readyz") == (200, "ready\n")


def test_a_worker_is_ready_once_joined_with_its_model_loaded():
    assert WORKER_CONDITIONS == ("joined", "model_loaded")


def test_an_unknown_readiness_condition_is_refused(metrics):
    with pytest.raises(ValueError, match="joined"):
        metrics.readiness.mark("started")


def test_the_metrics_port_still_serves_metrics_on_any_other_path(served):
    metrics, url = served
    metrics.set_model_version(5)
    for path in ("/metrics", "/"):
        status, body = get(url + path)
        assert status == 200 and "stream_al_model_version 5.0" in body


def test_one_sample_is_read_from_a_metrics_page_by_name_and_exact_labels():
    from stream_al.metrics import sample_value

    page = ('stream_al_stage_items_in_total{stage="select"} 12.0\n'
            'stream_al_stage_items_in_total{stage="score"} 30.0\n'
            "stream_al_model_version 4.0\n")
    assert sample_value(page, "stream_al_stage_items_in_total", stage="score") == 30.0
    assert sample_value(page, "stream_al_model_version") == 4.0
    assert sample_value(page, "stream_al_stage_items_in_total", stage="embed") == 0.0
