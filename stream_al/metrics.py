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
tests check every panel against it. Besides them, the registry carries the process
collector's ``process_*`` series and ``python_info`` (:data:`PROCESS_METRIC_TYPES`).

**Coordinator gauges** (:data:`COORDINATOR_GAUGES`: budget, bandit, reservoir, model quality,
drift and annotator gauges) are set only by the worker that holds the ``control`` partition.
Each is exposed once set, and :meth:`Metrics.release_coordinator` removes them all when the
worker loses that role, so across workers there is one series of each (none while no worker
coordinates, two during a split): never sum them, and count them to see the coordinator.

**Units never change with a setting**: ``*_labels`` budget gauges count ledger units (one a
label; with ``cost.unit`` minutes or money, one a typical label, ``cost.reference_chars``
long); ``*_minutes`` and ``*_money`` gauges exist only under that ``cost.unit`` (money in the
currency ``cost.hourly_rate`` and ``cost.fee_per_label`` are given in).
"""

from __future__ import annotations

import platform
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stream_al import __version__
from stream_al.health import WORKER_CONDITIONS, Readiness, serve

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
    "stream_al_budget_limit_labels": "gauge",
    "stream_al_budget_spent_minutes": "gauge",
    "stream_al_budget_remaining_minutes": "gauge",
    "stream_al_budget_spent_money": "gauge",
    "stream_al_budget_remaining_money": "gauge",
    "stream_al_bandit_weight": "gauge",
    "stream_al_reservoir_items": "gauge",
    "stream_al_reservoir_capacity_items": "gauge",
    "stream_al_reservoir_clusters": "gauge",
    "stream_al_pacer_state": "gauge",
    "stream_al_pacer_rate": "gauge",
    "stream_al_pacer_saved_labels": "gauge",
    "stream_al_pacer_saved_cost": "gauge",
    "stream_al_pacer_signal": "gauge",
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
    # annotation
    "stream_al_labels_by_annotator_total": "counter",
    "stream_al_annotator_agreement": "gauge",
    "stream_al_annotator_accuracy_ratio": "gauge",
    # the build
    "stream_al_build_info": "gauge",
}
METRIC_NAMES = frozenset(METRIC_TYPES)

COORDINATOR_GAUGES = frozenset({
    "stream_al_budget_spent_labels",
    "stream_al_budget_remaining_labels",
    "stream_al_budget_limit_labels",
    "stream_al_budget_spent_minutes",
    "stream_al_budget_remaining_minutes",
    "stream_al_budget_spent_money",
    "stream_al_budget_remaining_money",
    "stream_al_bandit_weight",
    "stream_al_reservoir_items",
    "stream_al_reservoir_capacity_items",
    "stream_al_reservoir_clusters",
    "stream_al_pacer_state",
    "stream_al_pacer_rate",
    "stream_al_pacer_saved_labels",
    "stream_al_pacer_saved_cost",
    "stream_al_pacer_signal",
    "stream_al_prequential_accuracy_ratio",
    "stream_al_calibration_error_ratio",
    "stream_al_model_temperature",
    "stream_al_drift_score",
    "stream_al_ood_ratio",
    "stream_al_annotator_agreement",
    "stream_al_annotator_accuracy_ratio",
})
"""Gauges exposed only by the worker that coordinates, and only once set (see the module doc)."""

PROCESS_METRIC_TYPES: dict[str, str] = {
    "process_virtual_memory_bytes": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "python_info": "gauge",
}
"""The standard process and platform series (``prometheus_client``'s collectors, Linux)."""

COST_UNITS = ("minutes", "money")
"""The ``cost.unit`` values besides ``labels``, each with its own pair of budget gauges."""



def sample_value(exposition: str, name: str, **labels: str) -> float:
    """One sample of a ``/metrics`` page: ``name`` with exactly ``labels`` (0.0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    match = re.search("^" + pattern + "$", exposition, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


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


class _CoordinatorGauges(Collector):
    """The gauges of :data:`COORDINATOR_GAUGES`: each exposed once set, all hidden again (and
    their labelled series dropped) by :meth:`release`."""

    def __init__(self) -> None:
        self._gauges: list[Gauge] = []
        self._labelled: list[Gauge] = []
        self._shown: set[Gauge] = set()

    def gauge(self, name: str, documentation: str, labelnames: Iterable[str] = ()) -> Gauge:
        labelnames = tuple(labelnames)
        gauge = Gauge(name, documentation, labelnames, registry=None)
        self._gauges.append(gauge)
        if labelnames:
            self._labelled.append(gauge)
        return gauge

    def show(self, *gauges: Gauge) -> None:
        """Expose ``gauges`` (call after setting them, so no scrape reads a stale value)."""
        self._shown.update(gauges)

    def release(self) -> None:
        self._shown.clear()
        for gauge in self._labelled:
            gauge.clear()

    def describe(self) -> list[Metric]:
        return [family for gauge in self._gauges for family in gauge.describe()]

    def collect(self) -> Iterator[Metric]:
        shown = set(self._shown)  # the event loop may show more while a scrape reads
        for gauge in self._gauges:
            if gauge in shown:
                yield from gauge.collect()


class Metrics:
    """Every stream-al metric, registered on one registry, with the process collector.

    ``stages`` are the stage label values accepted (a typo raises instead of creating a new
    series); their series exist from the start, at 0. The coordinator gauges exist once set
    (a gauge read as 0 or NaN before anything was measured would look like a measurement).
    Classes and annotators beyond ``max_classes`` / ``max_annotators`` distinct values are
    counted under ``"other"``. ``readiness`` is what ``/readyz`` reports
    (:mod:`stream_al.health`).
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
        self.readiness = Readiness(WORKER_CONDITIONS)
        self._coordinator = _CoordinatorGauges()
        self._lagging: set[tuple[str, str]] = set()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        Info("stream_al_build", "The stream-al release and Python running this worker.",
             registry=self.registry).info({"version": __version__,
                                           "python": platform.python_version()})
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
        self.registry.register(self._coordinator)

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
        c = self._coordinator
        self.budget_spent_labels = c.gauge(
            "stream_al_budget_spent_labels",
            "Budget spent so far, in labels (ledger units: one a typical label).",
        )
        self.budget_remaining_labels = c.gauge(
            "stream_al_budget_remaining_labels", "Budget that may still be spent now, in labels."
        )
        self.budget_limit_labels = c.gauge(
            "stream_al_budget_limit_labels",
            "Most the budget allows to have spent by now, drift credit included, in labels.",
        )
        self.budget_spent_units = {
            unit: c.gauge(f"stream_al_budget_spent_{unit}", f"Budget spent so far, in {unit}.")
            for unit in COST_UNITS
        }
        self.budget_remaining_units = {
            unit: c.gauge(f"stream_al_budget_remaining_{unit}",
                          f"Budget that may still be spent now, in {unit}.")
            for unit in COST_UNITS
        }
        self.bandit_weight = c.gauge(
            "stream_al_bandit_weight", "Probability the bandit gives each strategy.", ["strategy"]
        )
        self.reservoir_items = c.gauge(
            "stream_al_reservoir_items", "Candidates held in the diversity reservoirs."
        )
        self.reservoir_capacity = c.gauge(
            "stream_al_reservoir_capacity_items", "Candidates the reservoirs can hold."
        )
        self.reservoir_clusters = c.gauge("stream_al_reservoir_clusters", "Clusters with a reservoir.")
        self.pacer_state = c.gauge("stream_al_pacer_state", "Budget pacer: 0 active (full rate), "
                                   "1 slowing, 2 paused (at pacing.floor).")
        self.pacer_rate = c.gauge("stream_al_pacer_rate",
                                  "Budget pacer: spending rate, x the budget.")
        self.pacer_saved_labels = c.gauge("stream_al_pacer_saved_labels",
                                          "Budget pacer: labels not bought (budget saved).")
        self.pacer_saved_cost = c.gauge("stream_al_pacer_saved_cost", "Budget pacer: budget "
                                        "saved, in ledger units (cost.unit).")
        self.pacer_signal = c.gauge("stream_al_pacer_signal", "Budget pacer: last value of each "
                                    "stopping signal (kappa, improvement_per_100, ...).",
                                    ["signal"])

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
        c = self._coordinator
        self.prequential_accuracy = c.gauge(
            "stream_al_prequential_accuracy_ratio",
            "Accuracy predicting each arriving label before learning it.",
        )
        self.calibration_error = c.gauge(
            "stream_al_calibration_error_ratio", "Expected calibration error (ECE)."
        )
        self.temperature = c.gauge(
            "stream_al_model_temperature",
            "Temperature dividing the published model's logits (1: not scaled).",
        )
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
        c = self._coordinator
        self.drift_score = c.gauge(
            "stream_al_drift_score", "Drift statistic per detector.", ["detector"]
        )
        self.drift_alarms = Counter(
            "stream_al_drift_alarms", "Drift alarms raised.", ["detector"], registry=r
        )
        self.ood_ratio = c.gauge(
            "stream_al_ood_ratio", "Share of recent texts flagged out-of-distribution."
        )

    def _create_annotation_metrics(self) -> None:
        r = self.registry
        self.labels_by_annotator = Counter(
            "stream_al_labels_by_annotator",
            "Labels received per annotator (capped).",
            ["annotator"],
            registry=r,
        )
        c = self._coordinator
        self.annotator_agreement = c.gauge(
            "stream_al_annotator_agreement",
            "Inter-annotator agreement (Krippendorff's alpha) on multi-labeled items.",
        )
        self.annotator_accuracy = c.gauge(
            "stream_al_annotator_accuracy_ratio", "Annotator accuracy on gold items.", ["annotator"]
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
        self._lagging.add((topic, str(partition)))

    def set_consumer_lags(self, lags: Mapping[tuple[str, int], int]) -> None:
        """The lag of every partition this worker reads now; the series of partitions it no
        longer reads are removed (another worker reports them: summing stays right)."""
        now = {(topic, str(partition)) for topic, partition in lags}
        for gone in self._lagging - now:
            self.consumer_lag.remove(*gone)
        self._lagging = now
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(lag)

    # --------------------------------------------------------------- selection
    def count_selected(self, strategy: str, reason: str, n: int = 1) -> None:
        self.selected.labels(strategy, reason).inc(n)

    def set_budget(
        self,
        spent: float,
        remaining: float,
        *,
        limit: float | None = None,
        unit: str = "labels",
        spent_cost: float | None = None,
        remaining_cost: float | None = None,
    ) -> None:
        """Budget in labels (ledger units), its ``limit`` (spent + allowance + drift credit:
        spending beyond it is an overspend) if known, and, for ``unit`` minutes or money, the
        same in that unit (``spent_cost``, ``remaining_cost``; both needed)."""
        shown = [self.budget_spent_labels, self.budget_remaining_labels]
        self.budget_spent_labels.set(spent)
        self.budget_remaining_labels.set(remaining)
        if limit is not None:
            self.budget_limit_labels.set(limit)
            shown.append(self.budget_limit_labels)
        if unit != "labels":
            if unit not in COST_UNITS or spent_cost is None or remaining_cost is None:
                raise ValueError(f"a budget in {unit!r} needs spent_cost and remaining_cost, "
                                 f"and unit one of labels, {', '.join(COST_UNITS)}")
            self.budget_spent_units[unit].set(spent_cost)
            self.budget_remaining_units[unit].set(remaining_cost)
            shown += [self.budget_spent_units[unit], self.budget_remaining_units[unit]]
        self._coordinator.show(*shown)

    def set_bandit_weights(self, weights: Mapping[str, float]) -> None:
        for strategy, weight in weights.items():
            self.bandit_weight.labels(strategy).set(weight)
        self._coordinator.show(self.bandit_weight)

    def set_reservoir(self, items: int, capacity: int, clusters: int = 0) -> None:
        self.reservoir_items.set(items)
        self.reservoir_capacity.set(capacity)
        self.reservoir_clusters.set(clusters)
        self._coordinator.show(self.reservoir_items, self.reservoir_capacity,
                               self.reservoir_clusters)

    def set_pacer(self, state: int, rate: float, saved_labels: float, saved_cost: float,
                  signals: Mapping[str, float]) -> None:
        """The budget pacer (stream_al/pace/): state index, rate, budget saved, signals."""
        self.pacer_state.set(state)
        self.pacer_rate.set(rate)
        self.pacer_saved_labels.set(saved_labels)
        self.pacer_saved_cost.set(saved_cost)
        for name, value in signals.items():
            self.pacer_signal.labels(name).set(value)
        self._coordinator.show(self.pacer_state, self.pacer_rate, self.pacer_saved_labels,
                               self.pacer_saved_cost, self.pacer_signal)

    def release_coordinator(self) -> None:
        """This worker lost the coordinator role: its coordinator gauges vanish (until set
        again), so no dashboard or alert reads a budget that another worker now keeps."""
        self._coordinator.release()

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
        self._coordinator.show(self.prequential_accuracy)

    def set_calibration_error(self, ece: float) -> None:
        self.calibration_error.set(ece)
        self._coordinator.show(self.calibration_error)

    def set_temperature(self, temperature: float) -> None:
        """The temperature the coordinator adopted (stream_al.loop.governing)."""
        self.temperature.set(temperature)
        self._coordinator.show(self.temperature)

    def count_registry(self, outcome: str) -> None:
        """A published version was registered, skipped (a newer one replaced it) or failed."""
        self.registry_versions.labels(outcome).inc()

    # -------------------------------------------------------------- data health
    def set_drift_score(self, detector: str, score: float) -> None:
        """Also makes the detector's alarm counter exist at 0, so rates read 0, not nothing."""
        self.drift_score.labels(detector).set(score)
        self.drift_alarms.labels(detector)
        self._coordinator.show(self.drift_score)

    def count_drift_alarm(self, detector: str) -> None:
        self.drift_alarms.labels(detector).inc()

    def set_ood_ratio(self, ratio: float) -> None:
        self.ood_ratio.set(ratio)
        self._coordinator.show(self.ood_ratio)

    # -------------------------------------------------------------- annotation
    def set_agreement(self, alpha: float) -> None:
        self.annotator_agreement.set(alpha)
        self._coordinator.show(self.annotator_agreement)

    def set_annotator_accuracy(self, annotator: str, accuracy: float) -> None:
        """Annotators beyond the cap are not exported (one 'other' gauge would mean nothing)."""
        name = self._annotator_cap(annotator)
        if name != OTHER:
            self.annotator_accuracy.labels(name).set(accuracy)
            self._coordinator.show(self.annotator_accuracy)

    # ----------------------------------------------------------------- serving
    def start_http_server(
        self, port: int, addr: str = "0.0.0.0"
    ) -> tuple[WSGIServer, threading.Thread]:
        """Serve this registry on ``http://addr:port/metrics``, and ``/healthz`` and
        ``/readyz`` (:mod:`stream_al.health`), from a daemon thread.

        Port 0 picks a free port (``server.server_port``); ``server.shutdown()`` stops it.
        """
        return serve(self.registry, self.readiness, port, addr)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, for serving from another web server."""
        return prometheus_client.generate_latest(self.registry)

    def _stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise ValueError(
                f"unknown stage {stage!r}: use one of {self.stages}, or pass it in Metrics(stages=...)"
            )
        return stage
