"""Label-to-model latency: from a label landing on the labels topic to the scorers using a model
that learned it, p50/p95 over many labels, while texts keep streaming.

A private broker and one ``stream-al worker`` (static embedder). After a warm-up stream the
benchmark is the vendor: it answers items from the ``selected`` topic with their gold labels,
one record at a time at ``--label-rate`` per second, while texts flow at ``--text-rate``.

- *landed*: the label record's timestamp (set by the producer as it sends; the record is
  acknowledged by the broker a few ms later), so the latency is never understated;
- *in use*: the first time the worker's ``stream_al_model_version`` gauge, which the scorers set
  when they swap a new model in, reaches a version that learned the label (polled every
  ``--poll-ms``);
- which version learned which label: labels go to one partition of the labels topic, so the
  coordinator learns them in the order sent, and the k-th label is in the first version on the
  ``models`` topic whose ``n_labels`` reaches k.

    python -m benchmarks.label_latency                      # 300 labels at 10/s, texts 2,000/s
    python -m benchmarks.label_latency --labels 500 --label-rate 25

Target (issue 6): p95 under 2 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from benchmarks.broker import (
    DATASETS,
    Worker,
    load_average,
    private_broker,
    produce,
    read_rows,
    run_config,
    send_texts,
    wait_until,
)
from stream_al.config import KafkaSettings, Settings
from stream_al.runtime import limit_blas_threads
from stream_al.stream import clients

WARMUP_TEXTS = 4000
SKIPPED = 5
"""The first labels wait for a second class before any model exists: not counted."""


class VersionWatch(threading.Thread):
    """Polls the worker's model-version gauge; remembers when each version was first seen."""

    def __init__(self, worker: Worker, every_s: float) -> None:
        super().__init__(daemon=True)
        self.worker, self.every_s = worker, every_s
        self.seen: list[tuple[int, float]] = []  # (version, first seen at), increasing
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                version = int(self.worker.metric("stream_al_model_version"))
            except OSError:
                version = 0
            now = time.time()
            if not self.seen or version > self.seen[-1][0]:
                self.seen.append((version, now))
            self.stop.wait(self.every_s)

    def in_use_at(self, version: int) -> float | None:
        """When the scorers first used ``version`` or a later one."""
        for v, at in self.seen:
            if v >= version:
                return at
        return None


def read_values(bootstrap: str, topic: str) -> list[bytes]:
    from kafka import TopicPartition

    consumer = clients.consumer(KafkaSettings(bootstrap=bootstrap), enable_auto_commit=False,
                                consumer_timeout_ms=1000, max_partition_fetch_bytes=64 * 2**20,
                                fetch_max_bytes=64 * 2**20)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [r.value for r in consumer]
    finally:
        consumer.close()


class TextFeed(threading.Thread):
    """Texts at ``rate`` per second in chunks of a tenth of a second, until stopped; after the
    last row it starts over with new ids (``p<pass>-<row>``)."""

    def __init__(self, bootstrap: str, topic: str, texts: list[str], start: int,
                 rate: float) -> None:
        super().__init__(daemon=True)
        self.args = bootstrap, topic, texts
        self.start_row, self.rate = start, rate
        self.sent, self.seconds = 0, 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        bootstrap, topic, texts = self.args
        producer = clients.aio_producer(KafkaSettings(bootstrap=bootstrap), acks="all",
                                        max_batch_size=512 * 1024)
        await producer.start()
        try:
            chunk = max(1, int(self.rate / 10))
            row, n_pass = self.start_row, 0
            self.started = time.monotonic()
            while not self.stop.is_set():
                end = min(row + chunk, len(texts))
                await send_texts(producer, topic, f"p{n_pass}", texts, range(row, end))
                self.sent += end - row
                row = end
                if row == len(texts):
                    row, n_pass = 0, n_pass + 1
                ahead = self.started + self.sent / self.rate - time.monotonic()
                await asyncio.sleep(max(0.0, ahead))
            self.seconds = time.monotonic() - self.started
        finally:
            await producer.stop()


def send_labels(bootstrap: str, settings: Settings, gold: list[str], n: int,
                rate: float) -> list[float]:
    """Answer ``n`` selected items, one label every 1/``rate`` s; returns the landing times."""
    from kafka import TopicPartition

    topics = settings.kafka.topics
    kafka = settings.kafka.model_copy(update={"bootstrap": bootstrap})
    producer = clients.producer(kafka, acks="all", linger_ms=0)
    selected = clients.consumer(kafka, enable_auto_commit=False)
    tps = [TopicPartition(topics.selected, p)
           for p in selected.partitions_for_topic(topics.selected) or []]
    selected.assign(tps)
    selected.seek_to_beginning(*tps)
    pending: list[str] = []
    landed: list[float] = []
    try:
        while len(landed) < n:
            for records in selected.poll(timeout_ms=0 if pending else 200).values():
                pending += [orjson.loads(r.value)["item_id"] for r in records]
            if not pending:
                continue
            started = time.monotonic()
            item_id = pending.pop(0)
            value = orjson.dumps({"schema_version": 1, "item_id": item_id,
                                  "label": gold[int(item_id.split("-")[1])],
                                  "annotator_id": "bench", "timestamp": time.time()})
            meta = producer.send(topics.labels, key=item_id.encode(), value=value,
                                 partition=0).get(timeout=10)
            landed.append(meta.timestamp / 1000.0)
            time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))
    finally:
        producer.close()
        selected.close()
    return landed


