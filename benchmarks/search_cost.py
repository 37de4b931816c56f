"""The learner's l2 search, timed search by search, in the simulator on full-size sets (issue 17).

Each search (``L2Search.choose``: ``learner.cv_folds`` folds x the grid's 11 penalties on at
most ``learner.cv_rows`` labelled rows) is timed in CPU seconds of this process as the
simulator's coordinator runs it, with the labels it searched on, the rows it used and the
classes. The default strategy, static embedder (as ``benchmarks.three_workers``), 5% budget:

    nice -n 10 python -m benchmarks.search_cost --sets sst2,ag_news,banking77
    nice -n 10 python -m benchmarks.search_cost --sets sst2 --search-lag inline,500,5000

``--search-lag N`` (``inline``: in the refit, the default) runs the simulator with the search apart (``simulation.search_lag``): each
choice applied ``N`` stream items after the refit that asked for it, as the worker's search
process returns it some seconds later (N = seconds x stream texts/s); printed with the final
accuracy, AUC and the choices, to compare with the search in the refit (lag 0).
"""

from __future__ import annotations

import argparse
import time

from stream_al.runtime import limit_blas_threads

limit_blas_threads()

import numpy as np  # noqa: E402

from benchmarks.suite import load_set  # noqa: E402
from stream_al.config import Settings  # noqa: E402
from stream_al.learn import regularisation  # noqa: E402
from stream_al.simulate import replay  # noqa: E402
from stream_al.simulate.simulator import Simulation  # noqa: E402


def timed_searches() -> list[tuple[int, int, int, float, float]]:
    """Record every search from now on: (labels, rows used, classes, CPU-s, chosen l2)."""
    done: list[tuple[int, int, int, float, float]] = []
    run = regularisation.run_search

    def timed(task: regularisation.SearchTask) -> regularisation.SearchResult:
        started = time.process_time()
        result = run(task)
        done.append((len(task.y), len(task.X), task.k, time.process_time() - started,
                     result.l2))
        return result

    regularisation.run_search = replay.run_search = timed  # in the refit; apart (the replay)
    return done


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="sst2,ag_news,banking77")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--embedder", default="static")
    p.add_argument("--seeds", default="0")
    p.add_argument("--search-lag", default="inline", dest="lags",
                   help="comma-separated simulation.search_lag values (stream items; inline: "
                   "in the refit)")
    p.add_argument("--max-rows", type=int, default=200_000)
    args = p.parse_args()
    searches = timed_searches()
    for name in args.sets.split(","):
        data, X = load_set(name, args.embedder, args.max_rows)
        for seed in (int(s) for s in args.seeds.split(",")):
            for lag in (None if v == "inline" else int(v) for v in args.lags.split(",")):
                settings = Settings.load(
                    embedder={"name": args.embedder}, budget={"fraction": args.fraction},
                    simulation={"seed": seed, "search_lag": lag}, selection={"seed": seed},
                    learner={"seed": seed})
                sim = Simulation(data, X, settings)
                searches.clear()
                started = time.process_time()
                result = sim.run("default")
                total = time.process_time() - started
                cpu = [s[3] for s in searches]
                print(f"{name} ({sim.stream_length:,} stream texts, {len(set(data.labels))} "
                      f"classes), seed {seed}, search lag {'inline' if lag is None else lag}: {result.labels_used:,} labels, "
                      f"accuracy {result.final_accuracy:.4f}, AUC {result.auc:.4f}; "
                      f"{len(searches)} searches, {sum(cpu):.2f} CPU-s of the run's {total:.1f} "
                      f"({sum(cpu) / total:.0%})", flush=True)
                for labels, rows, k, seconds, l2 in searches:
                    print(f"    at {labels:>6,} labels: {rows:>5,} rows, {k:>3} classes, "
                          f"{seconds:6.3f} CPU-s, l2 {l2:g}")
                print(f"    choices: {[float(np.format_float_positional(s[4], 4)) for s in searches]}")


if __name__ == "__main__":
    main()
