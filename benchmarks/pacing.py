"""Budget pacing (issue 18): spend fraction, final accuracy paced vs unpaced, resume delay.

Four streams per dataset (stream_al/simulate/pacing_scenario.py), each replayed through the
worker's coordinator twice on the same order and seed, without and with ``pacing.enabled``:

- ``stationary``: every class shuffled, no change;
- ``mix``: half of the classes make 80% of the stream until 50%, the other half after;
- ``late``: one class appears only after 50% of the stream (sets with 3+ classes);
- ``switch``: 5,000 items of a partner set, then 5,000 of this one.

Printed per set and stream, as the mean over seeds: the share of the budget the paced run
spent, final held-out accuracy unpaced and paced (on the classes the stream holds at the end),
the labels saved, and for streams with a change, how many runs were paced down at the change
and the items until the rate was back at 1 after it. Every run is appended to ``--out`` as one
JSON line; ``--report`` prints the tables from that file without running anything.

    nice -n 10 python benchmarks/pacing.py --seeds 0,1,2                 # every set
    nice -n 10 python benchmarks/pacing.py --sets snips,subj --streams stationary
    nice -n 10 python benchmarks/pacing.py --streams stationary --tolerance 0.02  # a variant
    nice -n 15 python benchmarks/pacing.py --streams stationary --curve crossval --l2 cv
    python benchmarks/pacing.py --report --out runs/pacing.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.dataset import load_labeled
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.drift_scenario import ShiftStream, stationary
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.pacing_scenario import (
    PacingRun,
    class_mix_shift,
    domain_switch,
    joined,
    late_class,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = ["ag_news", "atis", "banking77", "hwu64", "mr", "snips", "sst2", "subj"]
PARTNER = {"sst2": "mr", "mr": "sst2", "subj": "mr", "snips": "hwu64", "hwu64": "snips",
           "banking77": "hwu64", "atis": "snips", "ag_news": "subj"}
"""The set each one's domain switch starts from."""
STREAMS = ["stationary", "mix", "late", "switch"]


def load(name: str, settings: Settings) -> tuple[list[str], np.ndarray, list[str]]:
    data = load_labeled(DATASETS / f"{name}.csv")
    X = embed_dataset(make_embedder(settings.embedder), data, settings.embedder.cache_dir)
    return list(data.labels), X, list(data.texts)


