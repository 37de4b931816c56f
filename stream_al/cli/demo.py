"""``stream-al demo``: the whole loop on a local Kafka broker, watched live, then compared.

Starts a private broker (its own port and data directory), one worker, the simulated vendor
and the producer on a real dataset; while texts flow it reads every new model version from the
``models`` topic and scores it on a held-out split; at the end it prints a report, writes a
learning-curve plot (with matplotlib, the ``plots`` extra; else says how to get it), runs the
simulator's comparison with random on the same data, and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from stream_al.cli.broker import broker
from stream_al.cli.errors import CommandError
from stream_al.config import KafkaSettings, Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.plotting import PlotsUnavailableError, pyplot, skipped


def packaged_data() -> Path:
    """The copy of AG News (test split) shipped with the package, with its attribution in
    ``stream_al/demo_data/README.md``."""
    return Path(str(resources.files("stream_al") / "demo_data" / "ag_news.csv"))


def demo_data(flag: str | None, setting: Path | None) -> Path:
    """The dataset to stream: ``--data``, else the ``demo.data`` setting, else the packaged
    copy. A missing file is a :class:`CommandError` that says how to name one."""
    path = Path(flag) if flag else setting or packaged_data()
    if not path.is_file():
        source = "--data" if flag else "demo.data" if setting else "the packaged copy"
        raise CommandError(
            f"no dataset at {path} ({source}); pass --data FILE (a CSV with text,label "
            "columns) or set demo.data in the config file (STREAM_AL_DEMO__DATA=FILE)"
        )
    return path


class DemoError(CommandError):
    """A process of the demo failed; the message names its log."""


@dataclass
class Point:
    at_s: float
    version: int
    labels: int
    accuracy: float


def _split(data: LabeledTexts, test_size: int, seed: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(len(data)).tolist()
    return order[test_size:], order[:test_size]


def _write_stream(path: Path, data: LabeledTexts, rows: list[int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in rows:
            w.writerow([data.texts[i], data.labels[i]])


class Stack:
    """The processes the demo started, stopped in reverse order whatever happens."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "stream_al.cli", *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


class Watcher:
    """Reads topic sizes and model versions straight from Kafka (no consumer group)."""

    def __init__(self, kafka: KafkaSettings, test_X: np.ndarray, test_y: list[str]) -> None:
        from stream_al.stream import clients

        self.kafka, self.topics = kafka, kafka.topics
        self.consumer = clients.consumer(kafka, enable_auto_commit=False, consumer_timeout_ms=200)
        self._counters: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self.test_X, self.test_y = test_X, np.array(test_y, dtype=object)
        self.points: list[Point] = []
        self._assigned = False
        self._t0 = time.time()

    def count(self, topic: str) -> int:
        """Records on ``topic`` read so far. Not its end offsets: on a topic the coordinator
        writes in transactions those count each transaction's commit marker too (``selected``
        showed 519 purchases for 330 items, and the demo waited for labels that never came)."""
        from kafka import TopicPartition

        from stream_al.stream import clients

        if topic not in self._counters:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                return 0
            counter = clients.consumer(self.kafka, enable_auto_commit=False)
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            counter.assign(tps)
            counter.seek_to_beginning(*tps)
            self._counters[topic], self._counts[topic] = counter, 0
        for records in self._counters[topic].poll(timeout_ms=100, max_records=50_000).values():
            self._counts[topic] += len(records)
        return self._counts[topic]

    def close(self) -> None:
        for counter in self._counters.values():
            counter.close()
        self.consumer.close()

    def poll_models(self) -> None:
        from kafka import TopicPartition

        from stream_al.stream.messages import ModelUpdate, parse

        if not self._assigned:
            parts = self.consumer.partitions_for_topic(self.topics.models)
            if not parts:
                return
            self.consumer.assign([TopicPartition(self.topics.models, p) for p in parts])
            self.consumer.seek_to_beginning()
            self._assigned = True
        for records in self.consumer.poll(timeout_ms=200).values():
            for record in records:
                update = parse(ModelUpdate, record.value)
                if isinstance(update, ModelUpdate):
                    self._evaluate(update.to_snapshot())

    def _evaluate(self, snapshot) -> None:
        if self.points and snapshot.version <= self.points[-1].version:
            return
        pred = np.array(snapshot.predict_many(self.test_X), dtype=object)
        self.points.append(Point(time.time() - self._t0, snapshot.version, snapshot.n_labels,
                                 float((pred == self.test_y).mean())))


