"""Three workers on one broker (issue 17): the texts partitions split three ways, one budget.

A private broker (``benchmarks/broker.py``), one group of three ``stream-al worker`` processes
with two-level selection on (``scale.preselect``, int8 rows in ``--envelope`` envelopes), the static
embedder, a 5% budget, and the simulated vendor answering every purchase. The texts topic has
``--partitions`` partitions (default 12). The run waits until each worker holds a third of
them, produces ``--warmup`` texts (a first model reaches the scorers), then produces ``--n``
SST-2 texts while the workers run, and waits until the coordinator has counted every text.

Checked (the run fails otherwise), from the topics: the last ledger counts every text produced
exactly once (``seen``), no item is bought twice (``selected`` ids are distinct), and spending
stays within the budget (at most ``fraction x seen`` + ``budget.warmup_labels``).

Printed: stream texts/s (from the first measured text produced to the coordinator counting the
last), and CPU-ms per 1,000 texts of each process over that time (each worker, with its texts
partitions and whether it holds ``control``, and its child processes apart: the l2 search
process, ``learner.search_process``; the broker; the vendor), and the static
embedding's own CPU per 1,000 texts, measured in this process on the same texts just after
(issue 17's target: a scorer-only worker spends no more beyond the embedding than the
embedding itself). The measured window scrapes /metrics of the worker holding ``control``
only: a scrape costs the scraped worker ~5 CPU-ms, printed too.

    nice -n 15 python -m benchmarks.three_workers --n 20000
    nice -n 15 python -m benchmarks.three_workers --n 40000 --control-merge 4   # runs selected as one
    nice -n 15 python -m benchmarks.three_workers --n 67000 --spy runs/spy   # py-spy, the window

``--spy DIR`` samples each worker with py-spy (``pip install py-spy``; not a dependency) over
the measured window only (100 samples a second, by thread), into ``DIR/worker<i>.txt``
(py-spy's raw format: one stack and its sample count per line; idle threads left out).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import orjson
import psutil
import yaml

from benchmarks import broker
from benchmarks.pipeline_throughput import raw_rate
from stream_al.config import Settings
from stream_al.metrics import sample_value
from stream_al.stream.messages import Ledger, parse
from stream_al.stream.topics import ensure_topics, texts_group
from tests.stream.harness import group_assignments, read_topic

WORKERS = 3


def counted(workers: list[broker.Worker]) -> float:
    """Stream texts the coordinator (whichever worker holds control) has taken through
    selection."""
    return sum(w.selected_in() for w in workers)


class Watch:
    """Counts what the coordinator has taken through selection, scraping only the worker that
    holds ``control`` (the others every ``EVERY_ALL``-th poll, in case it moved): a /metrics
    scrape costs the scraped worker CPU (:func:`scrape_cost`), and polling every worker ten
    times a second had put ~40 CPU-ms per 1,000 texts on the scorer-only workers' figures that
    a production scrape (every 15 s) never costs."""

    EVERY_ALL = 50

    def __init__(self, workers: list[broker.Worker]) -> None:
        self.workers = workers
        self.polls = 0
        self.holder = max(range(len(workers)), key=lambda i: workers[i].selected_in())

    def counted(self) -> float:
        self.polls += 1
        if self.polls % self.EVERY_ALL == 0:
            counts = [w.selected_in() for w in self.workers]
            self.holder = max(range(len(counts)), key=counts.__getitem__)
            return sum(counts)
        return self.workers[self.holder].selected_in()


def scrape_cost(worker: broker.Worker, n: int = 200) -> float:
    """CPU-ms one /metrics scrape costs the scraped worker (mean of ``n``, idle stream)."""
    pid = {"w": worker.process.pid}
    before = cpu_of(pid)["w"]
    for _ in range(n):
        worker.metrics()
    return (cpu_of(pid)["w"] - before) / n * 1e3


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: (t := psutil.Process(pid).cpu_times()).user + t.system
            for name, pid in pids.items()}


def label_to_model(pages: list[str]) -> tuple[float, float, list[tuple[float, float]]]:
    """Labels observed, their mean label-to-model seconds, and the share within 0.5, 1, 2.5
    and 5 s (``stream_al_label_to_model_seconds`` summed over the workers' pages)."""
    name = "stream_al_label_to_model_seconds"
    count = sum(sample_value(p, f"{name}_count") for p in pages)
    total = sum(sample_value(p, f"{name}_sum") for p in pages)
    within = [(b, sum(sample_value(p, f"{name}_bucket", le=str(float(b))) for p in pages)
               / max(count, 1)) for b in (0.5, 1.0, 2.5, 5.0)]
    return count, total / max(count, 1), within


def children_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each running child of process ``pid`` (the search process,
    ``learner.search_process``, and multiprocessing's resource tracker)."""
    out = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[child.pid] = t.user + t.system
    return out


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread of process ``pid`` (its main thread's id is ``pid``)."""
    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def spy(pids: dict[str, int], directory: Path) -> list[subprocess.Popen]:
    """py-spy recording each of ``pids`` into ``directory/<name>.txt`` until stopped."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--spy needs py-spy on the PATH (pip install py-spy)")
    directory.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([exe, "record", "--threads", "-r", "100", "-f", "raw",
                              "-o", str(directory / f"{name}.txt"), "-p", str(pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


def stop_spying(spies: list[subprocess.Popen]) -> None:
    """Stop the recorders; each writes its file on SIGINT."""
    for s in spies:
        if s.poll() is None:
            s.send_signal(signal.SIGINT)
    for s in spies:
        s.wait(timeout=60)


def run(args: argparse.Namespace, bootstrap: str, directory: Path) -> None:
    texts, labels = broker.read_rows(args.data, args.warmup + args.n)
    config = broker.run_config(bootstrap, directory, embedder={"name": "static"},
                        budget={"fraction": args.fraction},
                        scale={"preselect": True, "precision": "int8",
                               "envelope": args.envelope})
    values = yaml.safe_load(config.read_text())
    values["kafka"]["control_merge"] = args.control_merge
    values["kafka"]["topics"]["partitions"] = args.partitions
    config.write_text(yaml.safe_dump(values))
    settings = Settings.load(config)
    k, topics = settings.kafka, settings.kafka.topics
    ensure_topics(k)
    gold = directory / "gold.csv"
    broker.write_gold(gold, texts, labels)
    workers = [broker.Worker(config, directory / f"worker{i}.log") for i in range(WORKERS)]
    answers = broker.vendor(config, gold, "t", directory / "vendor.log")
    spies: list[subprocess.Popen] = []
    try:
        split = broker.wait_until(
            lambda: (m := group_assignments(bootstrap, texts_group(k))) and len(m) == WORKERS
            and all(a.get(topics.texts) for a in m) and m, 180,
            "three workers to share the texts partitions", every_s=0.5)
        broker.produce(bootstrap, topics.texts, "t", texts, range(args.warmup))
        broker.wait_until(
            lambda: counted(workers) >= args.warmup
            and max(w.metric("stream_al_model_version") for w in workers) >= 1, 300,
            "the warm-up texts and a first model", every_s=0.2)
        pids = {f"worker{i}": w.process.pid for i, w in enumerate(workers)}
        pids |= {"broker": broker.broker_pid(bootstrap), "vendor": answers.process.pid}
        total = args.warmup + args.n
        watch = Watch(workers)
        spies = spy({f"worker{i}": w.process.pid for i, w in enumerate(workers)},
                    args.spy) if args.spy else []
        started, cpu = time.perf_counter(), cpu_of(pids)
        threads = {i: thread_cpu(w.process.pid) for i, w in enumerate(workers)}
        children = {i: children_cpu(w.process.pid) for i, w in enumerate(workers)}
        broker.produce(bootstrap, topics.texts, "t", texts,
                       range(args.warmup, args.warmup + args.n))
        broker.wait_until(lambda: watch.counted() >= total, max(300.0, args.n / 20),
                          f"{total} texts counted (see {directory}/worker*.log)", every_s=0.1)
        seconds = time.perf_counter() - started
        used = {name: t - cpu[name] for name, t in cpu_of(pids).items()}
        threads = {i: {tid: t - threads[i].get(tid, 0.0)
                       for tid, t in thread_cpu(w.process.pid).items()}
                   for i, w in enumerate(workers)}
        children = {i: sum(t - children[i].get(pid, 0.0)
                           for pid, t in children_cpu(w.process.pid).items())
                    for i, w in enumerate(workers)}
        stop_spying(spies)
        scrape_ms = scrape_cost(workers[watch.holder])
        raw = raw_rate("static", texts[args.warmup:args.warmup + min(args.n, 20_000)],
                       settings.kafka.batch_max)
        load = broker.load_average()
        control = [w.metric("stream_al_stage_items_in_total", stage="select") > 0
                   for w in workers]
        per_worker = [w.metric("stream_al_stage_items_in_total", stage="embed") for w in workers]
        latency = label_to_model([w.metrics() for w in workers])
    finally:
        stop_spying(spies)
        answers.stop()
        for w in workers:
            w.stop()
    ledgers = [parse(Ledger, r.value) for r in read_topic(bootstrap, topics.state, timeout_s=10)
               if r.key == b"ledger"]
    selected = [orjson.loads(r.value)["item_id"]
                for r in read_topic(bootstrap, topics.selected, timeout_s=10)]
    ledger = ledgers[-1]
    allowed = args.fraction * ledger.seen + settings.budget.warmup_labels
    print(f"{args.n:,} texts after {args.warmup:,} warm-up, {args.partitions} texts partitions, "
          f"load {load}")
    print(f"  {args.n / seconds:,.0f} stream texts/s ({seconds:.1f} s)")
    print(f"  ledger seen {ledger.seen:,} (produced {total:,}), bought {len(selected):,} "
          f"({len(set(selected)):,} distinct), allowed {allowed:,.1f}")
    for i in range(WORKERS):
        own = max(per_worker[i] * args.n / total, 1)  # its share of the measured texts
        print(f"  worker{i}: embedded {per_worker[i]:,.0f} texts, control {control[i]}, CPU "
              f"{used[f'worker{i}'] / args.n * 1e6:,.0f} ms per 1,000 stream texts "
              f"({used[f'worker{i}'] / own * 1e6:,.0f} per 1,000 of its own)")
        if children[i] > 0:
            print(f"    its child processes (the search process): CPU "
                  f"{children[i] / args.n * 1e6:,.1f} ms per 1,000 stream texts; with the worker "
                  f"{(used[f'worker{i}'] + children[i]) / args.n * 1e6:,.0f}")
        pid = workers[i].process.pid
        busy = sorted(((t, tid) for tid, t in threads[i].items()), reverse=True)
        print("    its threads, CPU-ms per 1,000 of its own texts: "
              + ", ".join(f"{'main' if tid == pid else tid} {t / own * 1e6:.1f}"
                          for t, tid in busy if t / own * 1e6 >= 0.5))
    embed_ms = raw[3] * 1e6
    print(f"  the embedding alone (static, in this process, {raw[0]:,.0f} texts/s): "
          f"{embed_ms:.1f} CPU-ms per 1,000 texts; each scorer-only worker beyond it: "
          + ", ".join(f"{used[f'worker{i}'] / max(per_worker[i] * args.n / total, 1) * 1e6 - embed_ms:.1f}"
                      for i in range(WORKERS) if not control[i]))
    for name in ("broker", "vendor"):
        print(f"  {name}: CPU {used[name] / args.n * 1e6:,.0f} ms per 1,000 texts")
    count, mean, within = latency
    print(f"  label to model (every worker's scorers, the whole run): {count:,.0f} labels, mean "
          f"{mean:.2f} s; " + ", ".join(f"<= {b:g} s {share:.1%}" for b, share in within))
    print(f"  texts partitions per member: {sorted(len(a[topics.texts]) for a in split)}")
    print(f"  one /metrics scrape of the worker holding control: {scrape_ms:.2f} CPU-ms (the "
          f"measured window scraped only that worker, about every 0.1 s; "
          f"{watch.polls:,} polls)")
    assert ledger.seen == total, f"the ledger counted {ledger.seen} texts of {total}"
    assert len(set(selected)) == len(selected), "an item was bought twice"
    assert len(selected) <= allowed + 1e-9, f"{len(selected)} bought, {allowed:.1f} allowed"
    assert sorted(len(a[topics.texts]) for a in split) == [args.partitions // 3] * 3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=broker.DATASETS / "sst2.csv")
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=1024)
    p.add_argument("--partitions", type=int, default=12)
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--envelope", default="deflated", choices=("json", "binary", "deflated"),
                   help="scale.envelope")
    p.add_argument("--control-merge", type=int, default=1, dest="control_merge",
                   help="kafka.control_merge: control records the coordinator selects as one")
    p.add_argument("--spy", type=Path, default=None, metavar="DIR",
                   help="sample each worker with py-spy over the measured window into DIR")
    args = p.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="stream-al-three-workers-"))
    with broker.private_broker() as bootstrap:
        run(args, bootstrap, directory)


if __name__ == "__main__":
    main()
