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

A variant of the default selector (``--selection KEY=VALUE``, set as ``STREAM_AL_SELECTION__KEY``
for every run) is named in each row; ``--methods default`` skips random (the variant does not
change it). ``--variants`` compares the default's rows of two variants in files, paired by seed::

    python -m benchmarks.suite_pairs --quick --seeds 20 --budgets 0.01 0.05 200 --out runs/base.jsonl
    python -m benchmarks.suite_pairs --quick --seeds 20 --methods default --selection explore=0.2 \
        --out runs/explore.jsonl
    python -m benchmarks.suite_pairs --variants runs/base.jsonl runs/explore.jsonl

A learner setting (``--learner KEY=VALUE``, ``STREAM_AL_LEARNER__KEY``) changes random's runs
too; ``--variants ... --method random`` compares those::

    python -m benchmarks.suite_pairs --quick --seeds 20 --learner cv_rule=nll --out runs/nll.jsonl
    python -m benchmarks.suite_pairs --variants runs/base.jsonl runs/nll.jsonl --method random
"""

from __future__ import annotations

import argparse
import json
import math
import statistics as st
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson

from benchmarks.suite import (
    SETS,
    Config,
    add_setting_arguments,
    apply_settings,
    budget_fraction,
    load_set,
    set_up_process,
    stream_al_runs,
)
from benchmarks.suite_report import paired

METHODS = ("random", "default")
Runs = dict[tuple[str, str, float, int], dict]
"""(embedder, set, budget, seed) -> one method's run: ``acc``, ``auc``, ``f1``."""


def run(name: str, seed: int, config: Config, budget: float,
        methods: Sequence[str] = METHODS, variant: str = "") -> dict:
    """One set, seed and budget (a fraction, or a label count above 1)."""
    from stream_al.runtime import limit_blas_threads

    limit_blas_threads()
    data, X = load_set(name, config.embedder, config.max_rows)
    fraction = budget_fraction(budget, len(data) - config.test_size)
    runs, sim = stream_al_runs(data, X, config, seed, fraction, methods)
    return {"set": name, "seed": seed, "budget": budget, "stream": sim.stream_length,
            "embedder": config.embedder, "variant": variant,
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
        lines.append(f"| {name} | {budget:g} | {d[0]:.3f} → {d[1]:.3f} | {paired(d[2])} "
                     f"| {r_[0]:.3f} → {r_[1]:.3f} | {paired(r_[2])} | {paired(gap)} | {paired(d[3])} |")
    return lines


def variant_rows(path: Path, method: str = "default") -> Runs:
    """(embedder, set, budget, seed) -> ``method``'s run in a file of this script's lines."""
    rows = [orjson.loads(line) for line in path.read_text().splitlines() if line]
    return {(r.get("embedder", "minilm"), r["set"], float(r["budget"]), r["seed"]):
            r["runs"][method] for r in rows if method in r["runs"]}


def _budget_name(budget: float) -> str:
    return f"{budget:.0%}" if budget <= 1 else f"{budget:.0f} labels"


def variants_report(base: Path, other: Path, randoms: Path | None = None,
                    method: str = "default") -> list[str]:
    """:func:`variants_table` of two files of this script's lines (random's runs from
    ``randoms``, else ``base``)."""
    rand: Runs = {}
    for path in {randoms or base, base}:
        rand.update(variant_rows(path, "random"))
    return variants_table(variant_rows(base, method), variant_rows(other, method), rand, rand,
                          method)


def variants_table(old: Runs, new: Runs, rand_old: Runs, rand_new: Runs,
                   method: str = "default") -> list[str]:
    """Per embedder, set and budget, over the seeds both have: ``method``'s accuracy in
    ``old`` → ``new``, the paired difference (mean ± std, points), its standard error, the
    seeds ``new`` is ahead / behind, the AUC's and macro-F1's paired differences, and
    ``old`` − random and ``new`` − random (random's runs beside each); then the mean over the
    cells."""
    lines = [f"| embedder | set | budget | seeds | {method} base → variant | Δ acc (pts) | s.e. "
             "| ahead / behind | Δ AUC (pts) | Δ macro-F1 (pts) | base − random (pts) "
             "| variant − random (pts) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cells = sorted({k[:3] for k in new if k in old})
    means = []
    for cell in cells:
        seeds = sorted(k[3] for k in new if k[:3] == cell and k in old)
        pairs = [(old[cell + (s,)], new[cell + (s,)]) for s in seeds]
        d = {m: [100 * (b[m] - a[m]) for a, b in pairs] for m in ("acc", "auc", "f1")}
        gaps = [_gap(runs, rand, cell, seeds) for runs, rand in ((old, rand_old), (new, rand_new))]
        se = st.stdev(d["acc"]) / math.sqrt(len(seeds)) if len(seeds) > 1 else float("nan")
        means.append(st.mean(d["acc"]))
        lines.append(
            f"| {cell[0]} | {cell[1]} | {_budget_name(cell[2])} | {len(seeds)} "
            f"| {st.mean(a['acc'] for a, _ in pairs):.3f} → {st.mean(b['acc'] for _, b in pairs):.3f} "
            f"| {paired(d['acc'])} | {se:.1f} | {sum(x > 0 for x in d['acc'])} / "
            f"{sum(x < 0 for x in d['acc'])} | {paired(d['auc'])} | {paired(d['f1'])} "
            f"| {' | '.join(paired(g) if g else '–' for g in gaps)} |")
    if means:
        lines.append(f"\nmean Δ accuracy over the {len(means)} cells: {st.mean(means):+.2f} pts; "
                     f"cells ahead / behind: {sum(m > 0 for m in means)} / "
                     f"{sum(m < 0 for m in means)}")
    return lines


def _gap(runs: Runs, rand: Runs, cell: tuple, seeds: Sequence[int]) -> list[float]:
    """``runs`` − random in accuracy (points), per seed that random ran."""
    return [100 * (runs[cell + (s,)]["acc"] - rand[cell + (s,)]["acc"]) for s in seeds
            if cell + (s,) in rand]


def _task(args: tuple) -> dict:
    return run(*args)


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
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    add_setting_arguments(parser)
    parser.add_argument("--jobs", type=int, default=1, help="processes (one task: set, seed, "
                        "budget)")
    parser.add_argument("--variants", type=Path, nargs=2, metavar=("BASE", "OTHER"),
                        help="print the paired differences between two files and stop")
    parser.add_argument("--method", choices=METHODS, default="default",
                        help="--variants: whose runs to compare")
    parser.add_argument("--randoms", type=Path, help="--variants: the file with random's runs")
    args = parser.parse_args(argv)
    if args.variants:
        print("\n".join(variants_report(*args.variants, args.randoms, args.method)))
        return 0
    if args.report:
        rows = [orjson.loads(line) for line in args.report.read_text().splitlines() if line]
        print("\n".join(report(rows, before_rows(args.before))))
        return 0
    config = (Config(embedder=args.embedder, max_rows=2000, test_size=500) if args.quick
              else Config(embedder=args.embedder))
    variant = apply_settings(args.selection, args.learner)
    tasks = [(name, seed, config, budget, tuple(args.methods), variant) for name in args.sets
             for seed in range(args.first_seed, args.seeds) for budget in args.budgets]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("ab") as out, ProcessPoolExecutor(max(1, args.jobs)) as pool:
        rows = pool.map(_task, tasks) if args.jobs > 1 else map(_task, tasks)
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
            out.flush()
            print(row["set"], row["seed"], row["budget"],
                  {m: r["acc"] for m, r in row["runs"].items()}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
