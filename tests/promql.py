"""Reading the PromQL out of the Grafana dashboards, and the metric names out of the PromQL.

Shared by ``tests/test_dashboards.py`` (names against :data:`stream_al.metrics.METRIC_TYPES`)
and the Prometheus integration test (each expression run against a real server).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"

_METRIC = re.compile(r"\bstream_al_[a-z0-9_]+")
_ANY_METRIC = re.compile(r"\b(?:stream_al_[a-z0-9_]+|process_[a-z_]+|python_info|ALERTS)\b")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

GRAFANA_VALUES = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}
"""What the dashboards' variables stand for when a test runs their queries: every job and
instance, and Grafana's rate interval for a 1 s scrape."""


def dashboard_paths(directory: Path = DASHBOARD_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows; rows themselves are skipped."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from iter_panels(panel)
        else:
            yield panel


def dashboard_expressions(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` for every target of every panel, in dashboard order."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in iter_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def all_expressions(directory: Path = DASHBOARD_DIR) -> list[tuple[str, str, str]]:
    """``(dashboard file name, panel title, PromQL)`` across every dashboard in ``directory``."""
    return [
        (path.name, title, expr)
        for path in dashboard_paths(directory)
        for title, expr in dashboard_expressions(load_dashboard(path))
    ]


def referenced_series(expr: str) -> set[str]:
    """The ``stream_al_*`` series names an expression reads (as written, suffixes kept)."""
    return set(_METRIC.findall(expr))


def referenced_metrics(expr: str) -> set[str]:
    """Every series name a dashboard expression reads: ours, the process collector's, ALERTS."""
    return set(_ANY_METRIC.findall(expr))


def resolved(expr: str, values: Mapping[str, str] = GRAFANA_VALUES) -> str:
    """``expr`` with the Grafana variables replaced, as Prometheus would receive it."""
    for variable, value in values.items():
        expr = expr.replace(variable, value)
    return expr


def metric_for_series(series: str, metric_types: Mapping[str, str]) -> str | None:
    """The exported metric a series name belongs to, or None if it is not one we export.

    Counters are exported with their ``_total`` and are read by that name; a histogram is read
    through its ``_bucket``/``_sum``/``_count`` series, never by its bare name; gauges as is.
    """
    kind = metric_types.get(series)
    if kind in ("counter", "gauge"):
        return series
    for suffix in _HISTOGRAM_SUFFIXES:
        base = series.removesuffix(suffix)
        if base != series and metric_types.get(base) == "histogram":
            return base
    return None
