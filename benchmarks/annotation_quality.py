"""Annotation economics and quality (issue 7) on real datasets, with simulated annotators.

1. Adjudication: five annotators (10/20/30/40% wrong, plus a spammer or a systematic
   adversary), three per item. Label accuracy against gold and the accuracy of a model
   trained on each method's labels: one label per item, majority vote, Dawid-Skene,
   one-coin Dawid-Skene, Dawid-Skene with 5% gold items.
2. Cost: the same annotator-minute budget spent by a selector and by the same selector
   wrapped in CostAware; true reading time 4 s + chars / 15 per second (log-normal noise),
   cost model learned online from those times starting from a wrong prior.
3. Batches: within-batch cosine similarity and topic purity, neighbourhood vs random batches.
4. Noise: precision and recall of suspicious-label flags at 10% and 20% flipped labels.

    python benchmarks/annotation_quality.py                 # everything, static embedder
    python benchmarks/annotation_quality.py --part cost --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from stream_al.annotation.adjudication import dawid_skene_many, majority_many
from stream_al.annotation.agreement import krippendorff_alpha
from stream_al.annotation.base import AnnotationSettings
from stream_al.annotation.batches import neighbourhoods
from stream_al.annotation.noise import NoiseFlagger, cleanlab_suspicions
from stream_al.config import LearnerSettings, Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.embed import make_embedder
from stream_al.learn.online import OnlineLearner
from stream_al.runtime import limit_blas_threads
from stream_al.select.cost import lengths_of
from stream_al.simulate.annotators import (
    ReadingTime,
    SimulatedAnnotator,
    crowd_labels,
    run_under_budget,
)
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.simulator import Simulation, split

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
HONEST = [SimulatedAnnotator(f"honest-{e}", e) for e in (0.1, 0.2, 0.3, 0.4)]
POOLS = {"spammer": [*HONEST, SimulatedAnnotator("spammer", kind="spammer")],
         "adversary": [*HONEST, SimulatedAnnotator("adversary", 0.8, kind="adversarial")]}
TRUE_TIME = ReadingTime(base_seconds=4.0, chars_per_second=15.0, noise=0.3)


def load(name: str, embedder: str) -> tuple[LabeledTexts, np.ndarray]:
    data = load_labeled(DATASETS / f"{name}.csv")
    settings = Settings.load(embedder={"name": embedder})
    return data, embed_dataset(make_embedder(settings.embedder), data, settings.embedder.cache_dir)


def model_accuracy(X: np.ndarray, train: np.ndarray, labels: list[str], test: np.ndarray,
                   y: np.ndarray, l2: float) -> float:
    learner = OnlineLearner(X.shape[1], LearnerSettings(l2=l2, committee_size=2, max_iter=100))
    learner.learn_many(X[train], labels)
    return float(np.mean(np.asarray(learner.snapshot().predict_many(X[test])) == y[test]))


# ---- 1. adjudication ------------------------------------------------------------------------------
def adjudication(name: str, embedder: str, seeds: list[int], n_train: int) -> None:
    data, X = load(name, embedder)
    y = np.array(data.labels, dtype=object)
    print(f"\n## Adjudication: {name} ({len(data.classes)} classes), {n_train} items x 3 labels, "
          f"model tested on 2000 held-out items, mean of {len(seeds)} seeds")
    print("label acc = share of items whose label is right; model acc at the default learner "
          "l2 (1e-3) and at l2=1")
    print(f"{'pool':<10}{'method':<16}{'label acc':>10}{'model acc':>11}{'(l2=1)':>8}{'alpha':>7}")
    for pool_name, pool in POOLS.items():
        rows: dict[str, list[tuple[float, float, float]]] = {}
        alphas = []
        for seed in seeds:
            sp = split(len(data), 2000, seed)
            train, test = sp.stream[:n_train], sp.test
            ids, truth = [str(i) for i in train], list(y[train])
            labels = crowd_labels(pool, ids, truth, data.classes, 3, np.random.default_rng(seed))
            alphas.append(krippendorff_alpha(labels))
            for method, chosen in methods(labels, ids, truth).items():
                picked = [chosen[i] for i in ids]
                acc = float(np.mean(np.array(picked, dtype=object) == np.array(truth, dtype=object)))
                rows.setdefault(method, []).append(
                    (acc, model_accuracy(X, train, picked, test, y, 1e-3),
                     model_accuracy(X, train, picked, test, y, 1.0)))
        for method, vals in rows.items():
            a, m, m1 = np.mean(vals, axis=0)
            print(f"{pool_name:<10}{method:<16}{a:>10.4f}{m:>11.4f}{m1:>8.4f}{np.mean(alphas):>7.3f}")


def methods(labels, ids: list[str], truth: list[str]) -> dict[str, dict[str, str]]:
    single: dict[str, str] = {}
    for x in labels:
        single.setdefault(x.item_id, x.label)
    gold = dict(zip(ids[: len(ids) // 20], truth[: len(ids) // 20], strict=True))
    ds = dawid_skene_many(labels)
    return {
        "single label": single,
        "majority": {i: v.label for i, v in majority_many(labels).items()},
        "dawid-skene": {i: v.label for i, v in ds.verdicts.items()},
        "one-coin DS": {i: v.label for i, v in dawid_skene_many(labels, one_coin=True).verdicts.items()},
        "DS + 5% gold": {i: v.label for i, v in dawid_skene_many(labels, gold).verdicts.items()},
        "all gold": dict(zip(ids, truth, strict=True)),
    }


# ---- 2. cost -------------------------------------------------------------------------------------
def cost(name: str, embedder: str, seeds: list[int], typical_labels_per_item: float,
         strategies: list[str]) -> None:
    data, X = load(name, embedder)
    chars = lengths_of(data.texts)
    ref = float(np.median(chars))
    minutes_per_item = typical_labels_per_item * TRUE_TIME.seconds_many(np.array([ref]))[0] / 60
    print(f"\n## Cost: {name}, budget {minutes_per_item * 1000:.2f} annotator minutes per 1000 "
          f"items ({typical_labels_per_item:.0%} typical labels), mean of {len(seeds)} seeds; "
          f"lengths p5/p50/p95 = {np.percentile(chars, [5, 50, 95]).round().tolist()} chars")
    print(f"{'strategy':<24}{'labels':>8}{'minutes':>9}{'accuracy':>10}{'acc/hour':>10}"
          f"{'vs count':>10}{'learned s/char':>16}")
    for strategy in strategies:
        results: dict[bool, list[tuple[float, float, float, float]]] = {False: [], True: []}
        for seed in seeds:
            true_seconds = TRUE_TIME.seconds_many(chars, np.random.default_rng(seed))
            for aware in (False, True):
                settings = Settings.load(
                    selection={"seed": seed, "batch_interval": 200},
                    learner={"seed": seed, "committee_size": 2, "max_iter": 30},
                    simulation={"test_size": 2000, "seed": seed, "label_delay": 50,
                                "chunk_size": 50, "checkpoints": 10},
                    cost={"unit": "minutes", "amount": minutes_per_item, "period_items": 1,
                          "reference_chars": int(ref), "learn": "linear",  # wrong prior
                          "aware": aware},
                    kafka={"label_classes": data.classes})  # known classes: no class cap
                r = run_under_budget(Simulation(data, X, settings), strategy, true_seconds)
                per_char = r.cost_model.coefficients()[1]  # type: ignore[union-attr]
                results[aware].append((r.labels, r.minutes, r.accuracy, per_char))
        base = np.mean([v[2] for v in results[False]])
        for aware, vals in results.items():
            labels, minutes, acc, per_char = np.mean(vals, axis=0)
            label = ("cost-aware " if aware else "") + strategy
            print(f"{label:<24}{labels:>8.0f}{minutes:>9.1f}{acc:>10.4f}{acc / minutes * 60:>10.3f}"
                  f"{acc - base:>+10.4f}{per_char:>16.4f}")
    print(f"(true reading time: {1 / TRUE_TIME.chars_per_second:.4f} s/char; prior 0.06 s/char)")


# ---- 3. batches ----------------------------------------------------------------------------------
def batches(name: str, embedder: str, n: int, size: int) -> None:
    data, X = load(name, embedder)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(data))[:n]
    Xs, ys = X[rows], np.array(data.labels, dtype=object)[rows]

    def stats(groups):
        sims, purity = [], []
        for g in groups:
            S = Xs[g] @ Xs[g].T
            sims.append((S.sum() - np.trace(S)) / max(1, len(g) * (len(g) - 1)))
            purity.append(Counter(ys[g]).most_common(1)[0][1] / len(g))
        return float(np.mean(sims)), float(np.mean(purity))

    t0 = time.perf_counter()
    grouped = neighbourhoods(Xs, size)
    took = time.perf_counter() - t0
    random = [np.array_split(rng.permutation(n), len(grouped)) for _ in range(20)]
    r_sim, r_pur = np.mean([stats(g) for g in random], axis=0)
    g_sim, g_pur = stats(grouped)
    m = min(len(data.classes), len(grouped))
    first = {Counter(ys[g]).most_common(1)[0][0] for g in grouped[:m]}
    print(f"\n## Batches: {name}, {n} selected items in batches of {size} ({took * 1000:.0f} ms)")
    print(f"within-batch cosine similarity: neighbourhood {g_sim:.3f} vs random {r_sim:.3f}; "
          f"topic purity {g_pur:.3f} vs {r_pur:.3f}; the first {m} batches are mostly about "
          f"{len(first)} different classes")


# ---- 4. noise ------------------------------------------------------------------------------------
def noise(name: str, embedder: str, n: int) -> None:
    data, X = load(name, embedder)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(data))[:n]
    Xs, ys = X[rows], np.array(data.labels, dtype=object)[rows]
    ids = [str(r) for r in rows]
    half = n // 2
    print(f"\n## Noise: {name}, model and memory from {half} noisy labels, the next {half} "
          "checked as they arrive; cleanlab over all")
    print(f"{'flipped':>8}{'check':>24}{'flagged':>9}{'precision':>11}{'recall':>8}")
    for rate in (0.1, 0.2):
        noisy = ys.copy()
        flipped = rng.random(n) < rate
        for i in np.flatnonzero(flipped):
            noisy[i] = rng.choice([c for c in data.classes if c != ys[i]])
        learner = OnlineLearner(X.shape[1], LearnerSettings(committee_size=2))
        learner.learn_many(Xs[:half], list(noisy[:half]))
        snap = learner.snapshot()
        proba = snap.predict_proba_many(Xs[half:])
        checks = {"model alone": AnnotationSettings(noise_neighbour_share=1.0),
                  "model + neighbours": AnnotationSettings()}
        for check, settings in checks.items():
            flagger = NoiseFlagger(settings)
            flagger.remember_many(ids[:half], Xs[:half], list(noisy[:half]))
            flagged = {s.item_id for s in flagger.flag_many(ids[half:], Xs[half:],
                                                            list(noisy[half:]), proba,
                                                            snap.classes)}
            report(rate, check, flagged, {ids[i] for i in np.flatnonzero(flipped[half:]) + half})
        flagged = {s.item_id for s in cleanlab_suspicions(ids, Xs, list(noisy))}
        report(rate, "cleanlab (all labels)", flagged, {ids[i] for i in np.flatnonzero(flipped)})


def report(rate: float, check: str, flagged: set[str], wrong: set[str]) -> None:
    hit = len(flagged & wrong)
    print(f"{rate:>8.0%}{check:>24}{len(flagged):>9}{hit / max(1, len(flagged)):>11.3f}"
          f"{hit / max(1, len(wrong)):>8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="static", choices=["minilm", "static", "hashing"])
    parser.add_argument("--part", action="append",
                        choices=["adjudication", "cost", "batches", "noise"])
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    limit_blas_threads()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.part or ["adjudication", "cost", "batches", "noise"]
    t0 = time.perf_counter()
    if "adjudication" in parts:
        adjudication("ag_news", args.embedder, seeds, 2000)
        adjudication("banking77", args.embedder, seeds, 4000)
    if "cost" in parts:
        for name, budget in (("ag_news", 0.01), ("ag_news", 0.03), ("banking77", 0.03)):
            cost(name, args.embedder, seeds, budget, ["default", "uncertainty"])
    if "batches" in parts:
        batches("ag_news", args.embedder, 500, 20)
        batches("banking77", args.embedder, 500, 20)
    if "noise" in parts:
        noise("ag_news", args.embedder, 3000)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
