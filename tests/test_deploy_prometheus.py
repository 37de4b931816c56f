"""The development Prometheus from ``deploy/prometheus.sh``: a real server that scrapes our metrics."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.fixtures.deploy import free_ports

pytestmark = pytest.mark.prometheus


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def query(base_url: str, promql: str) -> list[dict]:
    """The result vector of an instant query."""
    _, body = get(f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for_series(base_url: str, promql: str, timeout_s: float = 30.0) -> list[dict]:
    """Poll until the query returns a series; Prometheus applies new targets after up to 5s."""
    deadline = time.monotonic() + timeout_s
    while not (result := query(base_url, promql)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return result


def write_config(path: Path, job: str, targets: list[str]) -> Path:
    path.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {job}\n"
        "    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n"
    )
    return path


@pytest.fixture
def exporter() -> Iterator[tuple[int, Counter]]:
    """A /metrics endpoint served from this test process on a free port, with one counter."""
    registry = CollectorRegistry()
    counter = Counter(
        "stream_al_deploy_test_events", "Events counted by the test.", registry=registry
    )
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, counter
    server.shutdown()
    thread.join(timeout=5)


def test_prometheus_answers_ready(prometheus_server, tmp_path):
    base_url = prometheus_server(write_config(tmp_path / "prometheus.yml", "nothing", []))

    status, _ = get(f"{base_url}/-/ready")

    assert status == 200


def test_a_target_we_serve_is_scraped_and_up(prometheus_server, exporter, tmp_path):
    port, counter = exporter
    counter.inc(3)
    config = write_config(tmp_path / "prometheus.yml", "deploy-test", [f"127.0.0.1:{port}"])
    base_url = prometheus_server(config)

    up = wait_for_series(base_url, 'up{job="deploy-test"} == 1')
    events = wait_for_series(base_url, 'stream_al_deploy_test_events_total{job="deploy-test"}')

    assert [s["metric"]["instance"] for s in up] == [f"127.0.0.1:{port}"]
    assert [s["value"][1] for s in events] == ["3"]
