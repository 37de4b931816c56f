"""Failover time: from a coordinator's death to its successor's first new selection.

For each history size N (labels), a private broker is filled with what N labels leave on the
topics: N selected items, N labels (one per item), a ledger on ``state``. Then, ``--repeats``
times, a successor does what a worker does when it gets the control partition, timed phase by
phase on the real topics and the real core:

1. ``read``: :func:`stream_al.stream.rebuild.read_state` (every topic the rebuild reads);
2. ``restore``: the caps' replay (``Admission.replay_many``, as the worker does) and
   :meth:`Coordinator.restore` (label store, verdicts, learner, budget;
   re-embedding only what the restored state holds: ``stream_al/loop/restore_rows.py``);
   When the last published model (on ``models``) learned every label, the learner continues
   from its weights; ``--no-model`` leaves ``models`` empty, so the learner is fitted afresh;
3. ``select``: a batch of new texts embedded, scored by the restored model and offered to the
   coordinator until it buys one (the first new selection).

What it leaves out: noticing the death (the consumer group's session timeout) and starting a
process. Those do not grow with N; ``--worker`` measures them once, end to end, with real
``stream-al worker`` processes: the owner killed with ``kill -9`` once it holds ``control``, a
successor started at once (a cold start), the clock stopped when the successor's first new item
is on ``selected``.

    nice -n 10 python benchmarks/failover.py --sizes 10000,100000 --repeats 3
    nice -n 10 python benchmarks/failover.py --sizes 10000 --worker
    nice -n 10 python benchmarks/failover.py --sizes 1000000 --image  # format 3 checkpoints
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from benchmarks.broker import (
    DATASETS,
    Worker,
    load_average,
    private_broker,
    read_rows,
    run_config,
    wait_until,
)
from stream_al.config import KafkaSettings, Settings
from stream_al.embed import make_embedder
from stream_al.learn.online import OnlineLearner
from stream_al.loop.admission import Admission
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import ModelRelease, ScoredTexts
from stream_al.score.batch import score_many
from stream_al.stream import clients, conversion, resuming
from stream_al.stream.checkpoint import Checkpoints
from stream_al.stream.fencing import CoordinatorProducer
from stream_al.stream.rebuild import TopicState, read_state
from stream_al.stream.topics import ensure_topics

FRACTION = 0.1
FIRST_BATCH = 200


def _settings(config: Path) -> Settings:
    return Settings.load(config)


async def _send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """``records`` (key, value) in aiokafka batches, partitioned like kafka-python's default."""
    from kafka.partitioner.default import murmur2

    producer = clients.aio_producer(KafkaSettings(bootstrap=bootstrap), acks="all",
                                    max_batch_size=512 * 1024, max_request_size=8 * 2**20)
    await producer.start()
    try:
        n = len(await producer.partitions_for(topic))
        batches = [producer.create_batch() for _ in range(n)]
        sent = []
        for key, value in records:
            p = (murmur2(key) & 0x7FFFFFFF) % n
            if batches[p].append(key=key, value=value, timestamp=None) is None:
                sent.append(await producer.send_batch(batches[p], topic, partition=p))
                batches[p] = producer.create_batch()
                batches[p].append(key=key, value=value, timestamp=None)
            if len(sent) > 64:
                await asyncio.gather(*sent)
                sent = []
        for p, batch in enumerate(batches):
            if batch.record_count():
                sent.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def fill(config: Path, n_labels: int, texts: list[str], labels: list[str],
         model: bool = True, suffix: int | None = None,
         written: list[dict[str, float]] | None = None) -> float:
    """The topics ``n_labels`` labels leave behind; returns the seconds it took. ``suffix``:
    the dead coordinator's last checkpoint was written before the last ``suffix`` items and
    labels, the one before it ``suffix`` earlier (None: it never wrote one, or checkpoints are
    off); ``written`` gets what each took (:func:`_checkpoint`)."""
    written = [] if written is None else written
    started = time.perf_counter()
    s = _settings(config)
    ensure_topics(s.kafka)
    t, now = s.kafka.topics, time.time()
    cut = n_labels - min(suffix or 0, n_labels)
    between = cut - min(suffix or 0, cut)  # the last checkpoint but one
    _send_history(s, range(between), n_labels, texts, labels, now)
    if suffix is not None:
        checkpoints = _checkpoints(s)
        written.append(_checkpoint(s, checkpoints, full=True))
        _send_history(s, range(between, cut), n_labels, texts, labels, now)
        written.append(_checkpoint(s, checkpoints, full=False))
    _send_history(s, range(cut, n_labels), n_labels, texts, labels, now)
    seen = int(n_labels / FRACTION) + 2_000  # room in the budget for the first new selection
    ledger = {"schema_version": 1, "seen": seen, "spent": float(n_labels), "window_seen": 0,
              "window_spent": 0.0, "control_offset": 0, "at": now, "texts_offsets": {}}
    asyncio.run(_send(s.kafka.bootstrap, t.state, [(b"ledger", orjson.dumps(ledger))]))
    if model:
        update = _published_model(s, texts, labels, n_labels)
        asyncio.run(_send(s.kafka.bootstrap, t.models, [(b"current", update)]))
    return time.perf_counter() - started


