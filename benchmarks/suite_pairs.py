"""Default and random only, on the suite's slices, for a before/after comparison of one change.

``benchmarks.suite`` runs every strategy and peer; a change to the learner or the default
selector changes only stream-al's runs, so this runs ``random`` and ``default`` through the
suite's own pieces (``load_set``, ``stream_al_runs``, ``settings_for``: the same split, stream
order and settings per seed) and compares them, seed by seed, with the same runs in a suite's
``results.json``. One JSON line per set, seed and budget::

    python -m benchmarks.suite_pairs --quick --seeds 5 --out runs/pairs.jsonl
    python -m benchmarks.suite_pairs --report runs/pairs.jsonl --before runs/suite/results.json
    STREAM_AL_LEARNER__PSEUDO_LABELS=0 python -m benchmarks.suite_pairs --quick --out runs/off.jsonl
    python -m benchmarks.suite_pairs --report runs/pairs.jsonl --before runs/off.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics as st
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from benchmarks.suite import SETS, Config, load_set, set_up_process, stream_al_runs

METHODS = ("random", "default")


def run(name: str, seed: int, config: Config, budget: float) -> dict:
    data, X = load_set(name, config.embedder, config.max_rows)
    runs, sim = stream_al_runs(data, X, config, seed, budget, METHODS)
    return {"set": name, "seed": seed, "budget": budget, "stream": sim.stream_length,
            "runs": {r.name: {"labels": r.labels_used, "acc": r.final_accuracy,
                              "f1": r.macro_f1, "auc": r.auc} for r in runs}}


def before_rows(path: Path) -> dict[tuple[str, int, float, str], dict]:
    """(set, seed, budget, method) -> the run of a suite's ``results.json`` (stream-al's own
    runs only), or of this script's JSON lines (``.jsonl``: a run of the same code with a
    setting changed)."""
    if path.suffix == ".jsonl":
        rows = [orjson.loads(line) for line in path.read_text().splitlines() if line]
        return {(r["set"], r["seed"], float(r["budget"]), m): v
                for r in rows for m, v in r["runs"].items()}
    tasks = json.loads(path.read_text())["tasks"]
    return {(t["set_name"], t["seed"], float(r["budget"]), r["method"]):
            {"acc": r["final_accuracy"], "f1": r["macro_f1"], "auc": r["auc"]}
            for t in tasks if not t.get("minority_only") for r in t["runs"]
            if r["kind"] == "stream-al" and r["method"] in METHODS}


def _pm(values: Sequence[float], digits: int = 1) -> str:
    if len(values) < 2:
        return f"{values[0]:+.{digits}f}"
    return f"{st.mean(values):+.{digits}f} ± {st.stdev(values):.{digits}f}"


def report(rows: Sequence[dict], before: dict) -> list[str]:
    """Per set and budget, mean over seeds: default and random before/after, the paired
    after − before differences (points) and default − random after."""
    lines = ["| set | budget | default before → after | Δ default (pts) | random before → after "
             "| Δ random (pts) | default − random after (pts) | Δ AUC default (pts) |",
             "|---|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["set"], r["budget"]) for r in rows)
    for name, budget in keys:
        rs = sorted((r for r in rows if (r["set"], r["budget"]) == (name, budget)
                     and (name, r["seed"], float(budget), "default") in before),
                    key=lambda r: r["seed"])
        if not rs:
            continue
        cells = {}
        for m in METHODS:
            old = [before[(name, r["seed"], float(budget), m)] for r in rs]
            new = [r["runs"][m] for r in rs]
            cells[m] = (st.mean(o["acc"] for o in old), st.mean(n["acc"] for n in new),
                        [100 * (n["acc"] - o["acc"]) for n, o in zip(new, old, strict=True)],
                        [100 * (n["auc"] - o["auc"]) for n, o in zip(new, old, strict=True)])
        gap = [100 * (r["runs"]["default"]["acc"] - r["runs"]["random"]["acc"]) for r in rs]
        d, r_ = cells["default"], cells["random"]
        lines.append(f"| {name} | {budget:g} | {d[0]:.3f} → {d[1]:.3f} | {_pm(d[2])} "
                     f"| {r_[0]:.3f} → {r_[1]:.3f} | {_pm(r_[2])} | {_pm(gap)} | {_pm(d[3])} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    set_up_process("benchmarks.suite_pairs", argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.01, 0.05])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--first-seed", dest="first_seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="the suite's --quick slices")
    parser.add_argument("--embedder", choices=["hashing", "static", "minilm"], default="minilm")
    parser.add_argument("--out", type=Path, default=Path("runs/pairs.jsonl"), help="appended to")
    parser.add_argument("--report", type=Path, help="print the comparison of this file and stop")
    parser.add_argument("--before", type=Path, help="--report: the suite's results.json")
    args = parser.parse_args(argv)
    if args.report:
        rows = [orjson.loads(line) for line in args.report.read_text().splitlines() if line]
        print("\n".join(report(rows, before_rows(args.before))))
        return 0
    config = (Config(embedder=args.embedder, max_rows=2000, test_size=500) if args.quick
              else Config(embedder=args.embedder))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("ab") as out:
        for name in args.sets:
            for seed in range(args.first_seed, args.seeds):
                for budget in args.budgets:
                    row = run(name, seed, config, budget)
                    out.write(orjson.dumps(row) + b"\n")
                    out.flush()
                    print(name, seed, budget, {m: r["acc"] for m, r in row["runs"].items()},
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
