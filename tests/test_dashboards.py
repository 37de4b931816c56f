"""The Grafana dashboards, their provisioning and the Prometheus scrape config.

Every panel reads only metrics that ``stream_al.metrics`` exports; running each expression
against a real Prometheus is the integration test's job (it reuses ``tests/promql.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stream_al.metrics import METRIC_TYPES
from tests.promql import (
    all_expressions,
    dashboard_expressions,
    dashboard_paths,
    iter_panels,
    load_dashboard,
    metric_for_series,
    referenced_series,
)

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
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
def test_every_panel_reads_the_prometheus_datasource(path):
    for panel in iter_panels(load_dashboard(path)):
        title = panel.get("title")
        assert panel["type"] in {"timeseries", "stat"}, title
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


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"), EXPRESSIONS, ids=[f"{d}:{t}" for d, t, _ in EXPRESSIONS]
)
def test_every_expression_reads_only_exported_metrics(dashboard, title, expr):
    series = referenced_series(expr)
    assert series, f"{expr!r} reads no stream_al_ metric"
    unknown = {name for name in series if metric_for_series(name, METRIC_TYPES) is None}
    assert not unknown, f"{dashboard} / {title}: not exported by Metrics: {sorted(unknown)}"


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
def test_grafana_datasource_is_prometheus_with_the_dashboards_uid():
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = config["datasources"]
    assert source["uid"] == DATASOURCE["uid"]
    assert source["type"] == DATASOURCE["type"]
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
