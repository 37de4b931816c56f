"""What the Kafka benchmarks share: a private broker, worker and vendor processes, fast producing.

The broker is ``deploy/kafka.sh`` on free ports with its data in a temporary directory (never
the developer's broker on 9092); every run gets its own topics and consumer group, so runs on
one broker do not see each other's records. Workers and vendors are the real commands
(``python -m stream_al.cli worker|vendor``) in their own process groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from stream_al.config import KafkaSettings
from stream_al.metrics import sample_value
from stream_al.stream import clients
from stream_al.stream.worker import announced_metrics_port

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
_PID_FILES: dict[str, Path] = {}
"""Per bootstrap address of a :func:`private_broker`, the broker's pid file."""
TOPICS = ("texts", "labels", "selected", "control", "models", "state", "events", "deadletter",
          "checkpoint")


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def read_rows(path: Path, n: int | None = None) -> tuple[list[str], list[str]]:
    """Texts and labels of the first ``n`` rows of a ``text,label`` CSV (all rows if None);
    a file with fewer than ``n`` rows is an error that says so, not a short list."""
    texts, labels = [], []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if n is not None and len(texts) >= n:
                break
            texts.append(row["text"])
            labels.append(row["label"])
    if n is not None and len(texts) < n:
        raise SystemExit(f"{path} has {len(texts):,} rows, fewer than the {n:,} this run needs "
                         "(texts and warm-up): pass a smaller --n or a larger --data")
    return texts, labels


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    """A fresh single-node broker for the benchmark; yields its bootstrap address."""
    port, controller = _free_ports(2)
    data = Path(tempfile.mkdtemp(prefix="stream-al-bench-kafka-"))
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller),
           "KAFKA_DATA_DIR": str(data), "KAFKA_PYTHON": sys.executable}
    script = str(REPO / "deploy" / "kafka.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    bootstrap = f"127.0.0.1:{port}"
    _PID_FILES[bootstrap] = data / "kafka.pid"
    try:
        yield bootstrap
    finally:
        _PID_FILES.pop(bootstrap, None)
        subprocess.run(["bash", script, "stop"], env=env, check=False,
                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def broker_pid(bootstrap: str) -> int:
    """The process id of the :func:`private_broker` at ``bootstrap`` (its JVM)."""
    return int(_PID_FILES[bootstrap].read_text().split()[0])


def run_config(bootstrap: str, directory: Path, **sections: dict[str, Any]) -> Path:
    """A settings file with topics and a group no other run uses; ``sections`` merge in."""
    name = f"b{uuid.uuid4().hex[:10]}"
    config: dict[str, Any] = {
        "kafka": {"bootstrap": bootstrap, "app_id": name, "metrics_port": 0,
                  "state_dir": str(directory / name / "state"),
                  "topics": {t: f"{name}.{t}" for t in TOPICS}},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class Process:
    """A ``python -m ...`` subprocess in its own process group, output to ``log``."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen([sys.executable, *args], cwd=REPO, env=_env(),
                                        stdout=self._out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            except ProcessLookupError:
                pass
        self._out.close()


class Worker(Process):
    """``stream-al worker`` (optionally under :mod:`benchmarks.profiled`); reads its metrics."""

    def __init__(self, config: Path, log: Path, profile: Path | None = None) -> None:
        cmd = ["-m", "stream_al.cli", "worker", "--config", str(config)]
        if profile is not None:
            cmd = ["-m", "benchmarks.profiled", str(profile), *cmd[2:]]
        super().__init__(cmd, log)
        self.port = announced_metrics_port(self.output, self.process, timeout_s=120.0,
                                           every_s=0.1)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        return urllib.request.urlopen(url, timeout=5).read().decode()

    def metric(self, name: str, text: str | None = None, **labels: str) -> float:
        """One sample of the worker's /metrics (0.0 when absent)."""
        return sample_value(self.metrics() if text is None else text, name, **labels)

    def selected_in(self) -> float:
        """Items the coordinator has taken through selection so far."""
        return self.metric("stream_al_stage_items_in_total", stage="select")


def vendor(config: Path, gold: Path, prefix: str, log: Path, delay_s: float = 0.0) -> Process:
    return Process(["-m", "stream_al.cli", "vendor", "--config", str(config), "--gold",
                    str(gold), "--id-prefix", prefix, "--delay", str(delay_s)], log)


def write_gold(path: Path, texts: Sequence[str], labels: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))


def produce(bootstrap: str, topic: str, prefix: str, texts: Sequence[str],
            rows: range) -> float:
    """Send ``TextIn`` records for ``rows`` (ids ``<prefix>-<row>``, partitioned by key like
    ``stream-al produce``); returns the seconds until the broker acknowledged all of them.

    The producer shares the two cores with the broker and the worker, so it is made cheap:
    records are encoded and partitioned before the clock starts, then written as aiokafka
    batches (built in C), about 3 us a record where kafka-python's ``send`` takes ~90 us.
    """
    return asyncio.run(_produce(bootstrap, topic, prefix, texts, rows))


async def _produce(bootstrap: str, topic: str, prefix: str, texts: Sequence[str],
                   rows: range) -> float:
    producer = clients.aio_producer(KafkaSettings(bootstrap=bootstrap), acks="all",
                                    max_batch_size=512 * 1024, max_request_size=8 * 2**20)
    await producer.start()
    try:
        return await send_texts(producer, topic, prefix, texts, rows)
    finally:
        await producer.stop()


async def send_texts(producer: Any, topic: str, prefix: str, texts: Sequence[str],
                     rows: range) -> float:
    """:func:`produce` on a started ``AIOKafkaProducer`` (one producer for many calls)."""
    from kafka.partitioner.default import murmur2

    n_partitions = len(await producer.partitions_for(topic))
    now = time.time()
    records = []
    for row in rows:
        key = f"{prefix}-{row}".encode()
        value = orjson.dumps({"schema_version": 1, "id": key.decode(), "text": texts[row],
                              "source": "bench", "timestamp": now})
        records.append(((murmur2(key) & 0x7FFFFFFF) % n_partitions, key, value))
    started = time.perf_counter()
    batches = [producer.create_batch() for _ in range(n_partitions)]
    sent = []
    for partition, key, value in records:
        if batches[partition].append(key=key, value=value, timestamp=None) is None:
            sent.append(await producer.send_batch(batches[partition], topic, partition=partition))
            batches[partition] = producer.create_batch()
            batches[partition].append(key=key, value=value, timestamp=None)
    for partition, batch in enumerate(batches):
        if batch.record_count():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*sent)
    return time.perf_counter() - started


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str,
               every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


def warm_up(bootstrap: str, texts: Sequence[str], seconds: float = 20.0) -> float:
    """Send ``texts`` through a scratch topic and read them back, again and again for about
    ``seconds``; returns the seconds it took. A freshly started JVM compiles its hot paths
    during its first minutes of traffic, which would otherwise be billed to the first measured
    run (in the benchmarks of 2026-11-26 the warm-up did not change the broker's share)."""
    return asyncio.run(_warm_up(bootstrap, texts, seconds))


async def _warm_up(bootstrap: str, texts: Sequence[str], seconds: float) -> float:
    from aiokafka.admin import NewTopic

    started = time.perf_counter()
    topic = f"warm-up-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=bootstrap)
    admin = clients.aio_admin(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    producer = clients.aio_producer(kafka, acks="all", max_batch_size=512 * 1024,
                                    max_request_size=8 * 2**20)
    consumer = clients.aio_consumer(kafka, topic, group_id=None, auto_offset_reset="earliest")
    await producer.start()
    try:
        got, r = 0, 0
        while r == 0 or time.perf_counter() - started < seconds:
            await send_texts(producer, topic, f"w{r}", texts, range(len(texts)))
            if r == 0:  # started once the partitions have leaders (acknowledged sends)
                await consumer.start()
            while got < len(texts) * (r + 1):
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                got += sum(len(records) for records in batches.values())
            r += 1
    finally:
        await consumer.stop()
        await producer.stop()
    return time.perf_counter() - started
