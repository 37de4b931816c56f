"""Stage limit vs pipeline: each embedder's raw rate, and the whole pipeline's, in one run.

For each embedder, on the same real texts:

- **raw**: ``embed`` alone, in calls of ``kafka.batch_max`` texts (the worker's batch), for a
  few embedder batch sizes; the best is the embedder's limit on this machine. Measured just
  before and just after the embedder's pipeline runs; the ratio uses their mean (the load of
  a shared machine moves between the two).
- **pipeline**: a private Kafka broker (warmed up first: a fresh JVM spends its first
  minutes of traffic compiling), one ``stream-al worker`` with that embedder (default
  strategy and budget), the simulated vendor answering every selected item. After a warm-up
  (the group joined, a first model learned), texts go produce -> texts topic -> embed + score
  -> control topic -> selection; the rate counts the texts the coordinator has taken through
  selection, while labels flow back and new models reach the scorers.

  ``live``: the benchmark produces the texts while the worker runs (producer, broker, worker
  and vendor share the cores); the clock runs from the first text sent to the last selected.
  ``backlog``: the texts are written first and the worker drains them; the clock runs from the
  first to the last text selected (the worker's own capacity).

    python -m benchmarks.pipeline_throughput                     # static and minilm, SST-2
    python -m benchmarks.pipeline_throughput --embedders hashing static --n 40000
    python -m benchmarks.pipeline_throughput --profile runs/profile   # cProfile of the worker

Targets (issue 6): static >= 5,000 texts/s and >= 50% of raw; minilm >= 90% of raw.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.broker import (
    DATASETS,
    Worker,
    broker_pid,
    load_average,
    private_broker,
    produce,
    read_rows,
    run_config,
    vendor,
    wait_until,
    warm_up,
    write_gold,
)
from stream_al.config import EmbedderSettings, Settings
from stream_al.embed import make_embedder
from stream_al.embed.base import parallel_calls
from stream_al.runtime import limit_blas_threads

DEFAULT_N = {"hashing": 40_000, "static": 40_000, "minilm": 4_000}
WARMUP = 1024
BATCH_SIZES = {"hashing": [256, 1024], "static": [64, 256, 1024], "minilm": [8, 16, 32]}


@dataclass
class Result:
    embedder: str
    mode: str
    n: int
    seconds: float
    load: str
    selected: int = 0
    stages: str = ""
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process (worker, broker, vendor; all threads) used while the clock ran."""

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def raw_rate(name: str, texts: list[str], call_size: int) -> tuple[float, int, str, float]:
    """Best texts/s of ``embed`` over the candidate batch sizes, that batch size, the load
    average and the CPU seconds (all threads) per text at that batch size. Calls of
    ``call_size`` texts overlap as far as the embedder allows (``parallel_calls``), as they
    do in the worker."""
    embedder = make_embedder(EmbedderSettings(name=name))
    best = (0.0, 0, 0.0)
    calls = ThreadPoolExecutor(max_workers=parallel_calls(embedder))
    for batch_size in BATCH_SIZES[name]:
        embedder.batch_size = batch_size
        embedder.embed(texts[:call_size])  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        starts = range(0, len(texts), call_size)
        list(calls.map(lambda i: embedder.embed(texts[i:i + call_size]), starts))
        rate = len(texts) / (time.perf_counter() - started)
        best = max(best, (rate, batch_size, (time.process_time() - cpu) / len(texts)))
    return best[0], best[1], load_average(), best[2]


def pipeline_rate(name: str, mode: str, bootstrap: str, texts: list[str], labels: list[str],
                  n: int, directory: Path, profile: Path | None) -> Result:
    """One run on fresh topics: warm-up rows 0..WARMUP-1, then ``n`` measured rows."""
    config = run_config(bootstrap, directory, embedder={"name": name})
    topics = Settings.load(config).kafka.topics
    prefix = "r"
    gold = directory / f"{config.stem}.gold.csv"
    write_gold(gold, texts[:WARMUP + n], labels[:WARMUP + n])
    measured = range(WARMUP, WARMUP + n)
    log = directory / f"{config.stem}.{name}.{mode}"
    if mode == "backlog":  # warm-up and measured texts both wait in the topic
        from stream_al.stream.topics import ensure_topics

        ensure_topics(Settings.load(config).kafka)
        produce(bootstrap, topics.texts, prefix, texts, range(WARMUP + n))
    worker = Worker(config, log.with_suffix(".worker.log"), profile)
    answers = vendor(config, gold, prefix, log.with_suffix(".vendor.log"))
    pids = {"worker": worker.process.pid, "broker": broker_pid(bootstrap),
            "vendor": answers.process.pid}
    try:
        if mode == "live":
            wait_until(lambda: worker.metric("stream_al_budget_spent_labels") is not None, 60,
                       "the worker's metrics")
            produce(bootstrap, topics.texts, prefix, texts, range(WARMUP))
        if mode == "live":
            wait_until(lambda: worker.selected_in() >= WARMUP
                       and worker.metric("stream_al_model_version") >= 1, 180,
                       f"the {name} worker to warm up (see {log}.worker.log)", every_s=0.2)
            started, cpu = time.perf_counter(), _cpu(pids)
            produced_s = produce(bootstrap, topics.texts, prefix, texts, measured)
            done = WARMUP + n
        else:  # the clock starts at the first count seen past the warm-up
            first = wait_until(lambda: _past(worker, pids, WARMUP), 120,
                               "the first measured batch")
            started, done, cpu = first[0], WARMUP + n, first[2]
            n = WARMUP + n - int(first[1])
            produced_s = 0.0
        wait_until(lambda: worker.selected_in() >= done, max(120.0, n / 20),
                   f"{done} texts through selection (see {log}.worker.log)", every_s=0.1)
        seconds = time.perf_counter() - started
        cpu = {name: used - cpu[name] for name, used in _cpu(pids).items()}
        load = load_average()
        text = worker.metrics()
        spent = worker.metric("stream_al_budget_spent_labels", text)
    finally:
        answers.stop()
        worker.stop()
    stages = stage_summary(worker, text)
    if produced_s:
        stages = f"produce {produced_s:.2f}s, {stages}"
    return Result(name, mode, n, seconds, load, int(spent), stages, cpu)


