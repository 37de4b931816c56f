"""Prometheus metrics for a stream-al worker: one :class:`Metrics` per worker, one registry each.

Every metric lives on the registry handed to :class:`Metrics` (a fresh one by default), never
on ``prometheus_client``'s global registry, so two workers in one process do not collide.
The call sites use the small typed methods (``observe_*`` for histograms, ``count_*`` for
counters, ``set_*`` for gauges) instead of touching the metric objects.

>>> metrics = Metrics()
>>> metrics.observe_stage("embed", n_in=32, n_out=32, seconds=0.012)
>>> metrics.registry.get_sample_value("stream_al_stage_items_in_total", {"stage": "embed"})
32.0

:data:`METRIC_TYPES` names every metric as PromQL sees it (counters with their ``_total``,
histograms by the base name of their ``_bucket``/``_sum``/``_count`` series); the dashboard
tests check every panel against it.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STAGES = ("embed", "score", "select", "learn", "vendor_out", "labels_in")
LABEL_OUTCOMES = ("accepted", "duplicate", "rejected")
REGISTRY_OUTCOMES = ("registered", "skipped", "failed")
OTHER = "other"
"""The label value that classes and annotators beyond the cardinality cap are counted under."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABEL_TO_MODEL_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

METRIC_TYPES: dict[str, str] = {
    # pipeline stages
    "stream_al_stage_items_in_total": "counter",
    "stream_al_stage_items_out_total": "counter",
    "stream_al_stage_latency_seconds": "histogram",
    "stream_al_errors_total": "counter",
    "stream_al_dead_letters_total": "counter",
    "stream_al_consumer_lag_messages": "gauge",
    "stream_al_batch_size_items": "histogram",
    # selection
    "stream_al_selected_items_total": "counter",
    "stream_al_budget_spent_labels": "gauge",
    "stream_al_budget_remaining_labels": "gauge",
    "stream_al_budget_spent_cost_units": "gauge",
    "stream_al_budget_remaining_cost_units": "gauge",
    "stream_al_bandit_weight": "gauge",
    "stream_al_reservoir_items": "gauge",
    "stream_al_reservoir_capacity_items": "gauge",
    "stream_al_reservoir_clusters": "gauge",
    # learning
    "stream_al_labels_received_total": "counter",
    "stream_al_labels_by_class_total": "counter",
    "stream_al_model_version": "gauge",
    "stream_al_label_to_model_seconds": "histogram",
    "stream_al_prequential_accuracy_ratio": "gauge",
    "stream_al_calibration_error_ratio": "gauge",
    "stream_al_model_temperature": "gauge",
    "stream_al_registry_versions_total": "counter",
    # data health
    "stream_al_drift_score": "gauge",
    "stream_al_drift_alarms_total": "counter",
    "stream_al_ood_ratio": "gauge",
    "stream_al_throughput_texts_per_second": "gauge",
    # annotation
    "stream_al_labels_by_annotator_total": "counter",
    "stream_al_annotator_agreement": "gauge",
    "stream_al_annotator_accuracy_ratio": "gauge",
}
METRIC_NAMES = frozenset(METRIC_TYPES)



def sample_value(exposition: str, name: str, **labels: str) -> float:
    """One sample of a ``/metrics`` page: ``name`` with exactly ``labels`` (0.0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    match = re.search("^" + pattern + "$", exposition, re.MULTILINE)
    return float(match.group(1)) if match else 0.0

class WindowRate:
    """Events per second over a sliding window, from timestamps the caller passes in.

    Until a whole window has passed since ``start`` the rate is taken over the time since
    ``start``, so the first readings are not diluted by time before the worker ran.

    >>> window = WindowRate(window_s=10.0, start=0.0)
    >>> window.add(50, now=1.0)
    >>> window.add(50, now=2.0)
    >>> window.rate(now=5.0)  # 100 texts in the 5 s since start
    20.0
    >>> window.rate(now=11.5)  # the window is (1.5, 11.5]: the 50 at 1.0 have left it
    5.0
    """

    def __init__(self, window_s: float, start: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        self.window_s = window_s
        self.start = start
        self._events: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def add(self, n: float, now: float) -> None:
        """Count ``n`` events at time ``now`` (seconds, same clock as ``start``)."""
        if n < 0:
            raise ValueError(f"cannot add a negative number of events ({n})")
        self._events.append((now, n))
        self._total += n
        self._evict(now)

    def rate(self, now: float) -> float:
        """Events per second in ``(now - window_s, now]``; 0.0 before any time has passed."""
        self._evict(now)
        span = min(self.window_s, now - self.start)
        return self._total / span if span > 0 else 0.0

    def _evict(self, now: float) -> None:
        horizon = now - self.window_s
        while self._events and self._events[0][0] <= horizon:
            self._total -= self._events.popleft()[1]
        if not self._events:
            self._total = 0.0  # no float residue once the window is empty


class _Cap:
    """Keeps a label's cardinality bounded: the first ``limit`` values pass, later ones are OTHER."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a cardinality cap must be >= 1, got {limit}")
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: object) -> str:
        value = str(value)
        if value in self._seen:
            return value
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        return OTHER


