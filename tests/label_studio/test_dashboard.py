"""The bridge's Grafana dashboard (``grafana/dashboards/label-studio/``: a folder of its own, so
the worker dashboards' tests, which check against the worker's metrics, leave it be)."""

from __future__ import annotations

import re

from stream_al.label_studio.metrics import METRIC_TYPES, BridgeMetrics
from tests.promql import dashboard_expressions, load_dashboard, metric_for_series
from tests.test_dashboards import DATASOURCE, GRAFANA

PATH = GRAFANA / "dashboards" / "label-studio" / "bridge.json"


def test_every_panel_reads_only_the_bridges_metrics_scoped_by_job_and_instance():
    dashboard = load_dashboard(PATH)
    assert dashboard["uid"] and dashboard["id"] is None and dashboard["refresh"] == "5s"
    expressions = list(dashboard_expressions(dashboard))
    assert expressions
    for title, expr in expressions:
        names = re.findall(r"\b(stream_al_[a-z0-9_]+)(\{[^}]*\})", expr)
        assert names, f"{title}: {expr}"
        for name, matchers in names:
            assert metric_for_series(name, METRIC_TYPES), f"{title}: {name} is not exported"
            assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, title


def test_the_panels_use_the_datasource_variable_and_fit_the_grid():
    for panel in load_dashboard(PATH)["panels"]:
        assert panel["datasource"] == DATASOURCE
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_the_metric_table_names_what_the_bridge_exports():
    exported = {m.name + ("_total" if m.type == "counter" else "")
                for m in BridgeMetrics().registry.collect()}
    assert set(METRIC_TYPES) == exported
