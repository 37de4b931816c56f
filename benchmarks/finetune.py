"""Issue 14, item 3: does fine-tuning the encoder on the labels the active learner bought pay?

Per set and seed, on the suite's quick slice (2,000 rows, 500 held out: ``load_set``'s rows,
``stream_al.simulate.simulator.split``'s split), ``default`` and ``random`` each buy labels in
``Simulation(data, X, settings).run`` up to a label count; then, on the labels each bought:

- ``simulation``: the held-out accuracy and macro-F1 the simulation reports;
- ``frozen``: stream-al's learner (``OnlineLearner``, the simulation's learner settings)
  refitted from scratch on the bought rows' frozen MiniLM embeddings: the paired baseline;
- ``fine-tuned``: MiniLM fine-tuned on contrastive pairs of the bought texts
  (:mod:`stream_al.embed.contrastive`, SetFit's body step), the bought and held-out rows
  re-embedded with it, the same learner refitted on the same labels.

One JSON line per (set, seed, strategy, labels, variant), with the CPU seconds
(``getrusage``: every thread of the process) of the fine-tune and of the re-embedding::

    nice -n 10 python -m benchmarks.finetune --sets sst2 mr ag_news --seeds 3 \\
        --out benchmarks/results/issue14_ft14_screen.jsonl
    python -m benchmarks.finetune --report benchmarks/results/issue14_ft14_screen.jsonl

Only the slice is embedded (cached under ``~/.cache/stream-al`` by its fingerprint), not the
whole set as ``load_set`` does: the same rows, without embedding 69,000 SST-2 texts first.
torch runs on one thread with ``OMP_WAIT_POLICY=PASSIVE`` (two threads on the two shared
cores took as long per step; with spinning OpenMP threads a step took 12x longer).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics as st
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sklearn.metrics import accuracy_score, f1_score

from benchmarks.suite import (
    CACHE,
    DATASETS,
    SETS,
    Config,
    budget_fraction,
    set_up_process,
    settings_for,
    slice_rows,
    subset,
)
from benchmarks.suite_report import paired
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.embed.contrastive import FineTuneSettings, fine_tune
from stream_al.learn.online import OnlineLearner
from stream_al.simulate.simulator import Simulation

METHODS = ("random", "default")
QUICK = Config(embedder="minilm", max_rows=2000, test_size=500)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads (torch's too)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def load_slice(name: str, config: Config) -> tuple[LabeledTexts, np.ndarray]:
    """The suite's slice of ``name`` and its frozen MiniLM embeddings."""
    from stream_al.config import EmbedderSettings
    from stream_al.embed import make_embedder
    from stream_al.simulate.features import embed_dataset

    data = load_labeled(DATASETS / f"{name}.csv")
    data = subset(data, slice_rows(len(data), config.max_rows))
    embedder = make_embedder(EmbedderSettings(name="minilm"))
    return data, embed_dataset(embedder, data, CACHE)


def head_scores(sim: Simulation, X_train: np.ndarray, y_train: Sequence[str],
                X_test: np.ndarray) -> tuple[float, float]:
    """The simulation's learner, refitted from scratch on ``X_train``: held-out accuracy and
    macro-F1."""
    learner = OnlineLearner(X_train.shape[1], sim.settings.learner)
    learner.learn_many(np.asarray(X_train, dtype=np.float32), list(y_train))
    truth = sim.y[sim.split.test]
    pred = learner.snapshot().predict_many(np.asarray(X_test, dtype=np.float32))
    return float(accuracy_score(truth, pred)), float(f1_score(truth, pred, average="macro"))


