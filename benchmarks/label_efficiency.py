"""Label efficiency: every strategy against random, at the same budget, on real datasets.

Issue 2's targets: with the MiniLM embedder, on AG News at a 2% budget and Banking77 at 5%,
the default strategy beats random on final accuracy and on area under the learning curve
(mean over 3 seeds) and reaches at least 90% of the accuracy of the same learner trained on
every label of the stream.

    python benchmarks/label_efficiency.py                       # the issue's comparison
    python benchmarks/label_efficiency.py --embedder static --seeds 0,1,2,3,4
    python benchmarks/label_efficiency.py --case sst2:0.01:10000 --seeds 0,1,2,3,4,5,6,7,8,9
                                     # any dataset:budget[:rows] (rows: a seeded random slice)

Embeddings are computed once per dataset and embedder and cached (MiniLM: ~3 min per dataset).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.simulator import Simulation

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CASES = ["ag_news:0.02", "banking77:0.05"]


def sliced(data: LabeledTexts, rows: int | None) -> LabeledTexts:
    """``rows`` rows drawn at random (seed 0), in their file order; all of them if None."""
    if rows is None or rows >= len(data):
        return data
    keep = np.sort(np.random.default_rng(0).permutation(len(data))[:rows])
    return LabeledTexts([data.texts[i] for i in keep], [data.labels[i] for i in keep], data.source)


def run_case(name: str, budget: float, embedder_name: str, strategies: list[str],
             seeds: list[int], rows: int | None = None) -> None:
    settings = Settings.load(embedder={"name": embedder_name}, budget={"fraction": budget})
    data = sliced(load_labeled(DATASETS / f"{name}.csv"), rows)
    embedder = make_embedder(settings.embedder)
    t0 = time.perf_counter()
    X = embed_dataset(embedder, data, settings.embedder.cache_dir)
    print(f"\n## {name}, budget {budget:.0%}, {embedder.name} embedder "
          f"({len(data)} rows, embedded/loaded in {time.perf_counter() - t0:.0f} s)")
    rows: dict[str, list[tuple[float, float, int]]] = {s: [] for s in strategies}
    ceilings = []
    for seed in seeds:
        s = Settings.load(embedder={"name": embedder_name}, budget={"fraction": budget},
                          simulation={"seed": seed}, selection={"seed": seed},
                          learner={"seed": seed})
        sim = Simulation(data, X, s)
        ceilings.append(sim.all_labels_accuracy())
        for strategy in strategies:
            r = sim.run(strategy)
            rows[strategy].append((r.final_accuracy, r.auc, r.labels_used))
    ceiling = float(np.mean(ceilings))
    rand_acc, rand_auc = (np.mean([r[i] for r in rows["random"]]) for i in (0, 1))
    print(f"all-labels accuracy (mean of {len(seeds)} seeds): {ceiling:.4f}")
    print(f"{'strategy':<13}{'labels':>7}{'accuracy':>10}{'auc':>8}{'vs random acc':>15}"
          f"{'vs random auc':>15}{'% of all':>10}")
    for strategy, vals in rows.items():
        acc, auc, labels = (float(np.mean([v[i] for v in vals])) for i in (0, 1, 2))
        print(f"{strategy:<13}{labels:>7.0f}{acc:>10.4f}{auc:>8.4f}{acc - rand_acc:>+15.4f}"
              f"{auc - rand_auc:>+15.4f}{acc / ceiling:>10.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "static", "hashing"])
    parser.add_argument("--case", action="append",
                        help="dataset:budget[:rows] (repeatable; rows: a seeded random slice)")
    parser.add_argument("--strategies", default="default,random,uncertainty,diverse,bandit")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    limit_blas_threads()
    strategies = args.strategies.split(",")
    if "random" not in strategies:
        strategies.append("random")
    seeds = [int(s) for s in args.seeds.split(",")]
    for case in args.case or CASES:
        name, budget, *rows = case.split(":")
        run_case(name, float(budget), args.embedder, strategies, seeds,
                 int(rows[0]) if rows else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
