"""The label-efficiency cost of two-level selection and compact embeddings (issue 17).

    python -m benchmarks.two_level                       # quick: 3 sets, 3 seeds, 3,000 rows
    python -m benchmarks.two_level --sets sst2 --seeds 5 --variants central p16-int8

Per set and seed, the suite's split and settings (``benchmarks.suite.settings_for``) at a 5%
budget with the default strategy, run through the simulator as:

- ``central``: every text reaches the coordinator as float32 (today's system);
- ``central-f16`` / ``central-int8``: every text, its embedding in float16 / int8;
- ``c16``: every text, float32, dealt over 16 partitions (one record per partition's share of
  a chunk: what dealing alone changes);
- ``p1`` / ``p4`` / ``p16``: scorers on 1, 4, 16 texts partitions pre-select candidates
  (``scale.preselect`` at the default ``candidate_multiple``: 3 since the tenth pass of
  issue 17, 4 in the results before it) — float32, to isolate pre-selection;
- ``p16-int8``: 16 partitions pre-selecting, int8 embeddings (what a scaled-out deployment runs);
- ``p16-int8-m8``: the same with ``candidate_multiple`` 8;
- ``p1-m2`` ... ``p16-m3``: ``p1`` / ``p4`` / ``p16`` with ``candidate_multiple`` 2 or 3 (fewer
  candidates per label: the coordinator's cost per stream text against label efficiency);
- ``p16-int8-merged``: ``p16-int8`` with each chunk's 16 records selected as one
  (``simulation.merge_records``: ``Coordinator.on_scored_many``);
- ``p16-int8-d25``: ``p16-int8`` with ``drift.sample`` 0.25 (the stream's drift detectors read
  a quarter of the candidates);
- ``p1-ood`` / ``p4-ood`` / ``p16-ood``: ``p1`` / ``p4`` / ``p16`` with ``scale.ood_at_scorers``
  (the scorers check the candidates for OOD; compare with ``--reference p4``);
  ``p4-ood-lag2000``: ``p4-ood`` with the scorers' labelled rows 2,000 stream texts late
  (``simulation.reference_lag``).
- ``p4-drift`` / ``p16-int8-drift`` / ``p4-ood-drift``: ``p4`` / ``p16-int8`` / ``p4-ood`` with
  ``scale.drift_at_scorers`` (the scorers test the candidates for embedding drift; compare
  with the variant without it: ``--reference p4``).
- ``p4-ood-w4`` / ``p4-drift-w4`` / ``p4-ood-drift-w4``: the same with 4 scorers
  (``simulation.scorers``), each calibrating its OOD threshold and drift test on its own
  quarter of the candidates, as 4 workers would.

Prints final accuracy and AUC (mean and standard deviation over seeds), each variant's
difference from ``central`` (mean of per-seed differences, and its spread), and the share of
stream texts that reached the coordinator.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmarks.suite import Config, load_set, settings_for
from stream_al.simulate.simulator import Simulation

VARIANTS: dict[str, dict] = {
    "central": {},
    "central-f16": {"scale": {"precision": "float16"}},
    "central-int8": {"scale": {"precision": "int8"}},
    "c16": {"simulation": {"partitions": 16}},
    "p1": {"scale": {"preselect": True}, "simulation": {"partitions": 1}},
    "p4": {"scale": {"preselect": True}, "simulation": {"partitions": 4}},
    "p16": {"scale": {"preselect": True}, "simulation": {"partitions": 16}},
    "p16-int8": {"scale": {"preselect": True, "precision": "int8"},
                 "simulation": {"partitions": 16}},
    "p16-int8-m8": {"scale": {"preselect": True, "precision": "int8", "candidate_multiple": 8.0},
                    "simulation": {"partitions": 16}},
    "p16-int8-merged": {"scale": {"preselect": True, "precision": "int8"},
                        "simulation": {"partitions": 16, "merge_records": True}},
    "p16-int8-d25": {"scale": {"preselect": True, "precision": "int8"},
                     "simulation": {"partitions": 16}, "drift": {"sample": 0.25}},
}
VARIANTS.update({  # scale.ood_at_scorers: the scorers check the candidates for OOD
    f"p{parts}-ood": {"scale": {"preselect": True, "ood_at_scorers": True},
                      "simulation": {"partitions": parts}} for parts in (1, 4, 16)})
VARIANTS["p4-ood-lag2000"] = {"scale": {"preselect": True, "ood_at_scorers": True},
                              "simulation": {"partitions": 4, "reference_lag": 2000}}
VARIANTS.update({  # scale.drift_at_scorers: the scorers test the candidates for embedding drift
    "p4-drift": {"scale": {"preselect": True, "drift_at_scorers": True},
                 "simulation": {"partitions": 4}},
    "p16-int8-drift": {"scale": {"preselect": True, "precision": "int8",
                                 "drift_at_scorers": True},
                       "simulation": {"partitions": 16}},
    "p4-ood-drift": {"scale": {"preselect": True, "ood_at_scorers": True,
                               "drift_at_scorers": True},
                     "simulation": {"partitions": 4}}})
VARIANTS.update({  # simulation.scorers: 4 scorers, each calibrating on its own candidates
    f"{name}-w4": {**VARIANTS[name], "simulation": {"partitions": 4, "scorers": 4}}
    for name in ("p4-ood", "p4-drift", "p4-ood-drift")})
VARIANTS.update({
    f"p4-f{round(floor * 10)}": {"scale": {"preselect": True, "candidate_floor": floor},
                                 "simulation": {"partitions": 4}}
    for floor in (0.3, 1.0)})
VARIANTS.update({
    f"p{parts}-m{multiple}": {"scale": {"preselect": True, "candidate_multiple": float(multiple)},
                              "simulation": {"partitions": parts}}
    for multiple in (2, 3) for parts in (1, 4, 16)})


def run_one(task: tuple[str, int, str, Config, float]) -> dict:
    from stream_al.runtime import limit_blas_threads

    limit_blas_threads()
    set_name, seed, variant, config, fraction = task
    data, X = load_set(set_name, config.embedder, config.max_rows)
    base = settings_for(config, seed, fraction)
    update = VARIANTS[variant]
    settings = base.model_copy(update={
        part: getattr(base, part).model_copy(update=values) for part, values in update.items()})
    started = time.process_time()
    sim = Simulation(data, X, settings)
    result = sim.run("default")
    replay = sim.last_replay
    return {"set": set_name, "seed": seed, "variant": variant,
            "accuracy": result.final_accuracy, "auc": result.auc,
            "labels": result.labels_used,
            "ood": replay.out.reasons.get("ood", 0) if replay else 0,
            "forwarded": replay.forwarded / sim.stream_length if replay else 1.0,
            "cpu_s": time.process_time() - started}


def report(rows: list[dict], variants: list[str], reference: str = "central") -> None:
    for set_name in dict.fromkeys(r["set"] for r in rows):
        print(f"\n{set_name}: final accuracy / AUC, mean ± sd over seeds; Δ vs {reference} "
              "(mean ± sd of per-seed differences); labels; OOD purchases; share of texts "
              "forwarded")
        central = {r["seed"]: r for r in rows if r["set"] == set_name and r["variant"] == reference}
        for v in variants:
            mine = [r for r in rows if r["set"] == set_name and r["variant"] == v]
            if not mine:
                continue
            acc = np.array([r["accuracy"] for r in mine])
            auc = np.array([r["auc"] for r in mine])
            d_acc = np.array([r["accuracy"] - central[r["seed"]]["accuracy"]
                              for r in mine if r["seed"] in central])
            d_auc = np.array([r["auc"] - central[r["seed"]]["auc"]
                              for r in mine if r["seed"] in central])
            print(f"  {v:13s} acc {acc.mean():.4f} ± {acc.std():.4f}  auc {auc.mean():.4f} ± "
                  f"{auc.std():.4f}  Δacc {d_acc.mean():+.4f} ± {d_acc.std():.4f}  "
                  f"Δauc {d_auc.mean():+.4f} ± {d_auc.std():.4f}  labels "
                  f"{np.mean([r['labels'] for r in mine]):.0f}  ood "
                  f"{np.mean([r.get('ood', 0) for r in mine]):.1f}  forwarded "
                  f"{np.mean([r['forwarded'] for r in mine]):.1%}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", default=["ag_news", "sst2", "banking77"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed ... + seeds - 1")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--budget", type=float, default=0.05)
    p.add_argument("--embedder", default="minilm", choices=("static", "minilm"))
    p.add_argument("--max-rows", type=int, default=3000)
    p.add_argument("--test-size", type=int, default=500)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--reference", default="central", help="the variant the others are "
                   "compared with, seed by seed")
    p.add_argument("--out", help="also append each run's row to this JSON-lines file as it ends")
    args = p.parse_args()
    config = Config(embedder=args.embedder, max_rows=args.max_rows, test_size=args.test_size,
                    checkpoints=20)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(s, seed, v, config, args.budget) for s in args.sets for seed in seeds
             for v in args.variants]
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(run_one, tasks):
            rows.append(row)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    report(rows, args.variants, args.reference)


if __name__ == "__main__":
    main()