def run_demo(args: argparse.Namespace) -> int:
    from stream_al.embed import make_embedder

    args.data = str(demo_data(args.data, Settings.load().demo.data))
    run_dir = Path(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = load_labeled(args.data)
    stream_rows, test_rows = _split(data, args.test_size, args.seed)
    stream_rows = stream_rows[: args.limit] if args.limit else stream_rows
    _write_stream(run_dir / "stream.csv", data, stream_rows)
    tmp = Path(tempfile.mkdtemp(prefix="stream-al-demo-"))
    env = {**os.environ, "KAFKA_PORT": str(args.port), "KAFKA_DATA_DIR": str(tmp / "kafka"),
           "STREAM_AL_KAFKA__BOOTSTRAP": f"127.0.0.1:{args.port}",
           "STREAM_AL_KAFKA__STATE_DIR": str(tmp / "state"),
           "STREAM_AL_EMBEDDER__NAME": args.embedder, "STREAM_AL_BUDGET__FRACTION": str(args.budget),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    settings = Settings.load(kafka={"bootstrap": f"127.0.0.1:{args.port}"},
                             embedder={"name": args.embedder}, budget={"fraction": args.budget})
    print(f"[demo] embedding the {len(test_rows)} held-out texts ({args.embedder})", flush=True)
    embedder = make_embedder(settings.embedder)
    test_X = embedder.embed([data.texts[i] for i in test_rows])
    stack = Stack(env, run_dir)
    watcher: Watcher | None = None
    print(f"[demo] starting Kafka on 127.0.0.1:{args.port}", flush=True)
    broker("start", env, quiet=True, check=True)
    try:
        stack.start("worker", "worker", "--metrics-port", "0")
        stack.start("vendor", "vendor", "--gold", str(run_dir / "stream.csv"), "--id-prefix",
                    "demo", "--delay", str(args.label_delay), "--seed", str(args.seed))
        time.sleep(args.warmup)
        producer = stack.start("producer", "produce", "--data", str(run_dir / "stream.csv"),
                               "--id-prefix", "demo", "--rate", str(args.rate))
        watcher = Watcher(settings.kafka, test_X, [data.labels[i] for i in test_rows])
        _watch(watcher, stack, producer, len(stream_rows), args)
    finally:
        if watcher is not None:
            with contextlib.suppress(Exception):  # the broker may be gone already
                watcher.close()
        stack.stop()
        broker("stop", env, quiet=True)
    if watcher is not None:
        kafka_report(watcher.points, run_dir, len(stream_rows), args)
    if not args.no_simulation:
        _compare(args, run_dir)
    return 0


def _watch(watcher: Watcher, stack: Stack, producer: subprocess.Popen, n_items: int,
           args: argparse.Namespace) -> None:
    topics = watcher.topics
    started = time.time()
    last_print = 0.0
    settled_since = None
    while time.time() - started < args.timeout:
        watcher.poll_models()
        for name, proc in stack.procs:
            if name != "producer" and proc.poll() is not None:
                raise DemoError(f"the {name} stopped (exit {proc.returncode}); see "
                                   f"{args.out}/{name}.log")
        produced = watcher.count(topics.texts)
        bought, answered = watcher.count(topics.selected), watcher.count(topics.labels)
        point = watcher.points[-1] if watcher.points else None
        now = time.time()
        if now - last_print >= 2:
            last_print = now
            acc = f"{point.accuracy:.3f}" if point else "  -  "
            print(f"[demo] {now - started:5.0f}s  texts {produced:>6}/{n_items} "
                  f"({produced / max(now - started, 1e-9):6.0f}/s)  labels bought {bought:>4}  "
                  f"answered {answered:>4}  model v{point.version if point else 0:<4} "
                  f"accuracy {acc}", flush=True)
        done = (producer.poll() is not None and bought > 0 and answered >= bought
                and point is not None and point.labels >= answered)
        settled_since = (settled_since or now) if done else None
        if settled_since and now - settled_since > 3:
            return
        time.sleep(0.3)
    print(f"[demo] stopped waiting after {args.timeout:.0f}s", flush=True)


def kafka_report(points: list[Point], run_dir: Path, n_items: int,
                 args: argparse.Namespace) -> None:
    """Print what the live run reached and write ``kafka_curve.csv`` and, with matplotlib,
    ``kafka_learning_curve.png`` (else one line says it was skipped and how to get it)."""
    if not points:
        print("[demo] no model was published; see the worker log", flush=True)
        return
    last = points[-1]
    print(f"\n[demo] {n_items} texts streamed, {last.labels} labels learned "
          f"({last.labels / n_items:.1%} of the stream), {len(points)} model versions, "
          f"final held-out accuracy {last.accuracy:.3f}")
    with (run_dir / "kafka_curve.csv").open("w") as f:
        f.write("seconds,version,labels,accuracy\n")
        for p in points:
            f.write(f"{p.at_s:.2f},{p.version},{p.labels},{p.accuracy:.4f}\n")
    try:
        plot_kafka_curve(run_dir / "kafka_learning_curve.png", points,
                         f"stream-al on Kafka: {Path(args.data).stem}, budget {args.budget:.0%}")
        wrote = "kafka_learning_curve.png and kafka_curve.csv"
    except PlotsUnavailableError as e:
        print(f"[demo] {skipped('kafka_learning_curve.png', e)}", flush=True)
        wrote = "kafka_curve.csv"
    print(f"[demo] wrote {run_dir}/{wrote}", flush=True)


def plot_kafka_curve(path: Path, points: list[Point], title: str) -> None:
    """Held-out accuracy of each published model against the labels it learned; raises
    :class:`~stream_al.plotting.PlotsUnavailableError` without matplotlib."""
    plt = pyplot(path)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot([p.labels for p in points], [p.accuracy for p in points], marker="o", markersize=3)
    ax.set_xlabel("labels learned")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _compare(args: argparse.Namespace, run_dir: Path) -> None:
    """The same data through the simulator: the default strategy against random."""
    from stream_al.cli.simulate import print_table
    from stream_al.runtime import blas_kernels
    from stream_al.simulate.comparison import compare
    from stream_al.simulate.report import files_written

    print("\n[demo] the same data in the simulator: default strategy against random "
          f"(BLAS: {blas_kernels()})", flush=True)
    seed = {"seed": args.seed}
    settings = Settings.load(
        budget={"fraction": args.budget}, embedder={"name": args.embedder},
        simulation={**seed, "test_size": args.test_size}, selection=seed, learner=seed,
    )
    out = run_dir / "simulation"
    print_table(compare(settings, Path(args.data), ["default", "random"], out))
    print(f"wrote {out}/{files_written()}")


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the whole loop on a local Kafka broker")
    demo.add_argument("--data", help="labelled CSV (text,label); default: the demo.data "
                      "setting, else the AG News copy shipped with the package")
    demo.add_argument("--embedder", default="static", choices=["static", "hashing", "minilm"])
    demo.add_argument("--budget", type=float, default=0.05)
    demo.add_argument("--rate", type=float, default=300.0, help="texts per second produced")
    demo.add_argument("--limit", type=int, help="stream at most this many texts")
    demo.add_argument("--test-size", dest="test_size", type=int, default=1000)
    demo.add_argument("--label-delay", dest="label_delay", type=float, default=0.5,
                      help="seconds the simulated vendor takes per label")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--port", type=int, default=39092, help="the demo broker's port")
    demo.add_argument("--warmup", type=float, default=3.0, help="seconds for the worker to join")
    demo.add_argument("--timeout", type=float, default=240.0)
    demo.add_argument("--no-simulation", dest="no_simulation", action="store_true")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=run_demo)
