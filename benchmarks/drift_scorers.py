"""The embedding drift test at W scorers: alarm delay, missed drifts, false alarms (issue 17).

``scale.drift_at_scorers``: each scorer sums random Fourier features of its candidates per
block and the coordinator tests the whole stream from the sums (stream_al/drift/forwarded.py;
until 2026-12-06 each scorer ran its own test on its own candidates, whose windows spanned W
times as much of the stream). This replays real drifting streams through the simulator's loop
(:class:`~stream_al.simulate.drift_scenario.DriftScenario`, 4 partitions pre-selecting) with
the coordinator's own kernel test (``coord``: the exact kernel; ``rff``: through 64 random
Fourier frequencies, ``drift.frequencies``) and with the test of the sums at W = 1, 2, 4
scorers (``simulation.scorers``), and prints per stream and variant, over seeds:

- the delay in stream texts from the change to the first embedding alarm (``embedding_mmd``)
  and to the first alarm of any detector (the uncertainty and error tests stay at the
  coordinator), median and range, and the drifts missed;
- alarms before the change, and alarms on a stationary control of the same length (the same
  rows' pool shuffled), per 100,000 stream texts;
- final accuracy and the mean accuracy over the 2,000 texts after the change, paired by seed
  against the coordinator's test.

Streams (real texts only):

- ``ag_news``: World and Sports, then Business and Sci/Tech emerge (drift_recovery.py's);
- ``banking77-snips``: Banking77 queries, then SNIPS assistant commands (a domain switch);
- ``sst2-ag_news``: SST-2 movie reviews, then AG News (a domain switch).

    nice -n 10 python benchmarks/drift_scorers.py --stream banking77-snips --seeds 0,1,2,3,4 \
        --variants coord,w1,w2,w4 --jsonl benchmarks/results/issue17_drift_scorers.jsonl
    python benchmarks/drift_scorers.py --summary benchmarks/results/issue17_drift_scorers.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.drift_scenario import (
    DriftScenario,
    ScenarioResult,
    ShiftStream,
    emerging_classes,
    stationary,
)
from stream_al.simulate.features import embed_dataset

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
VARIANTS = {"coord": (False, 1, 0), "rff": (False, 1, 64), "w1": (True, 1, 0), "w2": (True, 2, 0),
            "w4": (True, 4, 0)}
"""variant: (scale.drift_at_scorers, simulation.scorers, drift.frequencies). ``coord``: the
coordinator's test with the exact kernel; ``rff``: the same test through 64 random Fourier
frequencies (stream_al/drift/fourier_mmd.py)."""
EMBEDDING = "embedding_mmd"


def switch_streams(n_first: int, n_all: int, shift_at: int, length: int, test: int,
                   seed: int) -> tuple[ShiftStream, ShiftStream]:
    """Rows ``[0, n_first)`` (one dataset) until ``shift_at``, then rows after them (another).

    ``test`` rows of each dataset are held out; accuracy before the change is on the first's,
    after it on the second's. The control is both pools shuffled together, ``length`` long."""
    rng = np.random.default_rng(seed)
    a = rng.permutation(n_first)
    b = rng.permutation(np.arange(n_first, n_all))
    test_a, pool_a = a[:test], a[test:]
    test_b, pool_b = b[:test], b[test:]
    if len(pool_a) < shift_at or len(pool_b) < length - shift_at:
        raise ValueError("the datasets are too short for this shift and length")
    order = np.concatenate([pool_a[:shift_at], pool_b[: length - shift_at]])
    drift = ShiftStream(order, shift_at, test_a, test_b, "first dataset, then the second")
    calm = rng.permutation(np.concatenate([pool_a, pool_b]))[:length]
    both = np.concatenate([test_a, test_b])
    return drift, ShiftStream(calm, len(calm), both, both, "both shuffled: no shift")


def load(stream: str) -> tuple[LabeledTexts, int]:
    """The stream's data (two datasets joined, labels prefixed) and the first one's rows."""
    if stream == "ag_news":
        data = load_labeled(DATASETS / "ag_news.csv")
        return data, len(data)
    first, second = stream.split("-")
    a, b = load_labeled(DATASETS / f"{first}.csv"), load_labeled(DATASETS / f"{second}.csv")
    data = LabeledTexts(a.texts + b.texts, [f"{first}:{y}" for y in a.labels]
                        + [f"{second}:{y}" for y in b.labels], stream)
    return data, len(a)


def settings(args: argparse.Namespace, variant: str, seed: int) -> Settings:
    at_scorers, scorers, frequencies = VARIANTS[variant]
    return Settings.load(embedder={"name": "static"}, budget={"fraction": args.budget},
                         selection={"seed": seed}, learner={"seed": seed},
                         drift={"seed": seed, "max_credit": args.max_credit,
                                "frequencies": frequencies},
                         scale={"preselect": True, "precision": args.precision,
                                "drift_at_scorers": at_scorers},
                         simulation={"partitions": args.partitions, "scorers": scorers})


def first_at_or_after(r: ScenarioResult, detector: str | None) -> int | None:
    after = [a.position - r.shift_at for a in r.alarms
             if a.position >= r.shift_at and (detector is None or a.detector == detector)]
    return min(after) if after else None