class Metrics:
    """Every stream-al metric, registered on one registry.

    ``stages`` are the stage label values accepted (a typo raises instead of creating a new
    series); their series exist from the start, at 0. Accuracy, calibration error,
    agreement and the OOD rate are NaN until first set. Classes and annotators beyond
    ``max_classes`` / ``max_annotators`` distinct values are counted under ``"other"``.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        stages: Iterable[str] = STAGES,
        max_classes: int = 200,
        max_annotators: int = 200,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.stages = tuple(stages)
        self._class_cap = _Cap(max_classes)
        self._annotator_cap = _Cap(max_annotators)
        self._create_stage_metrics()
        self._create_selection_metrics()
        self._create_learning_metrics()
        self._create_data_metrics()
        self._create_annotation_metrics()
        for stage in self.stages:  # series from the start, so rate() has something to read
            self.stage_items_in.labels(stage)
            self.stage_items_out.labels(stage)
            self.stage_latency.labels(stage)
            self.batch_size.labels(stage)
        for outcome in LABEL_OUTCOMES:
            self.labels_received.labels(outcome)
        # unknown until measured: NaN, not a 0 that reads as "accuracy 0" or "no agreement"
        for gauge in (
            self.prequential_accuracy,
            self.calibration_error,
            self.annotator_agreement,
            self.ood_ratio,
        ):
            gauge.set(math.nan)

    # ----------------------------------------------------------------- creation
    def _create_stage_metrics(self) -> None:
        r = self.registry
        self.stage_items_in = Counter(
            "stream_al_stage_items_in", "Items a stage consumed.", ["stage"], registry=r
        )
        self.stage_items_out = Counter(
            "stream_al_stage_items_out", "Items a stage produced.", ["stage"], registry=r
        )
        self.stage_latency = Histogram(
            "stream_al_stage_latency_seconds",
            "Processing time of one pass (message or batch).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "stream_al_errors", "Errors while processing.", ["stage", "reason"], registry=r
        )
        self.dead_letters = Counter(
            "stream_al_dead_letters",
            "Items sent to the dead-letter topic.",
            ["stage", "reason"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "stream_al_consumer_lag_messages",
            "Messages behind the log end offset.",
            ["topic", "partition"],
            registry=r,
        )
        self.batch_size = Histogram(
            "stream_al_batch_size_items",
            "Items per batch a stage handled or sent.",
            ["stage"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )

    def _create_selection_metrics(self) -> None:
        r = self.registry
        self.selected = Counter(
            "stream_al_selected_items",
            "Items selected for labeling.",
            ["strategy", "reason"],
            registry=r,
        )
        self.budget_spent_labels = Gauge(
            "stream_al_budget_spent_labels", "Labels bought so far.", registry=r
        )
        self.budget_remaining_labels = Gauge(
            "stream_al_budget_remaining_labels", "Labels that may still be bought now.", registry=r
        )
        self.budget_spent_cost = Gauge(
            "stream_al_budget_spent_cost_units", "Budget spent, in cost units.", registry=r
        )
        self.budget_remaining_cost = Gauge(
            "stream_al_budget_remaining_cost_units", "Budget left now, in cost units.", registry=r
        )
        self.bandit_weight = Gauge(
            "stream_al_bandit_weight",
            "Probability the bandit gives each strategy.",
            ["strategy"],
            registry=r,
        )
        self.reservoir_items = Gauge(
            "stream_al_reservoir_items", "Candidates held in the diversity reservoirs.", registry=r
        )
        self.reservoir_capacity = Gauge(
            "stream_al_reservoir_capacity_items", "Candidates the reservoirs can hold.", registry=r
        )
        self.reservoir_clusters = Gauge(
            "stream_al_reservoir_clusters", "Clusters with a reservoir.", registry=r
        )

    def _create_learning_metrics(self) -> None:
        r = self.registry
        self.labels_received = Counter(
            "stream_al_labels_received",
            "Labels that came back, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.labels_by_class = Counter(
            "stream_al_labels_by_class",
            "Accepted labels by class (capped; rest is 'other').",
            ["class"],
            registry=r,
        )
        self.model_version = Gauge(
            "stream_al_model_version", "Model version the scorers use.", registry=r
        )
        self.label_to_model = Histogram(
            "stream_al_label_to_model_seconds",
            "From a label arriving to the scorers using a model that learned it.",
            buckets=LABEL_TO_MODEL_BUCKETS,
            registry=r,
        )
        self.prequential_accuracy = Gauge(
            "stream_al_prequential_accuracy_ratio",
            "Accuracy predicting each arriving label before learning it.",
            registry=r,
        )
        self.calibration_error = Gauge(
            "stream_al_calibration_error_ratio", "Expected calibration error (ECE).", registry=r
        )
        self.temperature = Gauge(
            "stream_al_model_temperature",
            "Temperature dividing the published model's logits (1: not scaled).",
            registry=r,
        )
        self.temperature.set(1.0)
        self.registry_versions = Counter(
            "stream_al_registry_versions",
            "Published model versions by what the registry did with them.",
            ["outcome"],
            registry=r,
        )
        for outcome in REGISTRY_OUTCOMES:
            self.registry_versions.labels(outcome)

    def _create_data_metrics(self) -> None:
        r = self.registry
        self.drift_score = Gauge(
            "stream_al_drift_score", "Drift statistic per detector.", ["detector"], registry=r
        )
        self.drift_alarms = Counter(
            "stream_al_drift_alarms", "Drift alarms raised.", ["detector"], registry=r
        )
        self.ood_ratio = Gauge(
            "stream_al_ood_ratio", "Share of recent texts flagged out-of-distribution.", registry=r
        )
        self.throughput = Gauge(
            "stream_al_throughput_texts_per_second",
            "Texts per second over a sliding window.",
            registry=r,
        )

    def _create_annotation_metrics(self) -> None:
        r = self.registry
        self.labels_by_annotator = Counter(
            "stream_al_labels_by_annotator",
            "Labels received per annotator (capped).",
            ["annotator"],
            registry=r,
        )
        self.annotator_agreement = Gauge(
            "stream_al_annotator_agreement",
            "Inter-annotator agreement (Krippendorff's alpha) on multi-labeled items.",
            registry=r,
        )
        self.annotator_accuracy = Gauge(
            "stream_al_annotator_accuracy_ratio",
            "Annotator accuracy on gold items.",
            ["annotator"],
            registry=r,
        )

    # ------------------------------------------------------------------ stages
    def observe_stage(self, stage: str, n_in: int, n_out: int, seconds: float) -> None:
        """One pass of ``stage`` (a message or a batch): items in and out, and how long it took."""
        stage = self._stage(stage)
        self.stage_items_in.labels(stage).inc(n_in)
        self.stage_items_out.labels(stage).inc(n_out)
        self.stage_latency.labels(stage).observe(seconds)

    def observe_batch(self, stage: str, size: int) -> None:
        self.batch_size.labels(self._stage(stage)).observe(size)

    def count_error(self, stage: str, reason: str, n: int = 1) -> None:
        self.errors.labels(self._stage(stage), reason).inc(n)

    def count_dead_letters(self, stage: str, reason: str, n: int = 1) -> None:
        self.dead_letters.labels(self._stage(stage), reason).inc(n)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic, str(partition)).set(lag)

    # --------------------------------------------------------------- selection
    def count_selected(self, strategy: str, reason: str, n: int = 1) -> None:
        self.selected.labels(strategy, reason).inc(n)

    def set_budget(
        self,
        spent: float,
        remaining: float,
        *,
        spent_cost: float | None = None,
        remaining_cost: float | None = None,
    ) -> None:
        """Budget in labels, and in cost units (the same numbers unless given: 1 unit a label)."""
        self.budget_spent_labels.set(spent)
        self.budget_remaining_labels.set(remaining)
        self.budget_spent_cost.set(spent if spent_cost is None else spent_cost)
        self.budget_remaining_cost.set(remaining if remaining_cost is None else remaining_cost)

    def set_bandit_weights(self, weights: Mapping[str, float]) -> None:
        for strategy, weight in weights.items():
            self.bandit_weight.labels(strategy).set(weight)

    def set_reservoir(self, items: int, capacity: int, clusters: int = 0) -> None:
        self.reservoir_items.set(items)
        self.reservoir_capacity.set(capacity)
        self.reservoir_clusters.set(clusters)

    # ---------------------------------------------------------------- learning
    def count_label(
        self, outcome: str, *, label_class: str | None = None, annotator: str | None = None
    ) -> None:
        """One label back: its outcome, its annotator (any outcome), its class (if accepted)."""
        if outcome not in LABEL_OUTCOMES:
            raise ValueError(f"label outcome must be one of {LABEL_OUTCOMES}, got {outcome!r}")
        self.labels_received.labels(outcome).inc()
        if annotator is not None:
            self.labels_by_annotator.labels(self._annotator_cap(annotator)).inc()
        if label_class is not None and outcome == "accepted":
            self.labels_by_class.labels(self._class_cap(label_class)).inc()

    def set_model_version(self, version: int) -> None:
        self.model_version.set(version)

    def observe_label_to_model(self, seconds: Iterable[float]) -> None:
        """One observation per label that the model now in use has learned."""
        for s in seconds:
            self.label_to_model.observe(s)

    def set_prequential_accuracy(self, accuracy: float) -> None:
        self.prequential_accuracy.set(accuracy)

    def set_calibration_error(self, ece: float) -> None:
        self.calibration_error.set(ece)

    def set_temperature(self, temperature: float) -> None:
        """The temperature the coordinator adopted (stream_al.loop.governing)."""
        self.temperature.set(temperature)

    def count_registry(self, outcome: str) -> None:
        """A published version was registered, skipped (a newer one replaced it) or failed."""
        self.registry_versions.labels(outcome).inc()

    # -------------------------------------------------------------- data health
    def set_drift_score(self, detector: str, score: float) -> None:
        """Also makes the detector's alarm counter exist at 0, so rates read 0, not nothing."""
        self.drift_score.labels(detector).set(score)
        self.drift_alarms.labels(detector)

    def count_drift_alarm(self, detector: str) -> None:
        self.drift_alarms.labels(detector).inc()

    def set_ood_ratio(self, ratio: float) -> None:
        self.ood_ratio.set(ratio)

    def set_throughput(self, texts_per_second: float) -> None:
        """Set from a :class:`WindowRate` the worker keeps: ``window.rate(now)``."""
        self.throughput.set(texts_per_second)

    # -------------------------------------------------------------- annotation
    def set_agreement(self, alpha: float) -> None:
        self.annotator_agreement.set(alpha)

    def set_annotator_accuracy(self, annotator: str, accuracy: float) -> None:
        """Annotators beyond the cap are not exported (one 'other' gauge would mean nothing)."""
        name = self._annotator_cap(annotator)
        if name != OTHER:
            self.annotator_accuracy.labels(name).set(accuracy)

    # ----------------------------------------------------------------- serving
    def start_http_server(
        self, port: int, addr: str = "0.0.0.0"
    ) -> tuple[WSGIServer, threading.Thread]:
        """Serve this registry on ``http://addr:port/metrics`` from a daemon thread.

        Port 0 picks a free port (``server.server_port``); ``server.shutdown()`` stops it.
        """
        return prometheus_client.start_http_server(port, addr, registry=self.registry)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, for serving from another web server."""
        return prometheus_client.generate_latest(self.registry)

    def _stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise ValueError(
                f"unknown stage {stage!r}: use one of {self.stages}, or pass it in Metrics(stages=...)"
            )
        return stage
