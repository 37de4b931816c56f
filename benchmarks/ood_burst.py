"""Does the OOD cap buy a new domain, and leave a stationary stream's outliers alone?

Two measurements, on the selector the worker deploys:

1. the cap alone (:class:`~stream_al.select.ood_cap.OODSelector` around random, 30% of a 10%
   budget, batches of 25; the texts, static vectors and setting of ``tests/test_ood.py``):
   500 Banking77 queries
   labelled, 1,000 more streamed (stationary), then 500 more with AG News texts mixed in at
   0%, 10% and 40%; OOD purchases in each stretch, and how many of them are news;
2. the simulator's drift scenario (``stream_al/simulate/drift_scenario.py``: AG News World and
   Sports until item 2,000, then all four topics; 5,600 items, 2% budget, ``default``, drift
   response and OOD cap on; MiniLM) and its shuffled control: OOD purchases and final
   accuracy.

    python benchmarks/ood_burst.py --seeds 0,1,2
    python benchmarks/ood_burst.py --seeds 0,1,2 --sample 0.25   # ood.sample: a quarter checked
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stream_al.config import OODSettings, Settings
from stream_al.dataset import load_labeled
from stream_al.embed import make_embedder
from stream_al.learn import ModelSnapshot
from stream_al.ood import OODDetector
from stream_al.runtime import limit_blas_threads
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select import Budget, RandomSelector
from stream_al.select.ood_cap import OOD_REASON, OODSelector
from stream_al.simulate.drift_scenario import DriftScenario, emerging_classes, stationary
from stream_al.simulate.features import embed_dataset
from tests.drift.realdata import embedded

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def ood_bought(selector: OODSelector, X: np.ndarray, news: np.ndarray) -> tuple[int, int]:
    """OOD purchases over ``X`` streamed 25 rows at a time, and how many are ``news`` rows."""
    budget, bought = Budget(0.1), []
    for start in range(0, len(X), 25):
        rows = np.arange(start, min(start + 25, len(X)))
        batch = ScoredBatch([str(r) for r in rows], X[rows],
                            score_many(ModelSnapshot.empty(X.shape[1]), X[rows]))
        budget.observe(len(batch))
        bought += [int(s.item_id) for s in selector.select_many(batch, budget)
                   if s.reason == OOD_REASON]
    return len(bought), int(news[bought].sum())


def cap_alone(sample: float) -> None:
    bank, ag = embedded("banking77", 2000)[2], embedded("ag_news", 400)[2]
    print("## the cap alone: 500 Banking77 labels; 1,000 more queries; then AG News mixed in")
    for share in (0.0, 0.1, 0.4):
        detector = OODDetector(bank.shape[1], OODSettings(sample=sample))
        detector.add_labelled_many(bank[:500])
        selector = OODSelector(RandomSelector(0.1, seed=0), detector, 0.1, max_share=0.3)
        quiet, _ = ood_bought(selector, bank[1000:], np.zeros(1000, dtype=bool))
        n_news = int(500 * share / (1 - share))
        X = np.vstack([bank[500:1000], ag[:n_news]])
        news = np.r_[np.zeros(500, dtype=bool), np.ones(n_news, dtype=bool)]
        order = np.random.default_rng(0).permutation(len(X))
        n, of_news = ood_bought(selector, X[order], news[order])
        bound = 0.3 * 0.1 * (len(X) + detector.settings.cap_window_items)
        print(f"news {share:.0%}: stationary stretch {quiet} OOD purchases; mixed stretch "
              f"({len(X)} items, {n_news} news) {n} ({of_news} news; cap bound {bound:.0f})")


def drift_scenario(seeds: list[int], sample: float) -> None:
    data = load_labeled(DATASETS / "ag_news.csv")
    base = Settings.load(embedder={"name": "minilm"})
    X = embed_dataset(make_embedder(base.embedder), data, base.embedder.cache_dir)
    print("## drift scenario: OOD purchases, final accuracy (shifted stream; shuffled control)")
    rows = []
    for seed in seeds:
        s = Settings.load(embedder={"name": "minilm"}, budget={"fraction": 0.02},
                          selection={"seed": seed}, learner={"seed": seed}, drift={"seed": seed},
                          ood={"sample": sample})
        shifted = emerging_classes(data.labels, ["World", "Sports"], 2000, 5600, seed=seed)
        shift = DriftScenario(data.labels, X, s, shifted).run("default", True, ood=True)
        calm = DriftScenario(data.labels, X, s, stationary(data.labels, 5600, seed=seed)).run(
            "default", True, ood=True)
        rows.append((shift.reasons.get("ood", 0), shift.final_accuracy,
                     calm.reasons.get("ood", 0), calm.final_accuracy))
        print(f"seed {seed}: shifted {rows[-1][0]} OOD, {rows[-1][1]:.3f}; control "
              f"{rows[-1][2]} OOD, {rows[-1][3]:.3f}", flush=True)
    m = np.mean(rows, axis=0)
    print(f"mean: shifted {m[0]:.1f} OOD, {m[1]:.4f}; control {m[2]:.1f} OOD, {m[3]:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="ood.sample: the share of candidates checked as they arrive")
    args = parser.parse_args()
    limit_blas_threads()
    cap_alone(args.sample)
    drift_scenario([int(s) for s in args.seeds.split(",")], args.sample)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