def _send_history(s: Settings, items: range, n_labels: int, texts: list[str],
                  labels: list[str], now: float, chunk: int = 50_000) -> None:
    """A selected item and a label for each of ``items``, ``chunk`` at a time (memory)."""
    t = s.kafka.topics
    for start in range(items.start, items.stop, chunk):
        selected, answers = [], []
        for i in range(start, min(start + chunk, items.stop)):
            item_id, row = f"h-{i}", i % len(texts)
            selected.append((item_id.encode(), orjson.dumps({
                "schema_version": 1, "item_id": item_id, "text": texts[row],
                "batch_id": f"b{i // 50}", "strategy": "uncertainty", "reason": "uncertainty",
                "scores": {}, "model_version": 0, "deadline": now + 86_400, "cost": 1.0,
                "group": 0, "priority": 0.0, "annotators": 1, "window": -1})))
            answers.append((item_id.encode(), orjson.dumps({
                "schema_version": 1, "item_id": item_id, "label": labels[row],
                "annotator_id": f"ann-{i % 7}", "timestamp": now - n_labels + i})))
        asyncio.run(_send(s.kafka.bootstrap, t.selected, selected))
        asyncio.run(_send(s.kafka.bootstrap, t.labels, answers))


def _checkpoints(s: Settings) -> Checkpoints:
    """The checkpoints of a coordinator, its images made as the worker's shell makes them."""
    embedder = make_embedder(s.embedder)

    def image(state: TopicState, records) -> bytes | None:
        return resuming.image_bytes(resuming.rebuilt(
            lambda: Coordinator(s, embedder.dim, embedder),
            lambda: Admission(s.kafka, s.annotation.max_annotators), state, records,
            time.time(), image_only=True), state)

    return Checkpoints(s.checkpoint, s.kafka, image)


def _checkpoint(s: Settings, checkpoints: Checkpoints, full: bool) -> dict[str, float]:
    """One of the dead coordinator's checkpoints, written through its transactional producer
    (stream/checkpoint.py): ``full``, the first one, from a full read (its image from every
    record); else a chore's, of the records since the last one (its image from the last
    one's). Its sizes and the CPU it took to prepare and write."""
    async def write() -> dict[str, float]:
        producer = CoordinatorProducer(s.kafka)
        await producer.claim()
        try:
            started, wall = time.process_time(), time.perf_counter()
            prepared = checkpoints.prepare(read_state(s.kafka) if full else None)
            await checkpoints.write(producer, prepared)
            out = {"segment_mb": len(prepared.blob) / 2**20,
                   "image_mb": len(prepared.image or b"") / 2**20,
                   "cpu_s": time.process_time() - started,
                   "wall_s": time.perf_counter() - wall,
                   "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            print(f"  the dead coordinator's {'first' if full else 'next'} checkpoint: "
                  + json.dumps({k: round(v, 1) for k, v in out.items()}), flush=True)
            return out
        finally:
            await producer.release()

    return asyncio.run(write())


def _published_model(s: Settings, texts: list[str], labels: list[str], n_labels: int) -> bytes:
    """The last model the dead coordinator published: fitted on a sample of ``memory`` of the
    labels, counting all of them (what its reservoir held)."""
    learner = OnlineLearner(make_embedder(s.embedder).dim, s.learner)
    rows = [i % len(texts) for i in range(min(n_labels, s.learner.memory))]
    learner.learn_many(make_embedder(s.embedder).embed([texts[r] for r in rows]),
                       [labels[r] for r in rows], fit=False)
    learner.replay.seen = n_labels
    learner.fit()
    release = ModelRelease(learner.snapshot(), [], "")
    return conversion.model_update(release).to_bytes()


