"""What the OOD cap and the drift response cost on stationary streams.

The simulator runs what the worker deploys, the OOD cap and the drift response included
(``label_efficiency.py`` measures that). This script attributes the difference: the same
simulation with both as deployed, with each switched off, and with both off, on the same
stationary (shuffled) stream, seeds and budget; it also counts the drift alarms (every one is
a false alarm on a stationary stream) and the purchases made for reasons ``ood`` and
``drift_explore``.

    python benchmarks/stationary_governance.py --embedder static --seeds 0,1,2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.dataset import load_labeled
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.simulator import Simulation

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CASES = ["ag_news:0.02", "banking77:0.05"]
VARIANTS = {"as deployed": {}, "no OOD cap": {"ood": {"max_share": 0.0}},
            "no drift response": {"drift": {"response_items": 0}},
            "neither": {"ood": {"max_share": 0.0}, "drift": {"response_items": 0}}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="static", choices=["minilm", "static", "hashing"])
    parser.add_argument("--case", action="append", help="dataset:budget (repeatable)")
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    args = parser.parse_args()
    limit_blas_threads()
    seeds = [int(s) for s in args.seeds.split(",")]
    for case in args.case or CASES:
        name, budget = case.split(":")
        base = {"embedder": {"name": args.embedder}, "budget": {"fraction": float(budget)}}
        data = load_labeled(DATASETS / f"{name}.csv")
        embedder = make_embedder(Settings.load(**base).embedder)
        X = embed_dataset(embedder, data, Settings.load(**base).embedder.cache_dir)
        print(f"\n## {name}, budget {float(budget):.0%}, {embedder.name}, {args.strategy}, "
              f"seeds {seeds}")
        print(f"{'variant':<19}{'labels':>7}{'accuracy':>10}{'auc':>8}{'alarms':>8}"
              f"{'ood':>6}{'explore':>9}")
        for variant in args.variants.split(","):
            off = VARIANTS[variant]
            rows = []
            for seed in seeds:
                s = Settings.load(**base, simulation={"seed": seed}, selection={"seed": seed},
                                  learner={"seed": seed}, **off)
                sim = Simulation(data, X, s)
                r = sim.run(args.strategy)
                out, c = sim.last_replay.out, sim.last_replay.c
                rows.append((r.labels_used, r.final_accuracy, r.auc, c.health.alarm_count,
                             out.reasons.get("ood", 0), out.reasons.get("drift_explore", 0)))
            m = np.mean(np.array(rows, dtype=float), axis=0)
            print(f"{variant:<19}{m[0]:>7.0f}{m[1]:>10.4f}{m[2]:>8.4f}{m[3]:>8.1f}{m[4]:>6.1f}"
                  f"{m[5]:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