def stage_summary(worker: Worker, text: str) -> str:
    """Seconds spent in each stage over the whole run, and its mean batch (from /metrics)."""
    parts = []
    for stage in ("embed", "score", "select", "learn", "vendor_out", "labels_in"):
        seconds = worker.metric("stream_al_stage_latency_seconds_sum", text, stage=stage)
        passes = worker.metric("stream_al_stage_latency_seconds_count", text, stage=stage)
        items = worker.metric("stream_al_stage_items_in_total", text, stage=stage)
        if passes:
            parts.append(f"{stage} {seconds:.2f}s/{int(passes)} passes/{items / passes:.0f} per")
    return ", ".join(parts)


def _past(worker: Worker, pids: dict[str, int], count: int
          ) -> tuple[float, float, dict[str, float]] | None:
    seen = worker.selected_in()
    return (time.perf_counter(), seen, _cpu(pids)) if seen > count else None


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, all threads) each process has used so far."""
    return {name: (t := psutil.Process(pid).cpu_times()).user + t.system
            for name, pid in pids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASETS / "sst2.csv")
    parser.add_argument("--embedders", nargs="+", default=["static", "minilm"],
                        choices=["hashing", "static", "minilm"])
    parser.add_argument("--modes", nargs="+", default=["live", "backlog"],
                        choices=["live", "backlog"])
    parser.add_argument("--n", type=int, help="measured texts per run (default per embedder)")
    parser.add_argument("--profile", type=Path,
                        help="directory: run each worker under cProfile, one .pstats per run")
    args = parser.parse_args()
    limit_blas_threads()
    need = max(args.n or DEFAULT_N[e] for e in args.embedders) + WARMUP
    texts, labels = read_rows(args.data, need)
    call_size = Settings().kafka.batch_max
    print(f"{args.data.name}: {len(texts)} texts, mean {sum(map(len, texts)) / len(texts):.0f} "
          f"chars; load average at start {load_average()}", flush=True)
    raws: dict[str, list[tuple[float, int, str, float]]] = {}
    results: list[Result] = []
    directory = Path(tempfile.mkdtemp(prefix="stream-al-throughput-"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with private_broker() as bootstrap:
        print(f"broker warmed up in {warm_up(bootstrap, texts):.1f} s", flush=True)
        for name in args.embedders:
            n = args.n or DEFAULT_N[name]
            raws[name] = [raw_rate(name, texts[WARMUP:WARMUP + n], call_size)]
            _print_raw(name, raws[name][-1], "before")
            for mode in args.modes:
                profile = args.profile / f"{name}-{mode}.pstats" if args.profile else None
                r = pipeline_rate(name, mode, bootstrap, texts, labels, n, directory, profile)
                results.append(r)
                print(f"pipeline {name} {mode}: {r.rate:,.0f} texts/s ({r.n} texts in "
                      f"{r.seconds:.1f} s, {r.selected} labels bought, load {r.load})\n  stages: {r.stages}",
                      flush=True)
            raws[name].append(raw_rate(name, texts[WARMUP:WARMUP + n], call_size))
            _print_raw(name, raws[name][-1], "after")
    print(f"\nlogs in {directory}")
    print(f"{'embedder':<9}{'mode':<9}{'texts':>7}{'raw/s':>9}{'pipeline/s':>12}{'ratio':>7}"
          f"{'labels':>8}{'cpu ms/1k raw':>15}{'worker':>8}{'broker':>8}{'vendor':>8}{'all':>6}"
          "  load 1m/5m (raw | pipeline)")
    for r in results:
        before, after = raws[r.embedder]
        raw, raw_cpu = (before[0] + after[0]) / 2, (before[3] + after[3]) / 2
        raw_load = f"{before[2]}, {after[2]}"
        print(f"{r.embedder:<9}{r.mode:<9}{r.n:>7}{raw:>9,.0f}{r.rate:>12,.0f}"
              f"{r.rate / raw:>7.0%}{r.selected:>8}{raw_cpu * 1e6:>15,.0f}"
              + "".join(f"{r.cpu_s[p] / r.n * 1e6:>8,.0f}" for p in ("worker", "broker", "vendor"))
              + f"{sum(r.cpu_s.values()) / r.n * 1e6:>6,.0f}  {raw_load} | {r.load}")
    print("raw/s: the mean of the embedder alone just before and just after its pipeline runs "
          "(the load moves; both are printed above)")
    print("cpu ms/1k: CPU seconds of all threads per 1,000 texts (the embedder alone; the "
          "worker, broker and vendor processes while the clock ran, and their sum), which the "
          "load of other processes changes far less than texts/s. Two cores give 2,000 CPU-ms "
          "a second: a pipeline at half the raw rate R may use at most 4e6 / R ms per 1k "
          "texts in all (the producer's share is not counted: it sends pre-encoded batches)")


def _print_raw(name: str, raw: tuple[float, int, str, float], when: str) -> None:
    print(f"raw {name} ({when} its pipeline runs): {raw[0]:,.0f} texts/s (batch size {raw[1]}, "
          f"{raw[3] * 1e6:,.0f} cpu ms/1k, load {raw[2]})", flush=True)


if __name__ == "__main__":
    main()
