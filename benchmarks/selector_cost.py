"""Selection cost per item: stream-al's selectors against scikit-activeml's stream strategies
and river's ``active.EntropySampler``, on the same embeddings, in one run.

Every method sees the same stream: real texts embedded once by the static embedder, a model
of each library's own kind fitted on the same first ``--train`` labelled items and then kept
fixed (the cost measured is that of deciding, not of learning), and a 5% budget where the
method takes one. Costs are wall-clock microseconds per stream item, one thread, including the
class probabilities each method needs (its model's inference), in each library's own fast
path: stream-al in batches of ``kafka.batch_max`` items, scikit-activeml with all candidates
of a batch per ``query`` call, river one item at a time (its API).

stream-al's whole path is ``score_many`` (the five models' scores, as the scorers compute
them) and ``SelectionStage.select_many`` (what ``Coordinator.on_scored`` calls: budget,
novelty, selector, outstanding items). Novelty is computed for a whole batch only when the
selector reads it (none does by default), and otherwise for the items bought. stream-al is
also measured without inference ("scores given": the selector on scores the scorers already
computed, which is what the coordinator does in the pipeline).

    python -m benchmarks.selector_cost                 # SST-2, 20,000 items
    python -m benchmarks.selector_cost --data ../shared/datasets/ag_news.csv --n 7000

scikit-activeml is optional (``pip install scikit-activeml``); without it only river is
compared.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.broker import DATASETS, load_average, read_rows
from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.learn.online import OnlineLearner
from stream_al.runtime import limit_blas_threads
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.budget import Budget
from stream_al.select.factory import make_selector
from stream_al.select.stage import SelectionStage

BUDGET = 0.05
STREAM_AL = ("diverse", "uncertainty", "random", "bandit")


@dataclass
class Cost:
    library: str
    method: str
    items: int
    seconds: float
    labelled: int
    note: str = ""

    @property
    def us_per_item(self) -> float:
        return self.seconds / self.items * 1e6


def stream_al_costs(X: np.ndarray, y: list[str], train: int, batch: int) -> list[Cost]:
    settings = Settings.load(budget={"fraction": BUDGET})
    learner = OnlineLearner(X.shape[1], settings.learner)
    learner.learn_many(X[:train], y[:train])
    snapshot = learner.snapshot()
    stream = X[train:]
    ids = [f"item-{i}" for i in range(len(stream))]
    out = []
    for name in STREAM_AL:
        stage = SelectionStage(settings.selection, settings.budget, X.shape[1], name)
        stage.set_model(snapshot)
        started, labelled = time.perf_counter(), 0
        for s in range(0, len(stream), batch):
            rows = stream[s:s + batch]
            scored = ScoredBatch(ids[s:s + batch], rows, score_many(snapshot, rows))
            labelled += len(stage.select_many(scored))
        out.append(Cost("stream-al", name, len(stream), time.perf_counter() - started, labelled,
                        "scoring + stage (novelty of bought items) + selector"))
    scores = [score_many(snapshot, stream[s:s + batch]) for s in range(0, len(stream), batch)]
    for name in STREAM_AL:
        # the rescorer reservoirs use
        stage = SelectionStage(settings.selection, settings.budget, X.shape[1], name)
        stage.set_model(snapshot)
        selector = make_selector(name, settings.selection, settings.budget, rescorer=stage)
        budget = Budget(BUDGET)
        started, labelled = time.perf_counter(), 0
        for k, s in enumerate(range(0, len(stream), batch)):
            scored = ScoredBatch(ids[s:s + batch], stream[s:s + batch], dict(scores[k]))
            budget.observe(len(scored))
            labelled += len(selector.select_many(scored, budget))
        out.append(Cost("stream-al", name, len(stream), time.perf_counter() - started, labelled,
                        "scores given (selector only)"))
    return out


def skactiveml_costs(X: np.ndarray, y: list[str], train: int, batch: int) -> list[Cost]:
    try:
        from skactiveml.classifier import ParzenWindowClassifier, SklearnClassifier
        from skactiveml.stream import Split, StreamProbabilisticAL, VariableUncertainty
    except ImportError:
        print("scikit-activeml is not installed (pip install scikit-activeml): skipped")
        return []
    from sklearn.linear_model import LogisticRegression

    _GivenProba = _given_proba_class()  # noqa: N806 (a class, built once scikit-activeml loads)

    names = sorted(set(y))  # integer classes: scikit-activeml marks missing labels with NaN
    codes = np.array([names.index(label) for label in y[:train]])
    classes = list(range(len(names)))
    logistic = SklearnClassifier(LogisticRegression(max_iter=200), classes=classes,
                                 random_state=0).fit(X[:train], codes)
    parzen = ParzenWindowClassifier(classes=classes, random_state=0).fit(X[:train], codes)
    stream = X[train:]
    cases: list[tuple[str, Callable[[], object], object, str]] = [
        ("VariableUncertainty", lambda: VariableUncertainty(budget=BUDGET, random_state=0),
         logistic, "logistic regression"),
        ("Split", lambda: Split(budget=BUDGET, random_state=0), logistic, "logistic regression"),
        ("StreamProbabilisticAL", lambda: StreamProbabilisticAL(budget=BUDGET, random_state=0),
         parzen, "Parzen window (what PAL needs)"),
    ]
    given = _GivenProba(LogisticRegression(max_iter=200), classes=classes, random_state=0).fit(
        X[:train], codes)
    probas = [logistic.predict_proba(stream[s:s + batch]) for s in range(0, len(stream), batch)]
    cases += [(name, make, given, "probabilities given (strategy only)")
              for name, make, _, _ in cases[:2]]
    out = []
    for name, make, clf, note in cases:
        strategy = make()
        started, labelled = time.perf_counter(), 0
        for k, s in enumerate(range(0, len(stream), batch)):
            candidates = stream[s:s + batch]
            if clf is given:
                given.proba = probas[k]
            queried, utilities = strategy.query(candidates, clf, return_utilities=True)
            strategy.update(candidates, queried, budget_manager_param_dict=(
                {"utilities": utilities} if name == "StreamProbabilisticAL" else None))
            labelled += len(queried)
        out.append(Cost("scikit-activeml", name, len(stream), time.perf_counter() - started,
                        labelled, note))
    return out


def _given_proba_class() -> type:
    from skactiveml.classifier import SklearnClassifier

    class GivenProba(SklearnClassifier):
        """A fitted classifier whose ``predict_proba`` returns the batch's precomputed
        probabilities, to time a strategy without its model's inference."""

        proba: np.ndarray

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return self.proba

    return GivenProba