def run(args: argparse.Namespace) -> None:
    data, n_first = load(args.stream)
    embedder = Settings.load(embedder={"name": "static"}).embedder
    X = embed_dataset(make_embedder(embedder), data, embedder.cache_dir)
    out = open(args.jsonl, "a")  # noqa: SIM115
    for seed in [int(s) for s in args.seeds.split(",")]:
        if args.stream == "ag_news":
            drift = emerging_classes(data.labels, ["World", "Sports"], args.shift_at,
                                     args.length, seed=seed)
            calm = stationary(data.labels, args.length, seed=seed)
        else:
            drift, calm = switch_streams(n_first, len(data), args.shift_at, args.length, args.test, seed)
        for variant in args.variants.split(","):
            s = settings(args, variant, seed)
            t0 = time.perf_counter()
            r = DriftScenario(data.labels, X, s, drift).run("default", respond=True)
            c = DriftScenario(data.labels, X, s, calm).run("default", respond=True)
            row = {
                "stream": args.stream, "variant": variant, "seed": seed,
                "shift_at": args.shift_at, "length": len(drift.order),
                "control_length": len(calm.order), "budget": args.budget,
                "partitions": args.partitions,
                "delay_embedding": first_at_or_after(r, EMBEDDING),
                "delay_any": first_at_or_after(r, None),
                "first_detector": next((a.detector for a in r.alarms
                                        if a.position >= r.shift_at), None),
                "before": [[a.detector, a.position] for a in r.alarms if a.position < r.shift_at],
                "alarms": [[a.detector, a.position] for a in r.alarms],
                "control": [[a.detector, a.position] for a in c.alarms],
                "final": r.final_accuracy, "auc2000": r.recovery_auc(2000),
                "labels": r.labels_used, "control_final": c.final_accuracy,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{args.stream} {variant} seed {seed}: delay emb {row['delay_embedding']} "
                  f"any {row['delay_any']} ({row['first_detector']}), before "
                  f"{len(row['before'])}, control {len(row['control'])}, final "
                  f"{row['final']:.4f}, auc2000 {row['auc2000']:.4f} ({row['seconds']} s)",
                  flush=True)
    out.close()


def span(values: list[int | None]) -> str:
    got = sorted(v for v in values if v is not None)
    missed = len(values) - len(got)
    if not got:
        return f"never ({missed} missed)"
    return (f"{np.median(got):.0f} ({got[0]}-{got[-1]})"
            + (f", {missed} missed" if missed else ""))


def summary(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]  # noqa: SIM115
    for stream in dict.fromkeys(r["stream"] for r in rows):
        mine = [r for r in rows if r["stream"] == stream]
        ref = {r["seed"]: r for r in mine if r["variant"] == "coord"}
        r0 = mine[0]
        print(f"\n## {stream}: change at {r0['shift_at']} of {r0['length']} stream texts, "
              f"{r0['partitions']} partitions, budget {r0['budget']:.0%}")
        print("| variant | seeds | delay, embedding alarm | delay, any alarm | embedding alarms after the change, per run "
              "| alarms before the change | control: embedding / any alarms per 100k | final acc | "
              "Δfinal vs coord, per seed | auc2000 | Δauc2000 vs coord |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for variant in VARIANTS:
            vs = sorted((r for r in mine if r["variant"] == variant), key=lambda r: r["seed"])
            if not vs:
                continue
            texts = sum(r["control_length"] for r in vs)
            emb = sum(d == EMBEDDING for r in vs for d, _ in r["control"])
            anyc = sum(len(r["control"]) for r in vs)
            before = sum(len(r["before"]) for r in vs)
            after = np.mean([sum(d == EMBEDDING and p >= r["shift_at"] for d, p in r["alarms"])
                             for r in vs])
            fin = [r["final"] for r in vs]
            auc = [r["auc2000"] for r in vs]
            paired = [r for r in vs if r["seed"] in ref]
            dfin = [r["final"] - ref[r["seed"]]["final"] for r in paired]
            dauc = [r["auc2000"] - ref[r["seed"]]["auc2000"] for r in paired]
            print(f"| {variant} | {len(vs)} | {span([r['delay_embedding'] for r in vs])} | "
                  f"{span([r['delay_any'] for r in vs])} | {after:.1f} | {before} | "
                  f"{emb / texts * 1e5:.1f} / {anyc / texts * 1e5:.1f} ({emb}/{anyc} in "
                  f"{texts:,}) | {np.mean(fin):.4f} ± {np.std(fin, ddof=1) if len(fin) > 1 else 0:.4f}"
                  f" | {np.mean(dfin):+.4f} ({min(dfin):+.4f}..{max(dfin):+.4f}) | "
                  f"{np.mean(auc):.4f} | {np.mean(dauc):+.4f} ({min(dauc):+.4f}..{max(dauc):+.4f}) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", default="banking77-snips",
                        choices=["ag_news", "banking77-snips", "sst2-ag_news"])
    parser.add_argument("--variants", default="coord,w1,w2,w4")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--shift-at", type=int, default=10_000, dest="shift_at")
    parser.add_argument("--length", type=int, default=16_000)
    parser.add_argument("--test", type=int, default=1000, help="held-out rows per dataset")
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--precision", default="int8", choices=("float32", "float16", "int8"))
    parser.add_argument("--max-credit", type=float, default=20.0, dest="max_credit")
    parser.add_argument("--jsonl", default="runs/drift_scorers.jsonl")
    parser.add_argument("--summary", help="print the tables of this jsonl and stop")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return 0
    limit_blas_threads()
    Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
