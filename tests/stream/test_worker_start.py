"""A healthy start is a quiet start: a worker on a broker that was just created logs no ERROR
and no warning, and no terminal escape codes when its output is not a terminal; it becomes
ready (``/readyz``) and scores what it is sent.

This test starts its own broker: the routine errors came from a broker whose
``__consumer_offsets`` did not exist yet, which the session broker has long since created.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.fixtures.deploy import free_ports, run_script
from tests.stream.harness import Worker, pipeline_config, produce_ag, wait_for

pytestmark = pytest.mark.kafka

N_TEXTS = 200


@pytest.fixture(scope="module")
def fresh_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, controller_port = free_ports(2)
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller_port),
           "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("fresh-kafka")),
           "KAFKA_PYTHON": sys.executable}
    run_script("kafka.sh", "start", env)
    yield f"127.0.0.1:{port}"
    run_script("kafka.sh", "stop", env)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_worker_on_a_fresh_broker_starts_quietly_and_becomes_ready(fresh_broker, tmp_path):
    config = pipeline_config(fresh_broker, tmp_path)
    with Worker(config, tmp_path / "worker.log", "--loglevel", "warning") as worker:
        base = f"http://127.0.0.1:{worker.port}"
        assert status(f"{base}/healthz") == 200
        wait_for(lambda: status(f"{base}/readyz") == 200, 60, "the worker to be ready")
        assert produce_ag(config, N_TEXTS, "ag").returncode == 0
        wait_for(lambda: worker.metric("stream_al_stage_items_in_total", stage="score")
                 >= N_TEXTS, 60, "the texts to be scored")
        wait_for(lambda: worker.metric("stream_al_budget_spent_labels") > 0, 30,
                 "the coordinator to buy labels")
    log = worker.output()
    assert "\x1b" not in log and "\b" not in log, "terminal codes in a log file"
    noisy = [line for line in log.splitlines() if re.search(r"\[(ERROR|WARNING|CRITICAL)\]", line)]
    assert not noisy, "\n".join(noisy)