def failover_once(config: Path, fresh: list[str]) -> dict[str, float]:
    """One successor: read, restore, first selection; seconds per phase."""
    s = _settings(config)
    embedder = make_embedder(s.embedder)
    t0, cpu0 = time.perf_counter(), time.process_time()
    checkpoints = Checkpoints(s.checkpoint, s.kafka)
    state = checkpoints.load()  # the newest checkpoint and after
    t1, cpu1 = time.perf_counter(), time.process_time()
    if not state.checkpoint and s.checkpoint.enabled:
        Checkpoints(s.checkpoint, s.kafka).prepare(state)  # what a full read costs in addition
    r = resuming.rebuilt(lambda: Coordinator(s, embedder.dim, embedder),
                         lambda: Admission(s.kafka, s.annotation.max_annotators), state,
                         lambda: checkpoints.records(state), time.time())
    c, restored, resumed = r.coordinator, r.restored, r.resumed
    t2, cpu2 = time.perf_counter(), time.process_time()
    bought, offset, start = [], c.control_offset, 0
    while not bought:
        chunk = fresh[start:start + FIRST_BATCH]
        if not chunk:
            raise RuntimeError("no selection from the fresh texts: the budget has no room")
        X = embedder.embed(chunk)
        snapshot = c.learner.snapshot()
        offset += 1
        ids = [f"new-{start + i}" for i in range(len(chunk))]
        bought = c.on_scored(ScoredTexts(f"n{offset}", ids, chunk, X, score_many(snapshot, X),
                                         snapshot.version), offset, time.time())
        bought += c.flush(time.time() + 60) if not bought else []
        start += FIRST_BATCH
    t3, cpu3 = time.perf_counter(), time.process_time()
    run = {"read_s": t1 - t0, "restore_s": t2 - t1, "select_s": t3 - t2, "total_s": t3 - t0,
           "read_cpu_s": cpu1 - cpu0, "restore_cpu_s": cpu2 - cpu1, "select_cpu_s": cpu3 - cpu2,
           "total_cpu_s": cpu3 - cpu0, "labels": restored.labels,
           "embedded": restored.embedded, "checkpoint": state.checkpoint, "image": resumed,
           "load": load_average()}
    print("  run:", json.dumps({k: round(v, 2) if isinstance(v, float) else v
                                for k, v in run.items()}), flush=True)
    return run


def full_read_config(config: Path) -> Path:
    """``config`` with checkpoints off: the same topics, every one read in full."""
    settings = yaml.safe_load(config.read_text())
    settings.setdefault("checkpoint", {})["enabled"] = False
    path = config.with_name(config.stem + "-full.yaml")
    path.write_text(yaml.safe_dump(settings))
    return path


def checkpoint_stall(config: Path) -> dict[str, float]:
    """One checkpoint as the worker's chores write it (stream/coordinating.py), the costliest
    kind: a merge of every segment with what came since (``max_segments`` reached). The lock
    that holds the coordinator is held while the topics' ends are taken and while the chunks
    are written, not while the segments are read, merged and encoded (``prepare``: before
    this branch, the lock was held for that too)."""
    s = _settings(config)
    checkpoints = Checkpoints(s.checkpoint.model_copy(update={"max_segments": 1}), s.kafka,
                              _checkpoints(s).imager)  # with --image: the next image too
    checkpoints.load()  # a successor's: the newest manifest (and image)

    async def write() -> dict[str, float]:
        producer = CoordinatorProducer(s.kafka)
        await producer.claim()
        try:
            t0 = time.perf_counter()
            until = checkpoints.ends()
            t1, cpu = time.perf_counter(), time.process_time()
            prepared = checkpoints.prepare(until=until)
            t2, cpu = time.perf_counter(), time.process_time() - cpu
            await checkpoints.write(producer, prepared)
            t3 = time.perf_counter()
        finally:
            await producer.release()
        return {"ends_s": t1 - t0, "prepare_s": t2 - t1, "write_s": t3 - t2,
                "held_s": (t1 - t0) + (t3 - t2), "held_before_s": t3 - t0,
                "prepare_cpu_s": cpu, "mb": len(prepared.blob) / 2**20,
                "image_mb": len(prepared.image or b"") / 2**20}

    stall = asyncio.run(write())
    print("  checkpoint stall:", json.dumps({k: round(v, 2) for k, v in stall.items()}),
          flush=True)
    return stall


