"""The learner's ceiling and its few-label accuracy against scikit-learn's LogisticRegression.

Issue 14, item 3: on the same split and the same embeddings, stream-al's learner trained on
every label of the stream must reach scikit-learn's ``LogisticRegression`` with ``C`` chosen
by 5-fold cross-validation, and at few labels its regularisation must adapt to the labels.

    python benchmarks/learner_ceiling.py                          # all 8 sets, MiniLM + static
    python benchmarks/learner_ceiling.py --sets atis,subj --embedders static --seeds 3
    python benchmarks/learner_ceiling.py --refit-cost              # refit ms at 100/1k/10k labels
    python benchmarks/learner_ceiling.py --only all --no-before --learner cv_rule=nll  # a variant

Split: the simulator's (``split(n, test_size, seed=0)``); SST-2's stream is a seeded random
20,000 rows of it. Embeddings come from the simulator's cache (``~/.cache/stream-al``); a set
whose embeddings are not cached is skipped (``--embed`` computes them). Learners compared:

- ``before``: stream-al's learner with the old fixed ``l2=1e-3`` (``C=1000``);
- ``stream-al``: the learner as configured by default (``l2`` chosen by cross-validation);
- ``sk C=1``: ``LogisticRegression()``; ``sk CV``: ``LogisticRegressionCV`` over
  ``C`` in 10^-2..10^3 (11 values), 5 folds (fewer when a class has fewer labels).

All labels: the learner gets the stream in batches of 1,000 labels (warm-started refits, as
the worker would); few labels: a random subset (1% and 5% of the stream, and 200 labels) in
10 batches, 5 seeds, mean and standard deviation over seeds.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from stream_al.runtime import limit_blas_threads

limit_blas_threads()

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from stream_al.config import EmbedderSettings, LearnerSettings  # noqa: E402
from stream_al.dataset import LabeledTexts, load_labeled  # noqa: E402
from stream_al.embed import make_embedder  # noqa: E402
from stream_al.learn.online import OnlineLearner  # noqa: E402
from stream_al.simulate.features import embed_dataset  # noqa: E402
from stream_al.simulate.simulator import split  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = ["ag_news", "banking77", "sst2", "hwu64", "snips", "atis", "subj", "mr"]
CACHE = Path.home() / ".cache" / "stream-al"
DIMS = {"minilm": 384, "static": 256}
SK_CS = np.logspace(-2, 3, 11)
Scores = tuple[float, float, float]  # accuracy, macro-F1, seconds


def embeddings(name: str, embedder: str, compute: bool) -> tuple[LabeledTexts, np.ndarray] | None:
    data = load_labeled(DATASETS / f"{name}.csv")
    path = CACHE / "embeddings" / f"{data.fingerprint()}-{embedder}-{DIMS[embedder]}.npy"
    if not path.exists() and not compute:
        print(f"  {name}/{embedder}: embeddings not cached at {path}; skipped (--embed computes)")
        return None
    model = make_embedder(EmbedderSettings(name=embedder, cache_dir=CACHE))
    return data, embed_dataset(model, data, CACHE)


def scores(y_true: np.ndarray, y_pred: np.ndarray, seconds: float) -> Scores:
    return (float(accuracy_score(y_true, y_pred)),
            float(f1_score(y_true, y_pred, average="macro")), seconds)


def stream_al(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, batches: int,
              settings: LearnerSettings) -> tuple[Scores, float | None]:
    """The learner fed (X, y) in ``batches`` refits; its scores and its final ``l2``."""
    t0 = time.perf_counter()
    learner = OnlineLearner(X.shape[1], settings)
    for part in np.array_split(np.arange(len(y)), batches):
        learner.learn_many(X[part], list(y[part]))
    seconds = time.perf_counter() - t0
    pred = np.array(learner.snapshot().predict_many(Xt), dtype=object)
    return scores(yt, pred, seconds), learner.main.l2


def sklearn_lr(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray,
               cv: bool) -> tuple[Scores, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few members for a fold; lbfgs iteration limits
        if cv:
            folds = int(min(5, max(2, np.unique(y, return_counts=True)[1].min())))
            model = LogisticRegressionCV(Cs=SK_CS, cv=folds, max_iter=1000).fit(X, y)
            C = float(model.C_[0])
        else:
            model, C = LogisticRegression(max_iter=1000).fit(X, y), 1.0
    return scores(yt, model.predict(Xt), time.perf_counter() - t0), C


LEARNERS = {"before": LearnerSettings(l2=1e-3, committee_size=2),
            "stream-al": LearnerSettings(committee_size=2, l2=None)}  # l2 by cross-validation


def learners(variant: list[str], before: bool = True) -> dict[str, LearnerSettings]:
    """The learners compared: ``before`` (when asked), the default, and the default with the
    ``KEY=VALUE`` learner settings of ``variant`` (when given)."""
    chosen = {k: v for k, v in LEARNERS.items() if before or k != "before"}
    if variant:
        update = dict(kv.split("=", 1) for kv in variant)
        chosen[" ".join(variant)] = LearnerSettings.model_validate(
            LEARNERS["stream-al"].model_dump() | update)
    return chosen


def all_labels(name: str, emb: str, X: np.ndarray, y: np.ndarray, stream: np.ndarray,
               test: np.ndarray, compared: dict[str, LearnerSettings] = LEARNERS) -> None:
    Xs, ys, Xt, yt = X[stream], y[stream], X[test], y[test]
    row = [f"| {name} | {emb} | {len(stream)} "]
    for settings in compared.values():
        (acc, f1, sec), l2 = stream_al(Xs, ys, Xt, yt, max(1, len(stream) // 1000), settings)
        row.append(f"| {acc:.4f} | {f1:.4f} | {sec:.1f} s (C={1 / l2:.3g}) ")
    (acc, f1, sec), C = sklearn_lr(Xs, ys, Xt, yt, cv=True)
    row.append(f"| {acc:.4f} | {f1:.4f} | {sec:.1f} s (C={C:.3g}) |")
    print("".join(row), flush=True)


def few_labels(name: str, emb: str, X: np.ndarray, y: np.ndarray, stream: np.ndarray,
               test: np.ndarray, seeds: int,
               compared: dict[str, LearnerSettings] = LEARNERS) -> None:
    Xt, yt = X[test], y[test]
    for size_name, n in (("1%", len(stream) // 100), ("5%", len(stream) // 20), ("200", 200)):
        results: dict[str, list[tuple[float, float]]] = {}
        cs = []
        for seed in range(seeds):
            idx = np.random.default_rng(seed).choice(stream, n, replace=False)
            if len(set(y[idx])) < 2:
                continue
            Xs, ys = X[idx], y[idx]
            for label, settings in compared.items():
                (acc, f1, _), l2 = stream_al(Xs, ys, Xt, yt, 10, settings.model_copy(
                    update={"seed": seed}))
                results.setdefault(label, []).append((acc, f1))
                if label == "stream-al":
                    cs.append(1 / l2)
            for label, cv in (("sk C=1", False), ("sk CV", True)):
                (acc, f1, _), _ = sklearn_lr(Xs, ys, Xt, yt, cv)
                results.setdefault(label, []).append((acc, f1))
        cells = []
        for r in results.values():
            a = np.array(r)
            cells.append(f"{a[:, 0].mean():.3f}±{a[:, 0].std():.3f} / {a[:, 1].mean():.3f}")
        c_range = f"{min(cs):.3g}-{max(cs):.3g}" if cs else "-"
        print(f"| {name} | {emb} | {size_name} ({n}) | " + " | ".join(cells) + f" | {c_range} |",
              flush=True)


def refit_cost(X: np.ndarray, y: np.ndarray, sizes: list[int], repeats: int = 5) -> None:
    """Milliseconds of a refit after 10 more labels, at each memory size; with the default
    committee of 4, as the worker runs it."""
    print("\n| labels | learner | refit p50 ms | refit max ms | refit with an l2 search ms |")
    print("|---|---|---|---|---|")
    for n in sizes:
        for label, l2 in (("before (l2=1e-3)", 1e-3), ("stream-al (CV)", None)):
            learner = OnlineLearner(X.shape[1], LearnerSettings(l2=l2))
            learner.learn_many(X[:n], list(y[:n]))
            times = []
            for r in range(repeats):
                extra = slice(n + 10 * r, n + 10 * (r + 1))
                t0 = time.perf_counter()
                learner.learn_many(X[extra], list(y[extra]))
                times.append(1000 * (time.perf_counter() - t0))
            searching = "-"
            if (search := learner.main.search) is not None:  # a search, then the refit: the
                m = learner.main                             # refit that pays for a search
                extra = slice(n + 10 * repeats, n + 10 * (repeats + 1))
                t0 = time.perf_counter()
                search.choose(m.replay.X, m.replay.y, len(m.b), m.W, m.b)
                learner.learn_many(X[extra], list(y[extra]))
                searching = f"{1000 * (time.perf_counter() - t0):.0f}"
            print(f"| {n} | {label} | {np.median(times):.0f} | {max(times):.0f} | {searching} |",
                  flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--embedders", default="minilm,static")
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--stream-rows", type=int, default=20_000,
                   help="a longer stream (SST-2) is a seeded random subset of this many rows")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--only", choices=["all", "few"], default=None)
    p.add_argument("--embed", action="store_true", help="compute embeddings that are not cached")
    p.add_argument("--learner", action="append", default=[], metavar="KEY=VALUE",
                   help="also the default learner with this setting (repeatable), e.g. "
                   "cv_rule=nll")
    p.add_argument("--no-before", dest="before", action="store_false",
                   help="leave out the fixed l2=1e-3 learner")
    p.add_argument("--refit-cost", action="store_true",
                   help="only the refit cost, on banking77 with MiniLM (77 classes, 384 dims)")
    args = p.parse_args()
    if args.refit_cost:
        loaded = embeddings("banking77", "minilm", args.embed)
        if loaded is not None:
            data, X = loaded
            order = np.random.default_rng(0).permutation(len(data))
            refit_cost(X[order], np.array(data.labels, dtype=object)[order], [100, 1000, 10_000])
        return
    loaded_sets = []
    for emb in args.embedders.split(","):
        for name in args.sets.split(","):
            loaded = embeddings(name, emb, args.embed)
            if loaded is None:
                continue
            data, X = loaded
            sp = split(len(data), args.test_size, 0)
            stream = sp.stream
            if len(stream) > args.stream_rows:
                stream = np.random.default_rng(0).choice(stream, args.stream_rows, replace=False)
            loaded_sets.append((name, emb, X, np.array(data.labels, dtype=object), stream, sp.test))
    compared = learners(args.learner, args.before)
    if args.only != "few":
        print("\n## All labels (accuracy | macro-F1 | fit time, chosen C)\n")
        print("| set | embedder | labels | " + "".join(f"{k} acc | F1 | fit | " for k in compared)
              + "sk LR-CV acc | F1 | fit |")
        print("|---|---|---|" + "---|---|---|" * (len(compared) + 1))
        for case in loaded_sets:
            all_labels(*case, compared)
    if args.only != "all":
        print(f"\n## Few labels (accuracy mean±std / macro-F1 mean, {args.seeds} seeds)\n")
        print("| set | embedder | labels | " + " | ".join(compared)
              + " | sk C=1 | sk CV-C | stream-al C |")
        print("|---|---|---|" + "---|" * (len(compared) + 3))
        for case in loaded_sets:
            few_labels(*case, args.seeds, compared)


if __name__ == "__main__":
    main()
