"""The learner's first refit after a rebuild, with and without the l2 search's state (issue 16/17).

A learner on the default settings, its searches apart as the Kafka worker's (each answered at
once here), learns the first ``--labels`` labels of a seeded slice of a set (MiniLM embeddings
from the cache), ``--step`` at a time. Its snapshot goes through the bytes and the trust
boundary (``load_snapshot``, as a rebuild reads ``models``), a fresh learner is reset to it
(``OnlineLearner.reset_to``, what ``Coordinator.restore`` does) and learns the next 10 labels:
the CPU time of that refit (``time.process_time``), ``--repeats`` times, each a fresh rebuild.
``with state``: the snapshot as written now (the penalty and the search schedule continue);
``without``: the same record without the search's state (a record written before it was kept,
and the code of before: the first refit searches in place). Printed with the penalty, the labels
at the last search and when the next one is due.

    nice -n 10 env HF_HUB_OFFLINE=1 PYTHONPATH=. python -m benchmarks.rebuild_penalty \\
        --sets banking77,sst2

``--unchanged``: no rebuild; prints what a run gives (a learner fed the same labels: every
version's fingerprint hashed, the penalties; a simulation's purchases, accuracy and final
fingerprint), to compare between two checkouts (the state in the snapshot changes no fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import statistics
import time

from stream_al.runtime import limit_blas_threads

limit_blas_threads()

import numpy as np  # noqa: E402

from benchmarks.suite import load_set  # noqa: E402
from stream_al.config import LearnerSettings, Settings  # noqa: E402
from stream_al.learn import OnlineLearner  # noqa: E402
from stream_al.learn.regularisation import run_search  # noqa: E402
from stream_al.stream.messages import ModelUpdate, load_snapshot  # noqa: E402


def fed(X: np.ndarray, y: np.ndarray, n: int, step: int, versions: list[str] | None = None,
        ) -> OnlineLearner:
    """A learner that learned ``X[:n]`` ``step`` at a time, each search apart answered at once
    (``versions``: every version's fingerprint appended)."""
    learner = OnlineLearner(X.shape[1], LearnerSettings())
    learner.searches_apart = True
    for start in range(0, n, step):
        learner.learn_many(X[start:start + step], list(y[start:start + step]))
        if versions is not None:
            versions.append(learner.snapshot().fingerprint())
        if (task := learner.take_search()) is not None:
            learner.searched(task, run_search(task))
            learner.fit()
            if versions is not None:
                versions.append(learner.snapshot().fingerprint())
    return learner


def first_refit(snapshot_b64: str, X: np.ndarray, y: np.ndarray, n: int,
                ) -> tuple[float, OnlineLearner]:
    """A rebuild from the record ``snapshot_b64`` and its first refit (10 labels): CPU-s."""
    snapshot = load_snapshot(snapshot_b64, X.shape[1])  # as a rebuild reads models
    learner = OnlineLearner(X.shape[1], LearnerSettings())
    learner.searches_apart = True
    learner.reset_to(snapshot, X[:n], list(y[:n]), version=snapshot.version + 1)
    started = time.process_time()
    learner.learn_many(X[n:n + 10], list(y[n:n + 10]))
    return time.process_time() - started, learner


def spread(values: list[float]) -> str:
    return (f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} s "
            f"(min {min(values):.3f}, max {max(values):.3f})")


def rebuilds(name: str, n: int, step: int, repeats: int) -> None:
    data, X = load_set(name, "minilm", 20000)
    order = np.random.default_rng(0).permutation(len(X))[: n + 10]
    X, y = X[order], np.array(data.labels, dtype=object)[order]
    started = time.process_time()
    learner = fed(X, y, n, step)
    search = learner.main.search
    print(f"{name}: {n:,} labels, {len(learner.classes)} classes, fed in "
          f"{time.process_time() - started:.1f} CPU-s; main l2 {learner.main.l2:g}, last search "
          f"at {search.searched_at:,} labels", flush=True)
    snapshot = learner.snapshot()
    records = {"with state": ModelUpdate.of(snapshot).snapshot}
    if getattr(snapshot, "search", None) is not None:
        records["without"] = ModelUpdate.of(dataclasses.replace(snapshot, search=None)).snapshot
        old = len(dataclasses.replace(snapshot, search=None).to_bytes())
        print(f"    record: {len(snapshot.to_bytes()) - old:+d} bytes of {old:,} for the state "
              f"{snapshot.search}")
    else:  # the code of before: its records have no state
        records = {"before (code of 48bc2ef)": records["with state"]}
    for label, b64 in records.items():
        seconds, rebuilt = [], None
        for _ in range(repeats):
            s, rebuilt = first_refit(b64, X, y, n)
            seconds.append(s)
        r = rebuilt.main.search
        k = len(rebuilt.classes)
        due = next(m for m in range(n + 10, 10 * n) if r.due(m, k)) if r.pending is None else None
        print(f"    {label:>24}: first refit {spread(seconds)}; after it l2 {rebuilt.main.l2:g}, "
              f"last search at {r.searched_at:,}, next due at {due if due else 'asked now'}",
              flush=True)


def unchanged(name: str, n: int, step: int, max_rows: int) -> None:
    data, X = load_set(name, "minilm", 20000)
    order = np.random.default_rng(0).permutation(len(X))[:n]
    versions: list[str] = []
    learner = fed(X[order], np.array(data.labels, dtype=object)[order], n, step, versions)
    digest = hashlib.sha256("".join(versions).encode()).hexdigest()[:16]
    print(f"{name} learner: {len(versions)} versions, fingerprints {digest}, final "
          f"{learner.snapshot().fingerprint()}, l2 {learner.main.l2:g}", flush=True)
    from stream_al.simulate.simulator import Simulation

    data, X = load_set(name, "minilm", max_rows)
    settings = Settings.load(embedder={"name": "minilm"}, budget={"fraction": 0.05})
    sim = Simulation(data, X, settings)
    result = sim.run("default")
    bought = hashlib.sha256("\n".join(result.bought).encode()).hexdigest()[:16]
    print(f"{name} simulation ({max_rows:,} rows, 5%): {result.labels_used} labels, purchases "
          f"{bought}, accuracy {result.final_accuracy:.6f}, AUC {result.auc:.6f}, final model "
          f"{sim.last_replay.c.learner.snapshot().fingerprint()}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="banking77,sst2")
    p.add_argument("--labels", default="1200,1000", help="labels before the rebuild, per set")
    p.add_argument("--step", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--unchanged", action="store_true")
    p.add_argument("--max-rows", type=int, default=5000, help="the simulation's (--unchanged)")
    args = p.parse_args()
    for name, n in zip(args.sets.split(","), (int(v) for v in args.labels.split(",")),
                       strict=True):
        if args.unchanged:
            unchanged(name, n, args.step, args.max_rows)
        else:
            rebuilds(name, n, args.step, args.repeats)


if __name__ == "__main__":
    main()
