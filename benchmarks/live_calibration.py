"""Temperature scaling as the worker does it: held-out ECE and NLL with and without it.

Runs the Kafka worker's coordinator core (``stream_al/loop/coordinator.py``, with the
governance of ``stream_al/loop/governing.py``) on AG News without a broker: scored batches
as the scorers make them, labels for what it buys coming back ``--delay`` batches later, as a
vendor would send them. At checkpoints it scores a held-out split with the model the worker
would publish (its adopted temperature) and with the same weights at temperature 1.

    python benchmarks/live_calibration.py                       # bandit and random, 3 seeds
    python benchmarks/live_calibration.py --strategies bandit --seeds 0 --items 4000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from stream_al.calibration import expected_calibration_error, negative_log_likelihood
from stream_al.config import Settings
from stream_al.dataset import load_labeled
from stream_al.embed import make_embedder
from stream_al.loop.coordinator import Coordinator
from stream_al.runtime import limit_blas_threads
from stream_al.score.batch import score_many
from stream_al.simulate.features import embed_dataset
from stream_al.stream import conversion
from stream_al.stream.messages import LabelIn, LabelsRecord, ScoredBatchRecord

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def held_out(c: Coordinator, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ECE and NLL of the published model (its temperature) and of the same weights at T=1."""
    snapshot = c.learner.snapshot()
    col = {k: i for i, k in enumerate(snapshot.classes)}
    known = np.array([v in col for v in y])
    Z, t = snapshot.logits_many(X[known]), np.array([col[v] for v in y[known]])
    out = {"T": snapshot.temperature}
    for name, temp in (("raw", 1.0), ("scaled", snapshot.temperature)):
        proba = snapshot.with_temperature(temp).predict_proba_many(X[known])
        out[f"ece_{name}"] = expected_calibration_error(proba, t)
        out[f"nll_{name}"] = negative_log_likelihood(Z, t, temp)
    return out


def run(strategy: str, seed: int, X: np.ndarray, texts: list[str], labels: np.ndarray,
        args: argparse.Namespace, embedder) -> list[tuple[int, int, dict[str, float]]]:
    settings = Settings.load(embedder={"name": args.embedder}, budget={"fraction": args.budget},
                             selection={"strategy": strategy, "seed": seed},
                             learner={"seed": seed}, annotation={"learn_from": "labels"})
    c = Coordinator(settings, embedder.dim, embedder, strategy)
    order = np.random.default_rng(seed).permutation(len(texts))
    test, stream = order[: args.test], order[args.test : args.test + args.items]
    pending: list[tuple[int, list[str]]] = []
    rows, offset, out = [], 0, []
    for b, start in enumerate(range(0, len(stream), args.batch)):
        idx = stream[start : start + args.batch]
        snapshot = c.learner.snapshot()
        record = ScoredBatchRecord.of(f"b{b}", [f"r-{i}" for i in idx], [texts[i] for i in idx],
                                      X[idx], score_many(snapshot, X[idx]), snapshot.version,
                                      np.ones(len(idx)), 0.0)
        offset += 1
        bought = c.on_scored(conversion.scored_texts(record), offset, now=float(b))
        pending.append((b + args.delay, [s.item_id for s in bought]))
        due = [i for at, ids in pending if at <= b for i in ids]
        pending = [(at, ids) for at, ids in pending if at > b]
        if due:
            offset += 1
            answers = [LabelIn(schema_version=1, item_id=i, annotator_id="vendor",
                               timestamp=float(b), label=str(labels[int(i[2:])])) for i in due]
            c.on_labels(conversion.labels_of(LabelsRecord(
                schema_version=1, labels=answers, received_at=[float(b)] * len(answers))),
                offset, float(b))
            rows += due
        if (start + args.batch) % args.every == 0:
            out.append((start + args.batch, len(rows), held_out(c, X[test], labels[test])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="static", choices=["minilm", "static", "hashing"])
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--strategies", default="bandit,random")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--test", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--delay", type=int, default=2, help="batches before a label returns")
    parser.add_argument("--every", type=int, default=2000, help="items between checkpoints")
    args = parser.parse_args()
    limit_blas_threads()
    data = load_labeled(DATASETS / "ag_news.csv")
    settings = Settings.load(embedder={"name": args.embedder})
    embedder = make_embedder(settings.embedder)
    X = embed_dataset(embedder, data, settings.embedder.cache_dir)
    labels = np.asarray(data.labels, dtype=object)
    print(f"# AG News, {args.items} stream items, budget {args.budget:.0%}, {args.embedder}; "
          f"held-out {args.test}; label delay {args.delay} batches of {args.batch}")
    print(f"{'strategy':>9}{'seed':>5}{'items':>7}{'labels':>7}{'T':>7}{'ECE raw':>9}"
          f"{'ECE T':>8}{'NLL raw':>9}{'NLL T':>8}")
    t0 = time.perf_counter()
    for strategy in args.strategies.split(","):
        finals = []
        for seed in (int(s) for s in args.seeds.split(",")):
            for items, n, f in run(strategy, seed, X, data.texts, labels, args, embedder):
                print(f"{strategy:>9}{seed:>5}{items:>7}{n:>7}{f['T']:>7.2f}{f['ece_raw']:>9.4f}"
                      f"{f['ece_scaled']:>8.4f}{f['nll_raw']:>9.4f}{f['nll_scaled']:>8.4f}")
            finals.append(f)
        mean = {k: float(np.mean([f[k] for f in finals])) for k in finals[0]}
        print(f"{strategy:>9} mean of final models: T {mean['T']:.2f}, ECE {mean['ece_raw']:.4f}"
              f" -> {mean['ece_scaled']:.4f}, NLL {mean['nll_raw']:.4f} -> {mean['nll_scaled']:.4f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
