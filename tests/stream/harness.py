"""Running the pipeline for tests: workers as subprocesses, the CLI, and reading topics back.

Workers run ``python -m stream_al.cli worker`` in their own process group (killed as a
group at teardown), with a config file naming topics no other test uses, metrics on a free
port and a temporary state directory.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kafka import TopicPartition

from stream_al.config import KafkaSettings
from stream_al.metrics import sample_value
from stream_al.stream import clients
from stream_al.stream.worker import announced_metrics_port

REPO = Path(__file__).resolve().parents[2]
AG_NEWS = REPO.parent / "shared" / "datasets" / "ag_news.csv"
CLI_RUNS_KEPT = 6
TRANSCRIPT: dict[str, Callable[[], str]] = {}
_RUNS = itertools.count(1)
"""Worker logs and CLI outputs of the running test, by title (a failed test's report ends with
their tails: tests/fixtures/worker_logs.py)."""
TOPICS = (
    "texts", "labels", "selected", "control", "models", "state", "events", "deadletter", "expert",
    "commands", "checkpoint", "reference",
)


def pipeline_config(bootstrap: str, directory: Path, **overrides: Any) -> Path:
    """A YAML settings file with unique topics and group; ``overrides`` merge into it."""
    name = f"t{uuid.uuid4().hex[:10]}"
    config: dict[str, Any] = {
        "embedder": {"name": "hashing"},
        "budget": {"fraction": 0.1, "warmup_labels": 4},
        "selection": {"batch_interval": 50},
        "kafka": {
            "bootstrap": bootstrap,
            "app_id": name,
            "metrics_port": 0,
            "state_dir": str(directory / "state"),
            "batch_within_s": 0.1,
            "topics": {t: f"{name}.{t}" for t in TOPICS},
        },
    }
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def settings_of(config: Path) -> dict[str, Any]:
    return yaml.safe_load(config.read_text())


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def run_cli(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """``python -m stream_al.cli ARGS``, waited for, output captured."""
    done = subprocess.run(
        [sys.executable, "-m", "stream_al.cli", *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    _keep(f"stream-al {' '.join(args[:1])} #{next(_RUNS)} (exit {done.returncode})",
          lambda: done.stdout + done.stderr)
    return done


def _keep(title: str, text: Callable[[], str]) -> None:
    """Remember an output for the failure report; only the last CLI runs are kept."""
    cli = [t for t in TRANSCRIPT if t.startswith("stream-al ")]
    for old in cli[: max(0, len(cli) - CLI_RUNS_KEPT + 1)]:
        del TRANSCRIPT[old]
    TRANSCRIPT[title] = text


def produce_ag(config: Path, limit: int, prefix: str, *extra: str) -> subprocess.CompletedProcess:
    """``stream-al produce`` the first ``limit`` AG News rows as items ``<prefix>-<row>``."""
    return run_cli("produce", "--config", str(config), "--data", str(AG_NEWS),
                   "--limit", str(limit), "--id-prefix", prefix, *extra)


def answer_ag(config: Path, prefix: str, *extra: str) -> subprocess.CompletedProcess:
    """``stream-al vendor`` answering selected items ``<prefix>-<row>`` with AG News' labels."""
    return run_cli("vendor", "--config", str(config), "--gold", str(AG_NEWS),
                   "--id-prefix", prefix, *extra)


class Worker:
    """A ``stream-al worker`` subprocess; use as a context manager or call :meth:`stop`."""

    def __init__(self, config: Path, log: Path, *extra: str) -> None:
        self.config = config
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stream_al.cli",
                "worker",
                "--config",
                str(config),
                "--loglevel",
                "info",
                *extra,
            ],
            cwd=REPO,
            env=_env(),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        TRANSCRIPT[f"worker log {log.name}"] = self.output
        self.port = announced_metrics_port(self.output, self.process, timeout_s=60.0)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on the worker's /metrics (0.0 when absent)."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read()
        return sample_value(text.decode(), name, **labels)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
        """Signal the worker's process group; SIGKILL it if it has not exited in time."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            except ProcessLookupError:
                pass
        self._out.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(
    predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.3,
    state: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` (and what
    ``state`` then reports: what was seen instead)."""
    deadline = time.monotonic() + timeout_s
    stretched = False
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            if not stretched and (extra := timeout_s * (load_factor() - 1.0)) > 0:
                stretched, deadline = True, deadline + extra  # a busy machine, not a stuck worker
                continue
            seen = f"; seen: {state()}" if state is not None else ""
            raise AssertionError(
                f"timed out after {timeout_s}s (load {os.getloadavg()[0]:.1f}) waiting for {what}"
                + seen
            )
        time.sleep(every_s)


async def wait_until(condition: Callable[[], Any], timeout_s: float = 60.0) -> None:
    """:func:`wait_for` inside an event loop (for tests that drive a shell's coroutines):
    yields to the loop between looks at ``condition``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def load_factor() -> float:
    """How much slower than an idle machine this one is now: the 1-minute load average per
    core, at least 1 and at most 4. Deadlines of broker tests are stretched by it once."""
    return min(4.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))


def kafka_of(bootstrap: str | KafkaSettings) -> KafkaSettings:
    """A bootstrap address (the plain session broker), or the settings of a secured client."""
    return bootstrap if isinstance(bootstrap, KafkaSettings) else KafkaSettings(bootstrap=bootstrap)


def read_topic(
    bootstrap: str | KafkaSettings,
    topic: str,
    until: Callable[[list], bool] = lambda r: True,
    timeout_s: float = 30.0,
) -> list:
    """Records of ``topic`` from the beginning (no group) until ``until(records)`` holds and
    the end is reached, or ``timeout_s`` passes (then whatever was read)."""
    consumer = clients.consumer(
        kafka_of(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=64 * 2**20,
        fetch_max_bytes=64 * 2**20,
    )
    try:
        deadline = time.monotonic() + timeout_s
        # the consumer may not have the topic's metadata yet (None or empty): ask again, and
        # read nothing from a topic that does not exist (seek_to_beginning() of no partitions
        # is an error: "No partitions are currently assigned")
        while not (partitions := consumer.partitions_for_topic(topic)):
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            ends = consumer.end_offsets(tps)
            at_end = all(consumer.position(tp) >= ends[tp] for tp in tps)
            if at_end and until(records):
                break
        return records
    finally:
        consumer.close()


def send_raw(bootstrap: str | KafkaSettings, topic: str,
             records: list[tuple[bytes, bytes | None]]) -> None:
    producer = clients.producer(kafka_of(bootstrap), acks="all", max_request_size=64 * 2**20)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def group_assignments(bootstrap: str, group: str) -> list[dict[str, list[int]]]:
    """Per member of a Stable group: topic -> assigned partitions (empty list if rebalancing)."""
    admin = clients.admin(KafkaSettings(bootstrap=bootstrap))
    quiet = logging.getLogger("kafka.admin")  # it warns that faust's metadata is not its own
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        info = admin.describe_groups([group])[group]
    finally:
        quiet.setLevel(level)
        admin.close()
    if info["group_state"] != "Stable":
        return []
    return [
        {a["topic"]: a["partitions"] for a in m["member_assignment"]["assigned_partitions"]}
        for m in info["members"]
    ]