def measure(args: argparse.Namespace) -> None:
    texts, gold = read_rows(args.data)
    directory = Path(tempfile.mkdtemp(prefix="stream-al-latency-"))
    with private_broker() as bootstrap:
        config = run_config(bootstrap, directory, embedder={"name": "static"})
        settings = Settings.load(config)
        worker = Worker(config, directory / "worker.log")
        feed = TextFeed(bootstrap, settings.kafka.topics.texts, texts, WARMUP_TEXTS,
                        args.text_rate)
        watch = VersionWatch(worker, args.poll_ms / 1000)
        try:
            produce(bootstrap, settings.kafka.topics.texts, "p0", texts, range(WARMUP_TEXTS))
            wait_until(lambda: worker.selected_in() >= WARMUP_TEXTS, 120, "the warm-up texts")
            watch.start()
            feed.start()
            load_start = load_average()
            landed = send_labels(bootstrap, settings, gold, args.labels, args.label_rate)
            wait_until(lambda: _learned(bootstrap, settings) >= args.labels, 60,
                       "a model that learned every label")
            time.sleep(1.0)  # the scorers' swap of that last model
        finally:
            feed.stop.set()
            watch.stop.set()
            metrics = worker.metrics()
            worker.stop()
            feed.join(10)
        versions = _versions(bootstrap, settings)
    latencies = []
    counts = [n for _, n in versions]
    for k, at in enumerate(landed, start=1):
        i = bisect.bisect_left(counts, k)
        used = watch.in_use_at(versions[i][0]) if i < len(versions) else None
        if k > SKIPPED and used is not None:
            latencies.append(used - at)
    report(args, latencies, len(landed), feed, versions, metrics, worker, load_start,
           load_average())


def _learned(bootstrap: str, settings: Settings) -> int:
    versions = _versions(bootstrap, settings)
    return versions[-1][1] if versions else 0


def _versions(bootstrap: str, settings: Settings) -> list[tuple[int, int]]:
    """(version, n_labels) of every model on the models topic, in order."""
    out = []
    for value in read_values(bootstrap, settings.kafka.topics.models):
        update = orjson.loads(value)
        if not out or update["version"] > out[-1][0]:
            out.append((update["version"], update["n_labels"]))
    return out


def report(args: argparse.Namespace, latencies: list[float], sent: int, feed: TextFeed,
           versions: list[tuple[int, int]], metrics: str, worker: Worker, load_start: str,
           load_end: str) -> None:
    lat = np.array(latencies)
    total = worker.metric("stream_al_label_to_model_seconds_sum", metrics)
    count = worker.metric("stream_al_label_to_model_seconds_count", metrics)
    lag = sum(float(m) for m in re.findall(
        r'^stream_al_consumer_lag_messages\{[^}]*texts[^}]*\} (\S+)$', metrics, re.MULTILINE))
    print(f"{sent} labels sent at {args.label_rate:g}/s while {feed.sent:,} texts streamed at "
          f"{feed.sent / max(feed.seconds, 1e-9):,.0f}/s (asked {args.text_rate:g}/s; worker's "
          f"texts lag at the end {lag:,.0f}); {len(versions)} model versions; load average "
          f"{load_start} -> {load_end}")
    print(f"label landed on the labels topic -> scorers use a model that learned it "
          f"({len(lat)} labels, first {SKIPPED} not counted, polled every {args.poll_ms} ms):")
    print(f"{'p50':>8}{'p90':>8}{'p95':>8}{'p99':>8}{'max':>8}{'mean':>8}   seconds")
    print("".join(f"{np.percentile(lat, q):>8.3f}" for q in (50, 90, 95, 99, 100))
          + f"{lat.mean():>8.3f}")
    if count:
        print(f"worker's own histogram (labels agent -> scorer swap): mean {total / count:.3f} s "
              f"over {int(count)} labels")
    verdict = "met" if np.percentile(lat, 95) < 2.0 else "NOT met"
    print(f"target p95 < 2 s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASETS / "sst2.csv")
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--label-rate", type=float, default=10.0, help="labels per second")
    parser.add_argument("--text-rate", type=float, default=2000.0, help="texts per second")
    parser.add_argument("--poll-ms", type=int, default=10, help="model-version polling")
    args = parser.parse_args()
    limit_blas_threads()
    measure(args)


if __name__ == "__main__":
    main()
