"""The bridge's Prometheus metrics, on a registry of its own (served like a worker's).

>>> m = BridgeMetrics()
>>> m.count_tasks("items", 3)
>>> m.registry.get_sample_value("stream_al_bridge_tasks_created_total", {"project": "items"})
3.0
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream_al.health import Readiness, serve

PROJECTS = ("items", "expert")
OUTCOMES = ("label", "skip")
TASK_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

METRIC_TYPES = {
    "stream_al_bridge_tasks_created_total": "counter",
    "stream_al_bridge_annotations_relayed_total": "counter",
    "stream_al_bridge_selected_lag": "gauge",
    "stream_al_bridge_errors_total": "counter",
    "stream_al_bridge_task_latency_seconds": "histogram",
}
"""Every metric of the bridge as PromQL sees it."""


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.tasks = Counter("stream_al_bridge_tasks_created", "Label Studio tasks the bridge "
                             "created, by project (items, expert)", ["project"], registry=r)
        self.relayed = Counter("stream_al_bridge_annotations_relayed", "annotations relayed: "
                               "labels sent to the labels topic, skips to events",
                               ["project", "outcome"], registry=r)
        self.lag = Gauge("stream_al_bridge_selected_lag", "records of selected and expert the "
                         "bridge has not read yet", registry=r)
        self.errors = Counter("stream_al_bridge_errors", "Label Studio calls that failed (and "
                              "were retried)", registry=r)
        self.task_latency = Histogram(
            "stream_al_bridge_task_latency_seconds", "from an item's record on selected to "
            "its task in Label Studio", buckets=TASK_LATENCY_BUCKETS, registry=r)
        for p in PROJECTS:
            self.tasks.labels(p)
            for o in OUTCOMES:
                self.relayed.labels(p, o)
        self.readiness = Readiness(("projects",))
        """Ready once the bridge found or made its projects and consumes."""

    def count_tasks(self, project: str, n: int) -> None:
        self.tasks.labels(project).inc(n)

    def count_relayed(self, project: str, outcome: str) -> None:
        self.relayed.labels(project, outcome).inc()

    def count_error(self) -> None:
        self.errors.inc()

    def set_lag(self, records: int) -> None:
        self.lag.set(records)

    def observe_task_latency(self, seconds: float) -> None:
        self.task_latency.observe(max(0.0, seconds))

    def start_http_server(self, port: int, addr: str = "0.0.0.0",
                          ) -> tuple[WSGIServer, threading.Thread]:
        return serve(self.registry, self.readiness, port, addr)