def fine_tuned_embeddings(texts: Sequence[str], labels: Sequence[str], embed: Sequence[str],
                          settings: FineTuneSettings) -> tuple[np.ndarray, dict[str, float]]:
    """MiniLM fine-tuned on ``texts``/``labels``; the rows of ``embed`` embedded with it, and
    the cost of both steps."""
    from sentence_transformers import SentenceTransformer

    from stream_al.embed.minilm import minilm_model_path

    model = SentenceTransformer(str(minilm_model_path()), device="cpu")
    cpu, wall = cpu_seconds(), time.perf_counter()
    steps = fine_tune(model, texts, labels, settings)
    tune_cpu, tune_wall = cpu_seconds() - cpu, time.perf_counter() - wall
    cpu, wall = cpu_seconds(), time.perf_counter()
    X = model.encode(list(embed), batch_size=16, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
    cost = {"steps": steps, "finetune_cpu_s": round(tune_cpu, 2),
            "finetune_wall_s": round(tune_wall, 2), "reembedded": len(embed),
            "reembed_cpu_s": round(cpu_seconds() - cpu, 2),
            "reembed_wall_s": round(time.perf_counter() - wall, 2)}
    return X, cost


def run(name: str, seed: int, labels: int, data: LabeledTexts, X: np.ndarray,
        tune: FineTuneSettings, methods: Sequence[str] = METHODS) -> list[dict]:
    """One set, seed and label count: every variant of every method's bought labels."""
    fraction = budget_fraction(labels, len(data) - QUICK.test_size)
    sim = Simulation(data, X, settings_for(QUICK, seed, fraction))
    test = sim.split.test
    base = {"set": name, "seed": seed, "labels": labels, "commit": commit(),
            "load": round(os.getloadavg()[0], 2)}
    rows = []
    for method in methods:
        result = sim.run(method)
        bought = [int(i) for i in result.bought]
        y = [str(sim.y[i]) for i in bought]
        texts = [sim.texts[i] for i in bought]
        row = base | {"method": method, "bought": len(bought)}
        rows.append(row | {"variant": "simulation", "acc": result.final_accuracy,
                           "f1": result.macro_f1})
        acc, f1 = head_scores(sim, sim.X[bought], y, sim.X[test])
        rows.append(row | {"variant": "frozen", "acc": acc, "f1": f1})
        Z, cost = fine_tuned_embeddings(texts, y, texts + [sim.texts[i] for i in test],
                                        replace(tune, seed=seed))
        acc, f1 = head_scores(sim, Z[:len(bought)], y, Z[len(bought):])
        rows.append(row | cost | {"variant": "fine-tuned", "acc": acc, "f1": f1,
                                  "pairs_per_text": tune.pairs_per_text})
    return rows


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=Path(__file__).parent, check=False)
    return out.stdout.strip()



def report(rows: Sequence[dict]) -> list[str]:
    """Per set, label count and method: the variants' mean accuracy, the paired fine-tuned −
    frozen differences (points, mean ± sd over seeds); then default − random per variant, and
    the cost of one fine-tune."""
    at = {(r["set"], r["labels"], r["method"], r["seed"], r["variant"]): r for r in rows}
    cells = sorted({k[:3] for k in at}, key=lambda k: (k[0], k[1], k[2]))
    lines = ["| set | labels | method | seeds | simulation acc | frozen acc | fine-tuned acc "
             "| Δ acc (pts) | Δ macro-F1 (pts) | fine-tune CPU-s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        seeds = sorted(k[3] for k in at if k[:3] == cell and k[4] == "fine-tuned")
        if not seeds:
            continue
        v = {name: [at[cell + (s, name)] for s in seeds]
             for name in ("simulation", "frozen", "fine-tuned")}
        d_acc = [100 * (t["acc"] - f["acc"]) for t, f in zip(v["fine-tuned"], v["frozen"],
                                                               strict=True)]
        d_f1 = [100 * (t["f1"] - f["f1"]) for t, f in zip(v["fine-tuned"], v["frozen"],
                                                             strict=True)]
        mean = {name: st.mean(r["acc"] for r in rs) for name, rs in v.items()}
        lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {len(seeds)} "
                     f"| {mean['simulation']:.3f} | {mean['frozen']:.3f} "
                     f"| {mean['fine-tuned']:.3f} | {paired(d_acc)} | {paired(d_f1)} "
                     f"| {st.mean(r['finetune_cpu_s'] for r in v['fine-tuned']):.0f} |")
    lines += ["", "| set | labels | seeds | default − random, simulation | frozen | fine-tuned "
              "(pts) |", "|---|---|---|---|---|---|"]
    for name, labels in sorted({k[:2] for k in at}):
        seeds = sorted(s for (n, b, m, s, var) in at if (n, b, m, var) ==
                       (name, labels, "default", "fine-tuned")
                       and (n, b, "random", s, var) in at)
        if not seeds:
            continue
        gap = {var: [100 * (at[(name, labels, "default", s, var)]["acc"]
                            - at[(name, labels, "random", s, var)]["acc"]) for s in seeds]
               for var in ("simulation", "frozen", "fine-tuned")}
        lines.append(f"| {name} | {labels} | {len(seeds)} | {paired(gap['simulation'])} "
                     f"| {paired(gap['frozen'])} | {paired(gap['fine-tuned'])} |")
    return lines + cost_lines(rows)


