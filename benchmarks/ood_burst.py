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
   accuracy;
3. ``--loop``: a 10% burst through the whole loop (the simulator, 4 texts partitions
   pre-selecting, the default strategy, 10% budget, labels back 100 items later; static
   vectors): 2,000 Banking77 queries, then 500 with 55 AG News texts mixed in, then 500 more;
   OOD purchases in each stretch (news among them), news bought for any reason, and final
   accuracy on held-out queries, with the coordinator's own OOD check against the scorers'
   (``scale.ood_at_scorers``: the scorers' labelled rows arrive int8,
   ``simulation.reference_lag`` stream items after the coordinator learned them: ``--lags``;
   ``--scorers 1 4``: the partitions dealt over that many scorers, each calibrating its own
   threshold on its own candidates, ``simulation.scorers``).

    python benchmarks/ood_burst.py --seeds 0,1,2
    python benchmarks/ood_burst.py --seeds 0,1,2 --sample 0.25   # ood.sample: a quarter checked
    python benchmarks/ood_burst.py --seeds 0,1,2,3,4 --loop       # 3. only
    python benchmarks/ood_burst.py --seeds 0,1,2,3,4 --loop --lags 0 --scorers 1 4
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
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
from stream_al.simulate.drift_scenario import (
    DriftScenario,
    ShiftStream,
    emerging_classes,
    stationary,
)
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


def burst_in_loop(seeds: list[int], lags: list[int], scorers: Sequence[int] = (1,)) -> None:
    """Measurement 3 of the module's docstring."""
    texts_b, labels_b, bank = embedded("banking77", 3300)
    texts_n, labels_n, news = embedded("ag_news", 55)
    texts, labels = texts_b + texts_n, labels_b + labels_n
    X = np.vstack([bank, news])
    print("## a 10% burst through the loop: OOD purchases before / in / after the burst "
          "(news among them), news bought for any reason, final accuracy")
    for at_scorers, lag, w in [(False, 0, 1)] + [(True, lag, w) for w in scorers for lag in lags]:
        rows = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            mixed = rng.permutation(np.r_[np.arange(2000, 2500), 3300 + np.arange(55)])
            order = np.r_[rng.permutation(2000), mixed, np.arange(2500, 3000)]
            stream = ShiftStream(order, 2000, np.arange(3000, 3300), np.arange(3000, 3300))
            s = Settings.load(budget={"fraction": 0.1}, selection={"seed": seed},
                              learner={"seed": seed}, drift={"seed": seed},
                              simulation={"partitions": 4, "reference_lag": lag, "scorers": w},
                              scale={"preselect": True, "ood_at_scorers": at_scorers,
                                     "precision": "int8"})
            scenario = DriftScenario(labels, X, s, stream, eval_every=500, texts=texts)
            replay = scenario._replay("default", respond=True, ood=True)
            for start in range(0, len(order), s.simulation.chunk_size):
                replay.feed_many(order[start : start + s.simulation.chunk_size])
            replay.finish()
            where = {int(r): k for k, r in enumerate(order.tolist())}
            ood = [where[int(p.item_id)] for p in replay.out.purchases if p.reason == OOD_REASON]
            is_news = [int(p.item_id) >= 3300 for p in replay.out.purchases]
            ood_news = sum(int(order[k]) >= 3300 for k in ood)
            stretch = np.histogram(ood, bins=[0, 2000, 2555, len(order)])[0]
            acc = scenario._checkpoint(replay, len(order)).accuracy
            rows.append((*stretch, ood_news, sum(is_news), acc))
        m = np.mean(rows, axis=0)
        name = (f"at {w} scorer{'s' if w > 1 else ''}, {lag:,} items late" if at_scorers
                else "at the coordinator")
        print(f"{name:32s}: OOD purchases {m[0]:.1f} / {m[1]:.1f} / "
              f"{m[2]:.1f} ({m[3]:.1f} news); news bought {m[4]:.1f} of 55; accuracy "
              f"{m[5]:.4f} (seeds {seeds}; per seed: {[tuple(round(float(v), 3) for v in r) for r in rows]})",
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="ood.sample: the share of candidates checked as they arrive")
    parser.add_argument("--loop", action="store_true", help="only the burst through the loop "
                        "(3.), the coordinator's OOD check against the scorers'")
    parser.add_argument("--lags", type=int, nargs="+", default=[0, 500, 2000],
                        help="--loop: simulation.reference_lag of the scorers' labelled rows")
    parser.add_argument("--scorers", type=int, nargs="+", default=[1],
                        help="--loop: simulation.scorers, each calibrating its own OOD threshold "
                        "on its own candidates (4 partitions: at most 4)")
    args = parser.parse_args()
    limit_blas_threads()
    if args.loop:
        burst_in_loop([int(s) for s in args.seeds.split(",")], args.lags, args.scorers)
        return 0
    cap_alone(args.sample)
    drift_scenario([int(s) for s in args.seeds.split(",")], args.sample)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
