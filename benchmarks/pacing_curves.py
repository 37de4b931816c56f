"""Budget pacing (issue 18): how well each learning curve predicts what more labels buy.

Replays the stationary stream of benchmarks/pacing.py with ``pacing.enabled`` but the pacer
never slowing down (full rate, the control trickle included), and every 500 items asks four
curves, all fed the same labels, for the accuracy gained from doubling the labels bought so
far (``n`` -> ``2n``): the random control labels' prequential curve (``pacing.curve control``),
every label's prequential curve (``prequential``), the curve cross-validated on the labelled set
in the order bought (``crossval``), and the same scored on the held-out random labels only
(``crossval_random``). Beside each, what held-out accuracy actually gained from that point to
twice as far into the stream (the labels doubled) and to the end. One JSON line per point to
``--out``; ``--report`` prints mean predicted and actual gains per set and each curve's bias,
error and correlation (points from 2,000 items on).

    nice -n 15 python benchmarks/pacing_curves.py --seeds 0,1 --out runs/curves.jsonl
    python benchmarks/pacing_curves.py --report --out benchmarks/results/issue18_pacing_curves.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from pacing import SETS, build

from stream_al.config import Settings
from stream_al.pace.crossval import CrossValidatedCurve
from stream_al.pace.pacer import CONTROL_REASON, Pacer
from stream_al.pace.signals import LearningCurve
from stream_al.runtime import limit_blas_threads
from stream_al.select import paced
from stream_al.simulate.pacing_scenario import PacingRun

CURVES = ("control", "prequential", "crossval", "crossval_random")


class WatchedPacer(Pacer):
    """A pacer that never slows down and feeds every label to the four curves."""

    log: list[dict] = []

    def __init__(self, settings, l2: float = 1e-3) -> None:
        super().__init__(settings, l2)
        seed = settings.seed
        self.watched = {"control": LearningCurve(seed=seed), "prequential": LearningCurve(seed=seed),
                        "crossval": CrossValidatedCurve(l2, seed=seed),
                        "crossval_random": CrossValidatedCurve(l2, seed=seed, score_random=True)}
        self.n = 0
        WatchedPacer.log = []

    def slow_down(self, reason: str) -> None:
        """Full rate throughout."""

    def on_labels(self, before, X, labels, reasons) -> None:
        super().on_labels(before, X, labels, reasons)
        random = [r == CONTROL_REASON for r in reasons]
        self.watched["crossval"].add_many(X, labels)
        self.watched["crossval_random"].add_many(X, labels, random)
        if before.ready:
            hits = [p == y for p, y in zip(before.predict_many(X), labels, strict=True)]
            for i, (hit, rnd) in enumerate(zip(hits, random, strict=True)):
                self.watched["prequential"].add(self.n + i + 1, float(hit))
                if rnd:
                    self.watched["control"].add(self.n + i + 1, float(hit))
        self.n += len(labels)

    def check(self, model) -> None:
        super().check(model)
        if self.position % 500 == 0 and self.n:
            WatchedPacer.log.append({"position": self.position, "labels": self.n, **{
                k: round(c.gain(self.n, 2 * self.n)[0], 4) for k, c in self.watched.items()}})


def run(name: str, seed: int, l2: float | None) -> list[dict]:
    settings = Settings.load(embedder={"name": "static"}, budget={"fraction": 0.05},
                             simulation={"seed": seed}, selection={"seed": seed},
                             learner={"l2": l2}, pacing={"seed": seed, "enabled": True})
    labels, X, texts, shift = build("stationary", name, 10_000, seed, settings)
    original = paced.Pacer
    try:  # the stack builds its pacer through the paced selector's module
        paced.Pacer = WatchedPacer
        result = PacingRun(labels, X, shift, texts).run_with(settings)
    finally:
        paced.Pacer = original
    accuracy = {p.position: p.accuracy for p in result.curve}
    end = max(accuracy)
    rows = []
    for point in WatchedPacer.log:
        at = point["position"]
        if at < 1000 or at not in accuracy or 2 * at > end + 1:
            continue
        rows.append({"set": name, "seed": seed, **point,
                     "actual": round(accuracy.get(2 * at, accuracy[end]) - accuracy[at], 4),
                     "to_end": round(accuracy[end] - accuracy[at], 4)})
    return rows


def _mean(values: list[float]) -> float:
    """Mean in points of the finite values (NaN: none)."""
    finite = [v for v in values if np.isfinite(v)]
    return 100 * float(np.mean(finite)) if finite else float("nan")


def report(rows: list[dict]) -> None:
    rows = [r for r in rows if r["position"] >= 2000]
    by = defaultdict(list)
    for r in rows:
        by[r["set"]].append(r)
    print("gain from doubling the labels (points), mean over positions >= 2000 and seeds:")
    print(f"{'set':<10}{'points':>7}{'actual':>8}" + "".join(f"{k:>17}" for k in CURVES))
    for name in sorted(by):
        rs = by[name]
        cells = "".join(f"{_mean([r[k] for r in rs]):>17.1f}" for k in CURVES)
        print(f"{name:<10}{len(rs):>7}{100 * np.mean([r['actual'] for r in rs]):>8.1f}{cells}")
    actual = np.array([r["actual"] for r in rows])
    print(f"\n{'curve':<17}{'known':>7}{'bias':>8}{'mean |err|':>11}{'corr':>7}")
    for k in CURVES:
        pred = np.array([r[k] for r in rows])
        ok = np.isfinite(pred)
        err = pred[ok] - actual[ok]
        corr = np.corrcoef(pred[ok], actual[ok])[0, 1] if ok.sum() > 2 else np.nan
        print(f"{k:<17}{ok.sum():>7}{100 * err.mean():>+8.1f}{100 * np.abs(err).mean():>11.1f}"
              f"{corr:>7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--l2", default=None, help="learner.l2: a number, or 'cv' for null")
    parser.add_argument("--out", default="runs/pacing_curves.jsonl")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.report:
        limit_blas_threads()
        out.parent.mkdir(parents=True, exist_ok=True)
        l2 = None if args.l2 == "cv" else (1e-3 if args.l2 is None else float(args.l2))
        for seed in [int(s) for s in args.seeds.split(",")]:
            for name in args.sets.split(","):
                for row in run(name, seed, l2):
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    report([json.loads(line) for line in out.read_text().splitlines() if line.strip()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
