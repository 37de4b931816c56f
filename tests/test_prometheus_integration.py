"""A real worker scraped by a real Prometheus with ``deploy/prometheus.yml``; every dashboard
query answered.

One stack for the module: a worker on 127.0.0.1 running the bandit strategy (so bandit weights,
selections by every arm and the balanced arm's reservoir all exist), 1,500 AG News texts from the
producer, the simulated vendor answering each selected item with two of three annotators (so
agreement is measured), one malformed text (a dead letter) and one scored batch from a scorer
with another embedder (a processing error). Prometheus scrapes every second.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from stream_al.config import SelectionSettings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.score.batch import score_many
from stream_al.stream.messages import ScoredBatchRecord
from tests.fixtures.deploy import free_ports
from tests.promql import all_expressions, resolved
from tests.stream.harness import (
    AG_NEWS,
    REPO,
    Worker,
    pipeline_config,
    run_cli,
    send_raw,
    settings_of,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]

N_TEXTS = 1500
FRACTION = 0.1
RATE = 300  # texts/s: the stream lasts ~5 scrapes, so counters are seen rising
SETTLE_S = 120.0
EXPRESSIONS = all_expressions()

SCOPE = 'job=~"$job", instance=~"$instance"'
NO_SERIES_IN_THIS_RUN = {
    # Annotator accuracy is measured on gold items, and the worker is given none.
    f"max by (annotator) (stream_al_annotator_accuracy_ratio{{{SCOPE}}})",
    # The budget counts labels (cost.unit labels): there is no budget in minutes or money.
    f"max(stream_al_budget_spent_minutes{{{SCOPE}}})",
    f"max(stream_al_budget_remaining_minutes{{{SCOPE}}})",
    f"max(stream_al_budget_spent_money{{{SCOPE}}})",
    f"max(stream_al_budget_remaining_money{{{SCOPE}}})",
}
MAY_HAVE_NO_SERIES = {
    # Alerts pending or firing: whether any is pending when the query runs depends on timing
    # (the one malformed text makes StreamAlDeadLetters pending for 5 minutes).
    'ALERTS{alertname=~"StreamAl.*", job=~"$job"}',
    # The budget pacer's panels: pacing is off by default (pacing.enabled), so its gauges are
    # absent in this run; with pacing on they are set after each control record.
    f"max(stream_al_pacer_rate{{{SCOPE}}})",
    f"max(stream_al_pacer_state{{{SCOPE}}})",
    f"max(stream_al_pacer_saved_labels{{{SCOPE}}})",
    f'max by (signal) (stream_al_pacer_signal{{{SCOPE}, '
    f'signal=~"kappa|improvement_per_100|control_prequential"}})',
}


def scrape_config(targets: list[str], path: Path) -> Path:
    """``deploy/prometheus.yml`` with ``targets``, a 1 s scrape interval and its rule files by
    absolute path, written to ``path``."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    config["rule_files"] = [str(REPO / "deploy" / f) for f in config["rule_files"]]
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    static["targets"] = targets
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def query(base_url: str, promql: str) -> list[dict]:
    """The result of an instant query; fails the test, with Prometheus' error, if it errs."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as e:  # 400/422: a bad expression
        answer = json.loads(e.read())
    assert answer["status"] == "success", f"{promql}: {answer.get('error')}"
    return answer["data"]["result"]


def value(base_url: str, promql: str) -> float | None:
    """The single value of a one-series query (None while there is no series)."""
    result = query(base_url, promql)
    assert len(result) <= 1, f"{promql} returned {len(result)} series"
    return float(result[0]["value"][1]) if result else None


def measured(base_url: str, promql: str) -> list[float]:
    """``[value]`` once a one-series gauge holds a number (not NaN), else ``[]``."""
    v = value(base_url, promql)
    return [] if v is None or math.isnan(v) else [v]


def scraped(base_url: str, selector: str, window: str = "10m") -> list[float]:
    """Every scraped sample of one series in the last ``window``, oldest first."""
    result = query(base_url, f"{selector}[{window}]")
    return [float(v) for _, v in result[0]["values"]] if result else []


@dataclass
class Stack:
    url: str
    worker: Worker
    topics: dict[str, str]


def alien_batch() -> bytes:
    """A scored batch as a scorer with another (8-dim) embedder would send it."""
    X = np.eye(3, 8, dtype=np.float32)
    scores = score_many(ModelSnapshot.empty(8), X)
    ids = [f"alien-{i}" for i in range(3)]
    record = ScoredBatchRecord.of("alien", ids, ["a", "b", "c"], X, scores, 0, np.ones(3), 0.0)
    return record.to_bytes()


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, prometheus_server, tmp_path_factory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("prometheus-integration")
    config = pipeline_config(
        kafka_bootstrap, directory, budget={"fraction": FRACTION, "warmup_labels": 0}
    )
    topics = settings_of(config)["kafka"]["topics"]
    (port,) = free_ports(1)
    with Worker(
        config, directory / "worker.log", "--strategy", "bandit", "--metrics-port", str(port)
    ) as worker:
        assert worker.port == port
        target = f"127.0.0.1:{port}"
        url = prometheus_server(scrape_config([target], directory / "prometheus.yml"))
        wait_for(
            lambda: value(url, f'up{{job="stream-al", instance="{target}"}}') == 1,
            30,
            "Prometheus to scrape the worker",
        )
        vendor = threading.Thread(target=run_vendor, args=(config,), daemon=True)
        vendor.start()
        produced = run_cli(
            "produce", "--config", str(config), "--data", str(AG_NEWS),
            "--limit", str(N_TEXTS), "--rate", str(RATE), "--id-prefix", "ag",
        )  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        send_raw(kafka_bootstrap, topics["texts"], [(b"bad", b"not json")])
        wait_for(
            lambda: (value(url, "stream_al_budget_spent_labels") or 0) > 0,
            60,
            "the worker to buy labels",
        )  # then the coordinator's index holds vectors, and the alien batch fails in it
        send_raw(kafka_bootstrap, topics["control"], [(b"alien", alien_batch())])
        yield Stack(url, worker, topics)
        vendor.join(timeout=60)


def run_vendor(config: Path) -> None:
    """The simulated vendor, until it has had nothing to answer for 10 s."""
    run_cli(
        "vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag",
        "--annotators", "3", "--per-item", "2", "--noise", "0.1", "--max-idle", "10",
        timeout_s=300,
    )  # fmt: skip


def test_key_series_exist_and_move(stack):
    url = stack.url
    for stage in ("embed", "score", "select"):
        selector = f'stream_al_stage_items_in_total{{stage="{stage}"}}'
        wait_for(lambda s=selector: (value(url, s) or 0) >= N_TEXTS, SETTLE_S, f"{selector}")
        samples = scraped(url, selector)
        assert samples == sorted(samples), f"{selector} went down: {samples}"
        assert any(b > a for a, b in zip(samples, samples[1:], strict=False)), (
            f"{selector} never rose between two scrapes: {samples}"
        )
    wait_for(lambda: query(url, "stream_al_model_version > 0"), SETTLE_S, "a model version > 0")
    versions = scraped(url, "stream_al_model_version")
    assert versions == sorted(versions), f"the scorers' model version went down: {versions}"
    (accuracy,) = wait_for(
        lambda: measured(url, "stream_al_prequential_accuracy_ratio"), SETTLE_S, "an accuracy"
    )
    assert 0.0 <= accuracy <= 1.0
    spent = value(url, "stream_al_budget_spent_labels")
    assert 0 < spent <= FRACTION * N_TEXTS + 1e-9
    # one query, so both numbers come from the same scrape
    assert value(url, "stream_al_budget_limit_labels - stream_al_budget_spent_labels") >= 0
    assert query(url, "stream_al_budget_spent_minutes") == []  # cost.unit labels
    assert value(url, "stream_al_build_info") == 1
    assert value(url, "process_resident_memory_bytes") > 50e6  # a worker with numpy and faust
    wait_for(
        lambda: (value(url, 'stream_al_labels_received_total{outcome="accepted"}') or 0) > 0,
        SETTLE_S,
        "accepted labels",
    )
    (ece,) = measured(url, "stream_al_calibration_error_ratio")
    assert 0.0 <= ece <= 1.0
    weights = value(url, "sum(stream_al_bandit_weight)")
    assert weights == pytest.approx(1.0)
    assert value(url, "count(stream_al_bandit_weight)") == len(SelectionSettings().bandit_arms)


def test_the_rules_are_loaded_and_a_healthy_run_fires_no_critical_alert(stack):
    url = f"{stack.url}/api/v1/rules"
    with urllib.request.urlopen(url, timeout=10) as response:
        groups = json.loads(response.read())["data"]["groups"]
    assert {g["name"] for g in groups} == {"stream-al.recording", "stream-al.alerts"}
    wait_for(lambda: value(stack.url, "job:stream_al_coordinators:count") == 1, SETTLE_S,
             "one coordinator")
    assert query(stack.url, 'ALERTS{severity="critical", alertstate="firing"}') == []


def test_the_worker_is_ready_and_healthy(stack):
    base = f"http://127.0.0.1:{stack.worker.port}"
    for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert (response.status, response.read()) == (200, body)


def test_the_allow_list_names_dashboard_queries():
    assert not (NO_SERIES_IN_THIS_RUN | MAY_HAVE_NO_SERIES) - {expr for _, _, expr in EXPRESSIONS}


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"),
    EXPRESSIONS,
    ids=[f"{d}:{t}:{i}" for i, (d, t, _) in enumerate(EXPRESSIONS)],
)
def test_every_dashboard_query_runs_and_returns_series(stack, dashboard, title, expr):
    if expr in NO_SERIES_IN_THIS_RUN:
        assert query(stack.url, resolved(expr)) == [], f"{expr} has series now: take it off the list"
        return
    if expr in MAY_HAVE_NO_SERIES:
        query(stack.url, resolved(expr))  # runs without an error
        return
    wait_for(
        lambda: query(stack.url, resolved(expr)),
        SETTLE_S,
        f"{dashboard} / {title}: {expr!r} to return series",
    )