def worker_failover(config: Path, directory: Path, fresh: list[str]) -> dict[str, float]:
    """End to end: ``kill -9`` the worker holding ``control`` and start its successor (a cold
    start: the process, the group's session timeout for the dead member, the rebuild); seconds
    until the successor's first new item is on ``selected``."""
    from benchmarks.broker import produce
    from tests.stream.harness import read_topic

    s = _settings(config)
    t = s.kafka.topics

    def on_selected() -> int:
        return len(read_topic(s.kafka.bootstrap, t.selected, timeout_s=2))

    def holds_control(w: Worker) -> bool:  # the coordinator's gauges exist on its holder only
        try:
            return "stream_al_budget_limit_labels " in w.metrics()
        except OSError:
            return False

    owner = Worker(config, directory / "owner.log")
    successor = None
    try:
        wait_until(lambda: holds_control(owner), 1800, "the owner's rebuild", 1.0)
        before = on_selected()
        os.killpg(owner.process.pid, signal.SIGKILL)
        killed = time.perf_counter()
        successor = Worker(config, directory / "successor.log")  # a cold start
        produce(s.kafka.bootstrap, t.texts, "new", fresh, range(len(fresh)))
        wait_until(lambda: on_selected() > before, 1800, "the successor's first selection", 0.5)
        return {"kill_to_selection_s": time.perf_counter() - killed}
    finally:
        for w in (owner, successor):
            if w is not None:
                w.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="labels on the topics")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--worker", action="store_true", help="also end to end, real workers")
    parser.add_argument("--no-model", dest="model", action="store_false",
                        help="no model on the models topic: the rebuild fits the learner")
    parser.add_argument("--no-checkpoint", dest="checkpoint", action="store_false",
                        help="checkpoints off: the rebuild reads every topic in full")
    parser.add_argument("--image", action="store_true",
                        help="checkpoints of format 3: an image of the restore, then the suffix")
    parser.add_argument("--both", action="store_true",
                        help="also from every topic in full, on the same topics (runs alternate)")
    parser.add_argument("--stall", action="store_true",
                        help="then time one checkpoint (a merge) as the worker's chores write it")
    parser.add_argument("--suffix", type=int, default=5000,
                        help="items and labels written after the last checkpoint")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    args = parser.parse_args()
    texts, labels = read_rows(DATASETS / "ag_news.csv")
    fresh = texts[-4000:]
    results: list[dict[str, Any]] = []
    with private_broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for n in (int(x) for x in args.sizes.split(",")):
            config = run_config(bootstrap, directory, embedder={"name": args.embedder},
                                budget={"fraction": FRACTION, "warmup_labels": 4},
                                kafka={"batch_within_s": 0.1},
                                checkpoint={"enabled": args.checkpoint, "image": args.image})
            written: list[dict[str, float]] = []
            filled = fill(config, n, texts[:-4000], labels[:-4000], args.model,
                          args.suffix if args.checkpoint else None, written)
            print(f"{n} labels on the topics in {filled:.0f}s", flush=True)
            full = full_read_config(config) if args.both and args.checkpoint else None
            runs, full_runs = [], []
            for _ in range(args.repeats):
                runs.append(failover_once(config, fresh))
                if full is not None:
                    full_runs.append(failover_once(full, fresh))
            totals = sorted(r["total_s"] for r in runs)
            cpu = sorted(r["total_cpu_s"] for r in runs)
            row: dict[str, Any] = {
                "labels": n, "fill_s": round(filled, 1), "checkpoints": written, "runs": runs,
                "median_s": statistics.median(totals),
                "p95_s": float(np.percentile(totals, 95)), "median_cpu_s": statistics.median(cpu),
                "load": load_average()}
            if full_runs:
                row["full"] = _summary(full_runs)
            if args.stall and args.checkpoint:
                row["stall"] = checkpoint_stall(config)
            if args.worker:
                row["worker"] = worker_failover(config, directory, fresh[:FIRST_BATCH * 5])
            results.append(row)
            phases = {k: statistics.median(r[k] for r in runs)
                      for k in ("read_s", "restore_s", "select_s")}
            print(f"{n:>9} labels: median {row['median_s']:.1f}s (CPU {row['median_cpu_s']:.1f}s), "
                  f"p95 {row['p95_s']:.1f}s "
                  f"over {len(runs)} (read {phases['read_s']:.1f}s, restore "
                  f"{phases['restore_s']:.1f}s, select {phases['select_s']:.2f}s; re-embedded "
                  f"{runs[0]['embedded']}); load {row['load']}"
                  + (f"; worker kill -9 -> first selection {row['worker']['kill_to_selection_s']:.1f}s"
                     if args.worker else ""), flush=True)
            if full_runs:
                f = row["full"]
                print(f"{n:>9} labels, every topic read: median {f['median_s']:.1f}s (CPU "
                      f"{f['median_cpu_s']:.1f}s), p95 {f['p95_s']:.1f}s over {len(full_runs)} "
                      f"(read {f['read_s']:.1f}s, restore {f['restore_s']:.1f}s)", flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2))


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    totals = sorted(r["total_s"] for r in runs)
    return {"runs": runs, "median_s": statistics.median(totals),
            "p95_s": float(np.percentile(totals, 95)),
            "median_cpu_s": statistics.median(r["total_cpu_s"] for r in runs),
            "read_s": statistics.median(r["read_s"] for r in runs),
            "restore_s": statistics.median(r["restore_s"] for r in runs)}


if __name__ == "__main__":
    main()