def river_costs(X: np.ndarray, y: list[str], train: int) -> list[Cost]:
    from river import active, linear_model, multiclass

    def features(row: np.ndarray) -> dict[int, float]:
        return dict(enumerate(row.tolist()))

    model = active.EntropySampler(
        multiclass.OneVsRestClassifier(linear_model.LogisticRegression()), seed=0)
    for row, label in zip(X[:train], y[:train], strict=True):
        model.learn_one(features(row), label)
    stream = X[train:]
    started, labelled = time.perf_counter(), 0
    for row in stream:
        _, ask = model.predict_one(features(row))
        labelled += int(ask)
    return [Cost("river", "active.EntropySampler", len(stream), time.perf_counter() - started,
                 labelled, "one-vs-rest logistic regression, one item at a time")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASETS / "sst2.csv")
    parser.add_argument("--n", type=int, default=20_000, help="stream items (after --train)")
    parser.add_argument("--train", type=int, default=500, help="labelled items fitted first")
    parser.add_argument("--batch", type=int, default=Settings().kafka.batch_max)
    parser.add_argument("--no-river", action="store_true")
    args = parser.parse_args()
    limit_blas_threads()
    texts, labels = read_rows(args.data, args.n + args.train)
    embedder = make_embedder(Settings().embedder)
    X = embedder.embed(texts)
    print(f"{args.data.name}: {len(X) - args.train} stream items, {X.shape[1]} dims "
          f"({embedder.name}), models fitted on {args.train}, budget {BUDGET:.0%}; "
          f"load average {load_average()}", flush=True)
    costs = stream_al_costs(X, labels, args.train, args.batch)
    costs += skactiveml_costs(X, labels, args.train, args.batch)
    if not args.no_river:
        costs += river_costs(X, labels, args.train)
    print(f"\n{'library':<16}{'method':<23}{'us/item':>9}{'labelled':>10}  what is timed")
    for c in costs:
        print(f"{c.library:<16}{c.method:<23}{c.us_per_item:>9.1f}{c.labelled:>10}  {c.note}")
    def cost(library: str, method: str, what: str) -> float | None:
        found = [c.us_per_item for c in costs
                 if c.library == library and c.method == method and c.note.startswith(what)]
        return found[0] if found else None

    default = cost("stream-al", "diverse", "scoring")
    peers = [c for c in costs if c.library != "stream-al" and "given" not in c.note]
    cheaper = [f"{c.library} {c.method}" for c in peers if c.us_per_item < (default or 0)]
    print(f"\nstream-al's default path (diverse, all scores, stage): {default:.1f} us/item; "
          f"peers cheaper on their whole path: {', '.join(cheaper) or 'none'}")
    ours, theirs = cost("stream-al", "uncertainty", "scores"), cost(
        "scikit-activeml", "VariableUncertainty", "probabilities")
    if ours is not None and theirs is not None:
        print(f"same rule (Zliobaite et al.'s variable uncertainty) on given probabilities: "
              f"stream-al {ours:.2f} us/item, scikit-activeml {theirs:.2f} us/item")
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
