"""The Grafana dashboards, their provisioning and the Prometheus scrape config.

The dashboards import into any Grafana: the data source is a variable, and ``job`` and
``instance`` variables filter every query. Every panel reads only metrics that
``stream_al.metrics`` exports; counters only through ``rate``/``increase``; the coordinator's
gauges only through ``max`` (one worker exports them). Running each expression against a
real Prometheus is the integration test's job (it reuses ``tests/promql.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stream_al.metrics import COORDINATOR_GAUGES, METRIC_TYPES, PROCESS_METRIC_TYPES
from tests.promql import (
    all_expressions,
    dashboard_expressions,
    dashboard_paths,
    iter_panels,
    load_dashboard,
    metric_for_series,
    referenced_metrics,
    referenced_series,
    resolved,
)

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED = {"type": "prometheus", "uid": "prometheus"}
SCOPE = ('job=~"$job"', 'instance=~"$instance"')
EXPORTED = METRIC_TYPES | PROCESS_METRIC_TYPES
EXPECTED_DASHBOARDS = {"overview.json", "selection.json", "data-health.json"}

DASHBOARDS = dashboard_paths()
EXPRESSIONS = all_expressions()


def test_the_three_dashboards_exist():
    assert {path.name for path in DASHBOARDS} == EXPECTED_DASHBOARDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_has_uid_title_and_grafana_schema(path):
    dashboard = load_dashboard(path)
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["refresh"] == "5s"
    assert dashboard["id"] is None  # provisioned dashboards must not carry a database id
    assert list(iter_panels(dashboard))


def test_dashboard_uids_and_titles_are_unique():
    dashboards = [load_dashboard(path) for path in DASHBOARDS]
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    assert len({d["title"] for d in dashboards}) == len(dashboards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_reads_the_datasource_variable(path):
    for panel in iter_panels(load_dashboard(path)):
        title = panel.get("title")
        assert panel["type"] in {"timeseries", "stat", "table"}, title
        assert panel["datasource"] == DATASOURCE, title
        assert panel.get("targets"), f"panel {title!r} has no target"
        for target in panel["targets"]:
            assert target["expr"], title
            assert target.get("datasource", DATASOURCE) == DATASOURCE, title


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_panels_fit_the_grid(path):
    panels = list(iter_panels(load_dashboard(path)))
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_ref_ids_are_unique_within_a_panel(path):
    for panel in iter_panels(load_dashboard(path)):
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_no_datasource_uid_is_hard_coded(path):
    assert '"uid": "prometheus"' not in path.read_text()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_datasource_job_and_instance_are_variables(path):
    variables = {v["name"]: v for v in load_dashboard(path)["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "instance"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job, instance = variables["job"], variables["instance"]
    assert job["definition"] == "label_values(stream_al_build_info, job)"
    assert instance["definition"] == 'label_values(stream_al_build_info{job=~"$job"}, instance)'
    for variable in (job, instance):
        assert variable["datasource"] == DATASOURCE
        assert variable["includeAll"] and variable["multi"] and variable["allValue"] == ".*"


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"), EXPRESSIONS, ids=[f"{d}:{t}" for d, t, _ in EXPRESSIONS]
)
def test_every_expression_reads_only_exported_metrics(dashboard, title, expr):
    names = referenced_metrics(expr)
    assert names, f"{expr!r} reads no metric"
    unknown = {
        name for name in names
        if name != "ALERTS" and metric_for_series(name, EXPORTED) is None
    }
    assert not unknown, f"{dashboard} / {title}: not exported by Metrics: {sorted(unknown)}"


def selectors(expr: str) -> list[tuple[str, str]]:
    """``(metric, matchers)`` for every metric an expression selects (matchers may be '')."""
    return [(m.group(1), m.group(2) or "") for m in re.finditer(
        r"\b((?:stream_al|process)_[a-z0-9_]+|ALERTS)(\{[^}]*\})?", expr)]


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"), EXPRESSIONS, ids=[f"{d}:{t}" for d, t, _ in EXPRESSIONS]
)
def test_every_selector_is_filtered_by_job_and_instance(dashboard, title, expr):
    for metric, matchers in selectors(expr):
        if metric == "ALERTS":  # alerts keep the job label (rules aggregate by job)
            assert 'job=~"$job"' in matchers, f"{title}: {expr}"
        else:
            assert all(m in matchers for m in SCOPE), f"{title}: {metric} in {expr}"


def is_counter_series(name: str) -> bool:
    kind = METRIC_TYPES.get(name) or PROCESS_METRIC_TYPES.get(name)
    histogram = metric_for_series(name, METRIC_TYPES)
    return kind == "counter" or (histogram is not None and histogram != name)


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"), EXPRESSIONS, ids=[f"{d}:{t}" for d, t, _ in EXPRESSIONS]
)
def test_counters_are_read_through_rate_or_increase_never_raw(dashboard, title, expr):
    for m in re.finditer(r"\b((?:stream_al|process)_[a-z0-9_]+)(\{[^}]*\})?(\[)?", expr):
        if is_counter_series(m.group(1)):
            assert m.group(3), f"{title}: {m.group(1)} is read raw in {expr}"
            before = expr[: m.start()]
            assert re.search(r"(rate|increase)\($", before.rstrip()), f"{title}: {expr}"


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"), EXPRESSIONS, ids=[f"{d}:{t}" for d, t, _ in EXPRESSIONS]
)
def test_coordinator_gauges_are_never_summed_or_averaged_across_workers(dashboard, title, expr):
    for gauge in COORDINATOR_GAUGES:
        pattern = r"\b(sum|avg)\b(\s*by\s*\([^)]*\))?\s*\(\s*" + gauge + r"\b"
        assert not re.search(pattern, expr), f"{title}: {expr}"


def test_throughput_is_a_rate_of_the_embed_stage_counter_not_a_computed_gauge():
    assert not any("throughput" in e for _, _, e in EXPRESSIONS)
    throughput = [e for d, t, e in EXPRESSIONS if d == "overview.json" and "Throughput" in t]
    assert throughput and all(
        'rate(stream_al_stage_items_in_total{job=~"$job", instance=~"$instance", stage="embed"}'
        in e for e in throughput
    )


def test_the_overview_shows_the_alerts_and_the_coordinator_count():
    overview = dict(dashboard_expressions(load_dashboard(GRAFANA / "dashboards/overview.json")))
    assert overview["Alerts firing"].startswith('count(ALERTS{alertstate="firing"')
    assert overview["Alerts"] == 'ALERTS{alertname=~"StreamAl.*", job=~"$job"}'
    assert overview["Coordinators"].startswith("count(stream_al_budget_spent_labels{")


def test_the_overview_shows_process_memory_and_cpu():
    exprs = " ".join(e for d, _, e in EXPRESSIONS if d == "overview.json")
    assert "process_resident_memory_bytes" in exprs
    assert "rate(process_cpu_seconds_total" in exprs


def test_variables_are_replaced_for_prometheus():
    expr = 'rate(stream_al_errors_total{job=~"$job", instance=~"$instance"}[$__rate_interval])'
    assert resolved(expr) == 'rate(stream_al_errors_total{job=~".*", instance=~".*"}[1m])'


def test_expression_extraction_reads_every_target():
    dashboard = {
        "panels": [
            {"type": "stat", "title": "a", "targets": [{"expr": "x", "refId": "A"}]},
            {
                "type": "row",
                "title": "r",
                "panels": [
                    {
                        "type": "timeseries",
                        "title": "b",
                        "targets": [{"expr": "y", "refId": "A"}, {"expr": "z", "refId": "B"}],
                    },
                ],
            },
        ]
    }
    assert dashboard_expressions(dashboard) == [("a", "x"), ("b", "y"), ("b", "z")]


@pytest.mark.parametrize(
    ("series", "metric"),
    [
        ("stream_al_errors_total", "stream_al_errors_total"),
        ("stream_al_model_version", "stream_al_model_version"),
        ("stream_al_stage_latency_seconds_bucket", "stream_al_stage_latency_seconds"),
        ("stream_al_stage_latency_seconds_count", "stream_al_stage_latency_seconds"),
        ("stream_al_label_to_model_seconds_sum", "stream_al_label_to_model_seconds"),
        ("stream_al_stage_latency_seconds", None),  # a histogram has no bare series
        ("stream_al_errors", None),  # counters are exposed with _total
        ("stream_al_model_version_count", None),  # _count belongs to histograms only
        ("stream_al_errors_total_bucket", None),
    ],
)
def test_series_names_map_to_exported_metrics(series, metric):
    assert metric_for_series(series, METRIC_TYPES) == metric


def test_metric_names_are_extracted_from_promql():
    expr = (
        "histogram_quantile(0.95, sum by (stage, le) "
        '(rate(stream_al_stage_latency_seconds_bucket{stage="embed"}[1m]))) '
        "/ scalar(sum(stream_al_model_version))"
    )
    assert referenced_series(expr) == {
        "stream_al_stage_latency_seconds_bucket",
        "stream_al_model_version",
    }


# ----------------------------------------------------------------- provisioning
def test_grafana_provisions_one_prometheus_datasource_the_variable_picks():
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = config["datasources"]
    assert source["uid"] == PROVISIONED["uid"]
    assert source["type"] == PROVISIONED["type"]
    assert source["isDefault"]
    assert source["url"] == "http://prometheus:9090"


def test_grafana_loads_dashboards_from_files():
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_prometheus_scrapes_the_workers_every_5s():
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "5s"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "stream-al"
    (static,) = job["static_configs"]
    assert "worker:9464" in static["targets"]
