"""Scale: 1,000,000 real texts through the coordinator's own core path; memory and selection
latency as the stream grows.

The texts are SST-2's (or any ``text,label`` CSV's), repeated: pass p streams every row once,
in an order shuffled by p, with ids ``<p>-<row>``; no text is invented. Each batch of
``kafka.batch_max`` texts takes the worker's path without Kafka: embed (static by default)
-> ``score_many`` with the current model -> a :class:`ScoredBatchRecord` -> ``Coordinator.on_scored``
(novelty, drift health, the default selector, the budget). A simulated vendor answers each
bought item with its gold label ``--label-delay`` batches later through ``Coordinator.on_labels``
(learning, rewards) and the model is published (``model_update``), so the state grows as it
does in production: labels, the learner's
replay memory (up to ``learner.memory`` rows) and the novelty and OOD indexes (up to their
capacities) grow with the budget (5% of the stream by default).

Printed: resident memory (psutil RSS, after a garbage collection and a heap trim, as a worker
does every 30 s: :func:`stream_al.runtime.return_free_memory`) at every 100,000 texts, and
the per-batch ``on_scored`` latency percentiles (and per item) per 100,000 texts and overall.

    python -m benchmarks.scale                       # 1,000,000 texts, static embedder
    python -m benchmarks.scale --n 200000 --embedder hashing

Target (issue 6): RSS at 1M no more than 10% above RSS at 100k.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil

from benchmarks.broker import DATASETS, load_average, read_rows
from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.loop.coordinator import Coordinator
from stream_al.runtime import limit_blas_threads, return_free_memory
from stream_al.score.batch import score_many
from stream_al.stream import conversion
from stream_al.stream.messages import LabelIn, LabelsRecord, ScoredBatchRecord

REPORT_EVERY = 100_000


def stream(texts: list[str], n: int, batch: int) -> Iterator[tuple[list[str], list[int]]]:
    """Batches of (ids, rows): pass after pass over the rows, each pass in its own order."""
    ids: list[str] = []
    rows: list[int] = []
    sent, p = 0, 0
    while sent < n:
        for row in np.random.default_rng(p).permutation(len(texts)).tolist():
            ids.append(f"{p}-{row}")
            rows.append(row)
            sent += 1
            if len(ids) == batch or sent == n:
                yield ids, rows
                ids, rows = [], []
            if sent == n:
                return
        p += 1


def rss_mb() -> float:
    """Resident MB after a garbage collection and a heap trim (a worker trims every 30 s)."""
    gc.collect()
    return_free_memory()
    return psutil.Process().memory_info().rss / 2**20


def state_mb(c: Coordinator) -> tuple[float, float]:
    """MB of the state that grows with the labels bought: the learner's replay memory (one
    copy of the rows, shared by the committee, plus a weight per row and model) and the two
    ANN indexes, novelty and OOD (the OOD graph and its exact rows; rows, links, ids;
    estimated)."""
    learner = c.learner
    models = (learner.main, *learner.committee)
    replay = (learner.replay.nbytes + sum(m._w.nbytes for m in models)) / 2**20
    indexes = (c.stage.novelty, c.health.ood.index, c.health.ood.rows)
    vectors = sum(i.nbytes for i in indexes) / 2**20
    return replay, vectors


def run(args: argparse.Namespace) -> None:
    texts, gold = read_rows(args.data)
    settings = Settings.load(embedder={"name": args.embedder})
    embedder = make_embedder(settings.embedder)
    coordinator = Coordinator(settings, embedder.dim, embedder)
    batch = settings.kafka.batch_max
    due: deque[tuple[int, list[str]]] = deque()  # (answer at batch, item ids)
    offset, seen, labelled, bought = 0, 0, 0, 0
    latencies: list[float] = []  # seconds per batch
    sizes: list[int] = []
    marks: list[tuple[int, float, float, float, float]] = []  # seen, rss, s, replay, index
    print(f"{args.data.name}: {len(texts)} distinct texts repeated to {args.n:,}, "
          f"embedder {embedder.name}, strategy {settings.selection.strategy}, budget "
          f"{settings.budget.fraction:.0%}, batches of {batch}, labels after "
          f"{args.label_delay} batches; RSS at start {rss_mb():.0f} MB, load {load_average()}",
          flush=True)
    started = time.perf_counter()
    for b, (ids, rows) in enumerate(stream(texts, args.n, batch)):
        batch_texts = [texts[r] for r in rows]
        X = embedder.embed(batch_texts)
        snapshot = coordinator.learner.snapshot()
        record = ScoredBatchRecord.of(f"b{b}", ids, batch_texts, X, score_many(snapshot, X),
                                      snapshot.version, np.ones(len(ids), dtype=np.float32),
                                      time.time())
        offset += 1
        t0 = time.perf_counter()
        items = coordinator.on_scored(conversion.scored_texts(record), offset, time.time())
        latencies.append(time.perf_counter() - t0)
        sizes.append(len(ids))
        bought += len(items)
        if items:
            due.append((b + args.label_delay, [i.item_id for i in items]))
        answer = []
        while b % args.label_every == 0 and due and due[0][0] <= b:
            answer += due.popleft()[1]
        if answer:
            offset += 1
            now = time.time()
            labels = [LabelIn(schema_version=1, item_id=i, annotator_id="vendor", timestamp=now,
                              label=gold[int(i.split("-")[1])]) for i in answer]
            coordinator.on_labels(conversion.labels_of(LabelsRecord(
                schema_version=1, labels=labels, received_at=[now] * len(labels))), offset, now)
            coordinator.model_update(now)  # published as the worker's chores do
            labelled += len(labels)
        before = seen
        seen += len(ids)
        if seen // REPORT_EVERY > before // REPORT_EVERY or seen == args.n:
            replay, index = state_mb(coordinator)
            marks.append((seen, rss_mb(), time.perf_counter() - started, replay, index))
            print(f"  {seen:>9,} texts  RSS {marks[-1][1]:5.0f} MB  {marks[-1][2]:5.0f} s  "
                  f"bought {bought:>6}  labelled {labelled:>6}  learner replay {replay:4.0f} MB "
                  f"(1 copy, {1 + len(coordinator.learner.committee)} models)  novelty+OOD "
                  f"indexes ~{index:3.0f} MB  load {load_average()}", flush=True)
    report(marks, latencies, sizes, coordinator)


def report(marks: list[tuple[int, float, float, float, float]], latencies: list[float],
           sizes: list[int], coordinator: Coordinator) -> None:
    lat = np.array(latencies) * 1000
    per_item = lat * 1000 / np.array(sizes)  # microseconds
    print(f"\n{'texts':>10}{'RSS MB':>9}{'vs 100k':>9}{'other MB':>10}{'batch p50 ms':>14}"
          f"{'p95':>8}{'p99':>8}{'item p50 us':>13}{'p95':>8}{'texts/s':>9}")
    first = marks[0][1]
    prev_seen, prev_s, prev_batch = 0, 0.0, 0
    for seen, rss, seconds, replay, index in marks:
        n_batches = np.searchsorted(np.cumsum(sizes), seen, side="left") + 1
        window = slice(prev_batch, n_batches)
        print(f"{seen:>10,}{rss:>9.0f}{rss / first - 1:>+9.1%}{rss - replay - index:>10.0f}"
              + "".join(f"{np.percentile(lat[window], q):>{w}.1f}"
                        for q, w in ((50, 14), (95, 8), (99, 8)))
              + "".join(f"{np.percentile(per_item[window], q):>{w}.1f}"
                        for q, w in ((50, 13), (95, 8)))
              + f"{(seen - prev_seen) / (seconds - prev_s):>9,.0f}")
        prev_seen, prev_s, prev_batch = seen, seconds, n_batches
    print(f"{'all':>10}{'':>28}" + "".join(
        f"{np.percentile(lat, q):>{w}.1f}" for q, w in ((50, 14), (95, 8), (99, 8)))
        + "".join(f"{np.percentile(per_item, q):>{w}.1f}" for q, w in ((50, 13), (95, 8))))
    print(f"other MB = RSS minus the learner's replay memory and the novelty and OOD indexes; "
          f"selection "
          f"latency = Coordinator.on_scored per batch (novelty, drift health, selector, "
          f"budget); max {lat.max():.0f} ms")
    b = coordinator.stage.budget
    print(f"budget: seen {b.seen:,}, spent {b.spent:.0f} (allowance {b.total:.0f}); "
          f"novelty index {len(coordinator.stage.novelty):,} vectors; labels "
          f"{coordinator.learner.n_labels:,}; load average at the end {load_average()}")
    growth = marks[-1][1] / first - 1
    verdict = "met" if growth <= 0.10 else "NOT met"
    print(f"target RSS({marks[-1][0]:,}) <= 1.10 x RSS({marks[0][0]:,}): {growth:+.1%}, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASETS / "sst2.csv")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--embedder", default="static", choices=["static", "hashing"])
    parser.add_argument("--label-delay", type=int, default=4, help="batches before a label")
    parser.add_argument("--label-every", type=int, default=8,
                        help="batches between two deliveries of labels (one learning pass each)")
    args = parser.parse_args()
    limit_blas_threads()
    run(args)


if __name__ == "__main__":
    main()