def build(stream: str, name: str, length: int, seed: int, settings: Settings,
          ) -> tuple[list[str], np.ndarray, list[str], ShiftStream] | None:
    labels, X, texts = load(name, settings)
    per_class = max(5, 1000 // len(set(labels)))
    pool = len(labels) - 1000
    n = min(length, pool)
    if stream == "stationary":
        return labels, X, texts, stationary(labels, n, per_class, seed)
    if stream == "mix":
        return labels, X, texts, class_mix_shift(labels, n, n // 2, 0.8, per_class, seed)
    if stream == "late":
        if len(set(labels)) < 3:
            return None
        return labels, X, texts, late_class(labels, n, n // 2, per_class, seed)
    a_labels, a_X, a_texts = load(PARTNER[name], settings)
    both = joined(PARTNER[name], a_labels, a_X, a_texts, name, labels, X, texts)
    half = length // 2
    return both.labels, both.X, both.texts, domain_switch(both, half, per_class, seed)


def run_one(name: str, stream: str, seed: int, args: argparse.Namespace) -> list[dict]:
    learner = {} if args.l2 is None else {"l2": None if args.l2 == "cv" else float(args.l2)}
    base = Settings.load(embedder={"name": "static"}, budget={"fraction": args.budget},
                         simulation={"seed": seed}, selection={"seed": seed}, learner=learner,
                         pacing={"seed": seed, "borrow_cap": args.borrow_cap,
                                 **{k: getattr(args, k) for k in ("kappa", "tolerance",
                                                                  "horizon", "floor", "curve")
                                    if getattr(args, k) is not None}})
    built = build(stream, name, args.length, seed, base)
    if built is None:
        return []
    labels, X, texts, shift = built
    run = PacingRun(labels, X, shift, texts)
    rows = []
    for paced in [p for p in (False, True) if args.only in (None, "paced" if p else "unpaced")]:
        started = time.perf_counter()
        settings = base.model_copy(update={"pacing": base.pacing.model_copy(
            update={"enabled": paced})})
        r = run.run_with(settings)
        changed = stream != "stationary"
        rows.append({
            "set": name, "stream": stream, "seed": seed, "paced": paced,
            "curve": settings.pacing.curve, "l2": settings.learner.l2,
            "length": len(shift.order), "shift_at": shift.shift_at,
            "final_accuracy": round(r.final_accuracy, 4),
            "spend_fraction": round(r.spend_fraction, 4), "labels": r.labels_used,
            "saved_labels": round(r.saved_labels, 1),
            "max_overspend": round(r.max_overspend, 4),
            "rate_before_change": r.rate_at(shift.shift_at - 1) if changed else None,
            "resume_delay": r.resume_delay() if changed else None,
            "pauses": sum(c.kind == "paused" for c in r.changes),
            "resumes": [(c.position, c.reason) for c in r.changes if c.kind == "resumed"],
            "reasons": r.reasons, "seconds": round(time.perf_counter() - started, 1),
            "curve_points": [[p.position, p.labels_used, round(p.accuracy, 4)] for p in r.curve],
        })
    return rows


def report(rows: list[dict]) -> None:
    runs: dict[tuple[str, str], dict[bool, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        runs[(row["set"], row["stream"])][row["paced"]].append(row)
    print(f"{'set':<10}{'stream':<11}{'seeds':>5}{'items':>7}{'spend':>7}{'unpaced':>9}"
          f"{'paced':>7}{'diff':>7}{'saved':>7}{'paused@chg':>11}{'resume (items)':>16}"
          f"{'overspend':>10}")
    stationary_rows = []
    for (name, stream), by in sorted(runs.items(), key=lambda kv: (STREAMS.index(kv[0][1]),
                                                                   kv[0][0])):
        plain = {r["seed"]: r for r in by[False]}
        paced = [r for r in by[True] if r["seed"] in plain]
        if not paced:
            continue
        diff = [r["final_accuracy"] - plain[r["seed"]]["final_accuracy"] for r in paced]
        spend = float(np.mean([r["spend_fraction"] for r in paced]))
        down = [r for r in paced if r["rate_before_change"] is not None
                and r["rate_before_change"] < 1]
        delays = [r["resume_delay"] for r in down]
        delay = "-" if not down else (
            f"{max(d for d in delays if d is not None)} max" if all(d is not None
                                                                    for d in delays)
            else f"never in {sum(d is None for d in delays)}")
        if stream == "stationary":
            stationary_rows.append((spend, float(np.mean(diff))))
        print(f"{name:<10}{stream:<11}{len(paced):>5}{paced[0]['length']:>7}{spend:>7.2f}"
              f"{np.mean([plain[r['seed']]['final_accuracy'] for r in paced]):>9.3f}"
              f"{np.mean([r['final_accuracy'] for r in paced]):>7.3f}{np.mean(diff):>+7.3f}"
              f"{np.mean([r['saved_labels'] for r in paced]):>7.0f}"
              + (f"{len(down):>6}/{len(paced):<4}" if stream != "stationary" else f"{'':>11}")
              + f"{delay:>16}{max(r['max_overspend'] for r in by[True] + by[False]):>10.3f}")
    _spread(runs)
    _half_stream(rows)
    if stationary_rows:
        spend, diff = np.median(np.array(stationary_rows), axis=0)
        print(f"\nstationary, median over {len(stationary_rows)} sets: spend {spend:.2f} of the "
              f"budget, accuracy paced - unpaced {diff:+.3f}")


def _spread(runs: dict[tuple[str, str], dict[bool, list[dict]]]) -> None:
    """Per stationary set: the range of the paced runs' spend, and the mean, standard deviation,
    least and most of paced minus unpaced accuracy (points) over the seeds."""
    lines = []
    for (name, stream), by in sorted(runs.items()):
        plain = {r["seed"]: r for r in by[False]}
        paced = [r for r in by[True] if r["seed"] in plain]
        if stream != "stationary" or len(paced) < 2:
            continue
        spend = [r["spend_fraction"] for r in paced]
        diff = 100 * np.array([r["final_accuracy"] - plain[r["seed"]]["final_accuracy"]
                               for r in paced])
        lines.append(f"{name:<11}{min(spend):.2f}-{max(spend):.2f}   {diff.mean():+5.1f} "
                     f"{diff.std(ddof=1):6.1f} {diff.min():+5.1f} {diff.max():+5.1f}")
    if lines:
        print(f"\n{'set':<11}{'spend':<12}{'diff':>5}{'sd':>7}{'min':>6}{'max':>6}")
        print("\n".join(lines))


def _half_stream(rows: list[dict]) -> None:
    """What a pause at half the stream could cost at most: per stationary set, final held-out
    accuracy minus accuracy at 50% of the stream, unpaced, per seed (points; runs that kept
    their accuracy curve)."""
    by: dict[str, list[str]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["set"], r["seed"])):
        points = r.get("curve_points")
        if r["paced"] or r["stream"] != "stationary" or not points:
            continue
        half = [p for p in points if p[0] <= r["length"] / 2 + 1][-1]
        by[r["set"]].append(f"{100 * (points[-1][2] - half[2]):+.1f}")
    if by:
        print("\nunpaced, final minus accuracy at 50% of the stream (points, per seed):")
        for name, cells in by.items():
            print(f"{name:<11}" + " ".join(f"{c:>6}" for c in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--streams", default=",".join(STREAMS))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--length", type=int, default=10_000,
                        help="stream items (fewer where a set has fewer rows)")
    parser.add_argument("--borrow-cap", type=float, default=0.0, dest="borrow_cap")
    parser.add_argument("--kappa", type=float, default=None, help="pacing.kappa (default: the "
                        "settings' default)")
    parser.add_argument("--tolerance", type=float, default=None, help="pacing.tolerance "
                        "(default: the settings' default)")
    parser.add_argument("--horizon", type=float, default=None, help="pacing.horizon "
                        "(default: the settings' default)")
    parser.add_argument("--floor", type=float, default=None, help="pacing.floor "
                        "(default: the settings' default)")
    parser.add_argument("--curve", default=None, choices=["control", "prequential", "crossval"],
                        help="pacing.curve (default: the settings' default)")
    parser.add_argument("--l2", default=None, help="learner.l2: a number, or 'cv' for null "
                        "(chosen by cross-validation); default: the settings' default")
    parser.add_argument("--only", default=None, choices=["paced", "unpaced"],
                        help="run only one side (the report pairs the rows of --out by seed)")
    parser.add_argument("--out", default="runs/pacing.jsonl")
    parser.add_argument("--report", action="store_true", help="only print the tables of --out")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.report:
        limit_blas_threads()
        out.parent.mkdir(parents=True, exist_ok=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.sets.split(","):
                for stream in args.streams.split(","):
                    for row in run_one(name, stream, seed, args):
                        with out.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        print(json.dumps({k: row[k] for k in ("set", "stream", "seed", "paced",
                              "final_accuracy", "spend_fraction", "resume_delay", "seconds")}),
                              flush=True)
    report([json.loads(line) for line in out.read_text().splitlines() if line.strip()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
