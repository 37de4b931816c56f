"""Budget pacing (issue 18): could ANY pacer meet the stationary target with this learner and
selector? An oracle bound over schedule shapes that spend 60% of a 5% budget.

The target: on stationary streams, final held-out accuracy within 1 point of the unpaced run
while spending at most 60% of the budget (median over the development sets). A pacer can only
choose *when* it buys; at 60% spend it ends with 60% of the labels. Three shapes span the
choices, each run on the unpaced default stack (no control trickle, no pacer: the best case of
the shape, not a rule that must find it live), same streams and seeds as ``pacing.py``:

- ``stop``: stop early, the 5% run's held-out accuracy at the checkpoint where it had bought
  60% of its final labels (interpolated between the checkpoints either side, every 500 items),
  against its final accuracy; read from the 5% rows, no run of its own;
- ``slower``: spend slower, a whole-stream run at 3% (0.6 x 5%), against the 5% run;
- ``half``: 5% until half the stream, then 1% (0.2 x 5%: the pacer's floor), against the 5%
  run. The ledger withholds 80% of the accrual after the half
  (:attr:`~stream_al.select.budget.Budget.withhold_share`, what the pacer's rate sets), so no
  layer of the stack spends it.

Printed per set: the mean, sample standard deviation, least and most of (shape - unpaced 5%)
final accuracy in points over the seeds, the spend of the shape, and the median over sets of
the per-set means, with a bootstrap interval (seeds resampled within each set). The target is
out of reach of pacing when every shape's median is more than a point below.

    nice -n 15 python benchmarks/pacing_oracle.py --out-dir runs/oracle            # all runs
    python benchmarks/pacing_oracle.py --report --out-dir benchmarks/results       # the tables
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from pacing import SETS, build

from stream_al.config import Settings
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.pacing_scenario import PacingRun
from stream_al.simulate.replay import Replay

FILES = {"full": "issue18_oracle_0.05.jsonl", "slower": "issue18_oracle_0.03.jsonl",
         "half": "issue18_oracle_half.jsonl"}
"""Rows of each run kind under ``--out-dir``; ``stop`` is read from ``full``."""
SHAPES = ["stop", "slower", "half"]


class ScheduledRun(PacingRun):
    """A stationary run whose ledger accrues ``rate`` x the budget from item ``after`` on."""

    def __init__(self, *args: object, after: int, rate: float) -> None:
        super().__init__(*args)
        self.after, self.rate = after, rate

    def _replay(self, strategy: str, respond: bool, ood: bool) -> Replay:
        replay = super()._replay(strategy, respond, ood)
        feed = replay.feed_many

        def feed_many(rows: np.ndarray) -> None:
            if replay.position >= self.after:
                replay.c.stage.budget.withhold_share = 1.0 - self.rate
            feed(rows)

        replay.feed_many = feed_many  # type: ignore[method-assign]
        return replay


def run_one(name: str, seed: int, kind: str, args: argparse.Namespace) -> dict:
    budget = args.budget * (args.slower if kind == "slower" else 1.0)
    settings = Settings.load(embedder={"name": args.embedder}, budget={"fraction": budget},
                             simulation={"seed": seed}, selection={"seed": seed})
    labels, X, texts, shift = build("stationary", name, args.length, seed, settings)
    n = len(shift.order)
    if kind == "half":
        run: PacingRun = ScheduledRun(labels, X, shift, texts, after=n // 2, rate=args.after_rate)
    else:
        run = PacingRun(labels, X, shift, texts)
    started = time.perf_counter()
    r = run.run_with(settings)
    return {"set": name, "stream": "stationary", "seed": seed, "kind": kind,
            "paced": False, "budget": budget, "embedder": args.embedder, "length": n,
            "final_accuracy": round(r.final_accuracy, 4),
            "spend_fraction": round(r.spend_fraction, 4), "labels": r.labels_used,
            "max_overspend": round(r.max_overspend, 4),
            "seconds": round(time.perf_counter() - started, 1),
            "curve_points": [[p.position, p.labels_used, round(p.accuracy, 4)]
                             for p in r.curve]}


def at_labels(points: list[list[float]], labels: float) -> float:
    """Held-out accuracy when ``labels`` had been bought: linear between the checkpoints
    either side (``points``: [position, labels, accuracy], in stream order).

    >>> at_labels([[500, 20, 0.5], [1000, 40, 0.7], [1500, 60, 0.8]], 30)
    0.6
    """
    for (_, l0, a0), (_, l1, a1) in zip(points, points[1:], strict=False):
        if l0 <= labels <= l1:
            return a0 if l1 == l0 else round(a0 + (a1 - a0) * (labels - l0) / (l1 - l0), 6)
    return points[0][2] if labels < points[0][1] else points[-1][2]


def gaps(rows: dict[str, list[dict]], share: float) -> dict[str, dict[str, dict[int, tuple]]]:
    """shape -> set -> seed -> (accuracy gap in points, spend of the shape)."""
    full = {(r["set"], r["seed"]): r for r in rows["full"]}
    out: dict[str, dict[str, dict[int, tuple]]] = {s: defaultdict(dict) for s in SHAPES}
    for (name, seed), r in sorted(full.items()):
        early = at_labels(r["curve_points"], share * r["labels"])
        out["stop"][name][seed] = (100 * (early - r["final_accuracy"]), share)
    for kind in ("slower", "half"):
        for r in rows.get(kind, []):
            base = full.get((r["set"], r["seed"]))
            if base is not None:
                out[kind][r["set"]][r["seed"]] = (
                    100 * (r["final_accuracy"] - base["final_accuracy"]),
                    r["labels"] / base["labels"])
    return out


def report(rows: dict[str, list[dict]], share: float) -> None:
    full = rows["full"]
    lengths = {r["set"]: r["length"] for r in full}
    by = gaps(rows, share)
    rng = np.random.default_rng(0)
    print(f"seeds per set: {sorted({r['seed'] for r in full})}; items per stream: "
          + ", ".join(f"{k} {v}" for k, v in sorted(lengths.items())))
    medians = {}
    for shape in SHAPES:
        sets = {k: v for k, v in by[shape].items() if v}
        if not sets:
            continue
        print(f"\n{shape}: (shape - unpaced 5%) final accuracy, points, over seeds")
        print(f"{'set':<11}{'seeds':>5}{'spend':>7}{'mean':>7}{'sd':>6}{'min':>7}{'max':>7}"
              f"{'unpaced 5%':>12}")
        means = []
        for name, cells in sorted(sets.items()):
            d = np.array([g for g, _ in cells.values()])
            spend = np.mean([s for _, s in cells.values()])
            base = np.mean([r["final_accuracy"] for r in full if r["set"] == name
                            and r["seed"] in cells])
            means.append(d.mean())
            sd = d.std(ddof=1) if len(d) > 1 else float("nan")
            print(f"{name:<11}{len(d):>5}{spend:>7.2f}{d.mean():>+7.1f}{sd:>6.1f}"
                  f"{d.min():>+7.1f}{d.max():>+7.1f}{base:>12.3f}")
        boot = [np.median([rng.choice(np.array([g for g, _ in c.values()]), len(c)).mean()
                           for c in sets.values()]) for _ in range(2000)]
        lo, hi = np.percentile(boot, [5, 95])
        medians[shape] = float(np.median(means))
        print(f"median over {len(sets)} sets: {np.median(means):+.1f} points "
              f"(90% bootstrap over seeds {lo:+.1f} to {hi:+.1f}); sets within 1 point: "
              f"{sum(m >= -1 for m in means)}/{len(means)}")
    best = [max(by[s][name][seed][0] for s in medians if name in by[s]
                and seed in by[s][name])
            for name in sorted(by["stop"]) for seed in by["stop"][name]]
    per_set = defaultdict(list)
    for shape in medians:
        for name, cells in by[shape].items():
            per_set[name].append(np.mean([g for g, _ in cells.values()]))
    print(f"\nbest shape per set (chosen after the fact), median over sets: "
          f"{np.median([max(v) for v in per_set.values()]):+.1f} points; best shape per run, "
          f"median over runs: {np.median(best):+.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--share", type=float, default=0.6, help="spend of every shape, x the "
                        "budget: stop at this share of the labels, spend slower by it")
    parser.add_argument("--after-rate", type=float, default=0.2, dest="after_rate",
                        help="the 'half' shape's rate after half the stream, x the budget")
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--embedder", default="static", help="embedder.name (cached embeddings)")
    parser.add_argument("--kinds", default="full,slower,half", help="which runs to make")
    parser.add_argument("--out-dir", default="runs/oracle", dest="out_dir")
    parser.add_argument("--report", action="store_true", help="only print the tables")
    args = parser.parse_args()
    args.slower = args.share
    if abs(0.5 + 0.5 * args.after_rate - args.share) > 1e-9:
        print(f"note: the 'half' shape spends {0.5 + 0.5 * args.after_rate:.2f} of the budget")
    out = Path(args.out_dir)
    if not args.report:
        limit_blas_threads()
        out.mkdir(parents=True, exist_ok=True)
        for kind in args.kinds.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                for name in args.sets.split(","):
                    row = run_one(name, seed, kind, args)
                    with (out / FILES[kind]).open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(json.dumps({k: row[k] for k in ("set", "seed", "kind",
                          "final_accuracy", "spend_fraction", "seconds")}), flush=True)
    rows = {kind: [json.loads(line) for line in (out / f).read_text().splitlines()
                   if line.strip()] for kind, f in FILES.items() if (out / f).exists()}
    report(rows, args.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