def cost_lines(rows: Sequence[dict]) -> list[str]:
    """CPU seconds per 1,000 labels fine-tuned on, and per 1,000 texts re-embedded, per set."""
    lines = ["", "| set | fine-tunes | labels | steps | CPU-s per fine-tune | CPU-s per 1,000 "
             "labels | re-embed CPU-s per 1,000 texts |", "|---|---|---|---|---|---|---|"]
    tuned = [r for r in rows if r["variant"] == "fine-tuned"]
    for name in sorted({r["set"] for r in tuned}):
        rs = [r for r in tuned if r["set"] == name]
        lines.append(
            f"| {name} | {len(rs)} | {st.mean(r['bought'] for r in rs):.0f} "
            f"| {st.mean(r['steps'] for r in rs):.0f} "
            f"| {st.mean(r['finetune_cpu_s'] for r in rs):.0f} "
            f"| {1000 * sum(r['finetune_cpu_s'] for r in rs) / sum(r['bought'] for r in rs):.0f} "
            f"| {1000 * sum(r['reembed_cpu_s'] for r in rs) / sum(r['reembedded'] for r in rs):.1f}"
            f" |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    set_up_process("benchmarks.finetune", argv)
    from stream_al.embed.minilm import prepare_torch_environment

    prepare_torch_environment()  # before torch loads: passive OpenMP waits, hub offline
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", choices=SETS, default=["sst2", "mr", "ag_news"])
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    p.add_argument("--first-seed", dest="first_seed", type=int, default=0)
    p.add_argument("--labels", type=int, nargs="+", default=[200], help="label counts")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--pairs", type=int, default=FineTuneSettings.pairs_per_text,
                   help="contrastive pairs per bought text (even)")
    p.add_argument("--out", type=Path, default=Path("runs/finetune.jsonl"), help="appended to")
    p.add_argument("--report", type=Path, help="print the tables of this file and stop")
    args = p.parse_args(argv)
    if args.report:
        rows = [orjson.loads(line) for line in args.report.read_text().splitlines() if line]
        print("\n".join(report(rows)))
        return 0
    import torch

    torch.set_num_threads(1)
    tune = FineTuneSettings(pairs_per_text=args.pairs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("ab") as out:
        for name in args.sets:
            data, X = load_slice(name, QUICK)
            for seed in range(args.first_seed, args.seeds):
                for labels in args.labels:
                    for row in run(name, seed, labels, data, X, tune, args.methods):
                        out.write(orjson.dumps(row) + b"\n")
                        out.flush()
                        print(_brief(row), flush=True)
    return 0


def _brief(row: dict[str, Any]) -> str:
    cost = f" fine-tune {row['finetune_cpu_s']:.0f} CPU-s" if "finetune_cpu_s" in row else ""
    return (f"{row['set']} seed {row['seed']} {row['labels']} labels {row['method']} "
            f"{row['variant']}: acc {row['acc']:.3f} f1 {row['f1']:.3f}{cost}")


if __name__ == "__main__":
    sys.exit(main())
