"""Selection strategies on the development suite: accuracy, macro-F1, AUC and minority discovery.

Every strategy runs through the simulator (the same stage, learner and budget as the worker), on
the same split and embeddings per seed. Besides the final accuracy and macro-F1 and the area
under the learning curve, it records how many labels a strategy bought before the first label
of each minority class (a class of at least 5% of the stream, and at most a third of it): a
selector must find a rare class at least as fast as random does.

    python benchmarks/selection_suite.py --case atis:0.05 --case subj@13:0.02 --seeds 0,1,2
    python benchmarks/selection_suite.py --embedder static --case ag_news:0.01 --out r.jsonl
    python benchmarks/selection_suite.py --table r.jsonl        # the mean +- std table

A set name ``<name>@<pp>`` (e.g. ``subj@13``) is ``<name>`` with its second class
(alphabetical) subsampled, seed 0, to ``pp``% of the rows: a binary set with a rare positive.
``--rows`` caps a set at a seeded random slice (SST-2 has 69,170 rows). Results are JSON lines,
one per (set, budget, embedder, seed, strategy), appended to ``--out``.

``--text-weight w`` adds the text signals of :mod:`stream_al.score.linguistic` to every scored
batch (as a scorer would) and gives them weight ``w`` in the ``balanced`` strategy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.embed import make_embedder
from stream_al.runtime import limit_blas_threads
from stream_al.score.linguistic import TEXT_SCORERS, make_text_scorers, score_texts
from stream_al.select import stack
from stream_al.select.stage import SelectionStage
from stream_al.simulate.features import embed_dataset
from stream_al.simulate.simulator import Simulation

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MINORITY = (0.05, 1 / 3)
"""A class is a minority class of the stream when its share is in this range."""


class RecordingSimulation(Simulation):
    """A simulation that also records the classes of the items it bought, in buying order
    (:attr:`StrategyResult.bought` lists the stream rows)."""

    def run(self, strategy: str, progress=None):
        result = super().run(strategy, progress)
        self.bought_labels: list[str] = [str(self.y[int(i)]) for i in result.bought]
        return result


def with_text_signals(texts: list[str]) -> type[SelectionStage]:
    """A stage that adds the text signals to each batch it is given (ids are row numbers)."""

    class TextScoredStage(SelectionStage):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.text_scorers = make_text_scorers(list(TEXT_SCORERS))

        def select_many(self, batch, now=0.0, deadline_s=float("inf")):
            batch.scores.update(score_texts(self.text_scorers,
                                            [texts[int(i)] for i in batch.ids]))
            return super().select_many(batch, now, deadline_s)

    return TextScoredStage


def load_case(name: str, embedder_name: str, rows: int | None) -> tuple[LabeledTexts, np.ndarray]:
    """The set and its embeddings (cached); ``<name>@<pp>`` makes its second class rare."""
    base, _, share = name.partition("@")
    data = load_labeled(DATASETS / f"{base}.csv")
    settings = Settings.load(embedder={"name": embedder_name})
    X = embed_dataset(make_embedder(settings.embedder), data, settings.embedder.cache_dir)
    keep = np.arange(len(data))
    rng = np.random.default_rng(0)
    if share:
        labels = np.array(data.labels)
        rare = sorted(set(data.labels))[1]
        others = np.flatnonzero(labels != rare)
        n_rare = int(round(len(others) * int(share) / (100 - int(share))))
        keep = np.sort(np.r_[others, rng.permutation(np.flatnonzero(labels == rare))[:n_rare]])
    if rows is not None and rows < len(keep):
        keep = np.sort(rng.permutation(keep)[:rows])
    subset = LabeledTexts([data.texts[i] for i in keep], [data.labels[i] for i in keep],
                          data.source)
    return subset, X[keep]


def first_labels(bought: list[str], stream_labels: np.ndarray) -> dict[str, int | None]:
    """Labels bought up to and including the first of each minority class (None: never)."""
    classes, counts = np.unique(stream_labels, return_counts=True)
    share = counts / counts.sum()
    minority = [c for c, s in zip(classes.tolist(), share, strict=True)
                if MINORITY[0] <= s <= MINORITY[1]]
    return {c: (bought.index(c) + 1 if c in bought else None) for c in minority}


def run_case(name: str, budget: float, embedder: str, strategies: list[str], seeds: list[int],
             rows: int | None, test_size: int, out: Path, text_weight: float = 0.0,
             bandit_arms: list[str] | None = None, checkpoints: int = 20,
             selection: dict | None = None, tag: str = "") -> None:
    data, X = load_case(name, embedder, rows)
    requested = budget
    if budget > 1:  # a label count, as the suite's "200 labels"
        budget = budget / (len(data) - test_size)
    # every driver's stage comes from the stack builder: give it the text signals there
    stack.SelectionStage = with_text_signals(data.texts) if text_weight > 0 else SelectionStage
    for seed in seeds:
        settings = Settings.load(embedder={"name": embedder}, budget={"fraction": budget},
                                 simulation={"seed": seed, "test_size": test_size,
                                             "checkpoints": checkpoints},
                                 selection={"seed": seed, "text_weight": text_weight,
                                            **({"bandit_arms": bandit_arms} if bandit_arms
                                               else {}), **(selection or {})},
                                 learner={"seed": seed})
        sim = RecordingSimulation(data, X, settings)
        for strategy in strategies:
            t0 = time.perf_counter()
            r = sim.run(strategy)
            label = f"{strategy}+text{text_weight:g}" if text_weight > 0 else strategy
            if strategy == "bandit" and bandit_arms:
                label = f"bandit({'+'.join(bandit_arms)})"
            label += tag
            record = {"set": name, "budget": requested, "embedder": embedder, "seed": seed,
                      "strategy": label, **r.summary(),
                      "first": first_labels(sim.bought_labels, sim.y[sim.split.stream]),
                      "seconds": round(time.perf_counter() - t0, 2)}
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


def budget_name(budget: float) -> str:
    return f"{budget:.0%}" if budget <= 1 else f"{budget:.0f} labels"


def records(path: Path) -> list[dict]:
    """The results of a file, one per (embedder, set, budget, strategy, seed): the last kept."""
    keyed = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        keyed[(r["embedder"], r["set"], r["budget"], r["strategy"], r["seed"])] = r
    return list(keyed.values())


def table(path: Path, only: list[str] | None = None) -> str:
    """Mean +- std over seeds per (set, budget, embedder, strategy), and minority discovery
    (``only``: these strategies)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records(path):
        if only and r["strategy"] not in only:
            continue
        groups[(r["embedder"], r["set"], r["budget"], r["strategy"])].append(r)
    lines = ["| embedder | set | budget | strategy | seeds | labels | accuracy | macro-F1 | AUC |"
             " labels to a minority class's first label (mean / median; never found) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (emb, name, budget, strategy), rs in sorted(groups.items()):
        cells = [f"{np.mean([r[k] for r in rs]):.3f} ± {np.std([r[k] for r in rs]):.3f}"
                 for k in ("final_accuracy", "macro_f1", "auc")]
        firsts = [v for r in rs for v in r["first"].values()]
        found = [v for v in firsts if v is not None]
        minority = (f"{np.mean(found):.1f} / {np.median(found):.0f}; "
                    f"{len(firsts) - len(found)}/{len(firsts)}" if firsts else "–")
        lines.append(f"| {emb} | {name} | {budget_name(budget)} | {strategy} | {len(rs)} | "
                     f"{np.mean([r['labels_used'] for r in rs]):.0f} | {' | '.join(cells)} | "
                     f"{minority} |")
    return "\n".join(lines)


def comparison(path: Path, candidate: str = "balanced", old: str = "diverse",
               bandit: str = "bandit(balanced+uncertainty)") -> str:
    """Per (embedder, set, budget): the candidate against random and the old default (accuracy
    and AUC, mean over seeds), and the bandit against its best arm (with that arm's std)."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records(path):
        groups[(r["embedder"], r["set"], r["budget"])][r["strategy"]].append(r)

    def mean(rs: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in rs])) if rs else float("nan")

    lines = [f"| embedder | set | budget | {candidate} − random: accuracy / AUC / macro-F1 | "
             f"{candidate} − {old}: accuracy / AUC | {bandit} − best arm (arm's std) |",
             "|---|---|---|---|---|---|"]
    for (emb, name, budget), by in sorted(groups.items()):
        c, r, o = by[candidate], by["random"], by[old]
        arms = [a for a in bandit[bandit.find("(") + 1:-1].split("+") if by[a]]
        cell = "–"
        if by[bandit] and arms:
            best = max(arms, key=lambda a: mean(by[a], "final_accuracy"))
            cell = (f"{mean(by[bandit], 'final_accuracy') - mean(by[best], 'final_accuracy'):+.3f}"
                    f" ({best} ±{np.std([x['final_accuracy'] for x in by[best]]):.3f})")
        lines.append(
            f"| {emb} | {name} | {budget_name(budget)} | "
            f"{mean(c, 'final_accuracy') - mean(r, 'final_accuracy'):+.3f} / "
            f"{mean(c, 'auc') - mean(r, 'auc'):+.3f} / "
            f"{mean(c, 'macro_f1') - mean(r, 'macro_f1'):+.3f} | "
            f"{mean(c, 'final_accuracy') - mean(o, 'final_accuracy'):+.3f} / "
            f"{mean(c, 'auc') - mean(o, 'auc'):+.3f} | {cell} |")
    return "\n".join(lines)


def before_after(path: Path, before: str, after: str) -> str:
    """Per (set, budget): random, ``before`` and ``after`` (accuracy / AUC, mean +- std over
    seeds) and the differences in points; then the means over the cases."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records(path):
        groups[(r["embedder"], r["set"], r["budget"], r["strategy"])].append(r)
    names = ("random", before, after)
    lines = [f"| embedder | set | budget | {' | '.join(f'{n}: accuracy / AUC' for n in names)} | "
             f"{after} − random: acc / AUC (pts) | {after} − {before}: acc / AUC (pts) |",
             "|---|---|---|---|---|---|---|---|"]
    cases = sorted({k[:3] for k in groups if all(k[:3] + (n,) in groups for n in names)})
    diffs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for case in cases:
        m = {n: [np.array([r[k] for r in groups[case + (n,)]]) for k in ("final_accuracy", "auc")]
             for n in names}
        cells = [f"{a.mean():.3f} ± {a.std():.3f} / {u.mean():.3f} ± {u.std():.3f}"
                 for a, u in m.values()]
        d = {n: (100 * (m[n][0].mean() - m[o][0].mean()), 100 * (m[n][1].mean() - m[o][1].mean()))
             for n, o in ((after, "random"), (before, "random"), ("vs", None)) if o}
        d["vs"] = (100 * (m[after][0].mean() - m[before][0].mean()),
                   100 * (m[after][1].mean() - m[before][1].mean()))
        for n in (after, before):
            diffs[n].append(d[n])
        lines.append(f"| {case[0]} | {case[1]} | {budget_name(case[2])} | {' | '.join(cells)} | "
                     f"{d[after][0]:+.1f} / {d[after][1]:+.1f} | "
                     f"{d['vs'][0]:+.1f} / {d['vs'][1]:+.1f} |")
    for n, v in diffs.items():
        a = np.array(v)
        lines.append(f"\n{n} − random over the {len(a)} cases: accuracy {a[:, 0].mean():+.2f} pts, "
                     f"AUC {a[:, 1].mean():+.2f} pts; below random in accuracy on "
                     f"{int((a[:, 0] < 0).sum())}, in AUC on {int((a[:, 1] < 0).sum())}; at least "
                     f"random + 2 points in accuracy on {int((a[:, 0] >= 2).sum())}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="minilm", choices=["minilm", "static", "hashing"])
    parser.add_argument("--case", action="append", default=[], help="set:budget (repeatable)")
    parser.add_argument("--strategies", default="random,diverse,default,uncertainty,bandit")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", type=int, default=10_000, help="cap per set (seeded slice)")
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=Path("selection_suite.jsonl"))
    parser.add_argument("--text-weight", type=float, default=0.0)
    parser.add_argument("--bandit-arms", help="comma-separated arms of the bandit")
    parser.add_argument("--checkpoints", type=int, default=20,
                        help="points of the learning curve (the suite's: 40)")
    parser.add_argument("--selection", action="append", default=[], metavar="KEY=VALUE",
                        help="a selection setting for every run (repeatable); the strategy's "
                        "label gets [KEY=VALUE,...]")
    parser.add_argument("--label", default="", help="appended to each strategy's name in the "
                        "records (a variant's name)")
    parser.add_argument("--table", type=Path, help="print the table of a results file and exit")
    parser.add_argument("--compare", type=Path, help="print the comparison of a results file")
    parser.add_argument("--before-after", type=Path,
                        help="print random, --old and --candidate side by side from a results file")
    parser.add_argument("--only", help="--table: only these strategies (comma-separated)")
    parser.add_argument("--candidate", default="balanced", help="--compare: the strategy compared")
    parser.add_argument("--old", default="diverse", help="--compare: the strategy it replaces")
    args = parser.parse_args()
    if args.table:
        print(table(args.table, args.only.split(",") if args.only else None))
        return 0
    if args.before_after:
        print(before_after(args.before_after, args.old, args.candidate))
        return 0
    if args.compare:
        print(comparison(args.compare, args.candidate, args.old))
        return 0
    limit_blas_threads()
    seeds = [int(s) for s in args.seeds.split(",")]
    selection = dict(kv.split("=", 1) for kv in args.selection)
    tag = (f"[{','.join(args.selection)}]" if args.selection else "") + args.label
    for case in args.case:
        name, budget = case.split(":")
        run_case(name, float(budget), args.embedder, args.strategies.split(","), seeds,
                 args.rows, args.test_size, args.out, args.text_weight,
                 args.bandit_arms.split(",") if args.bandit_arms else None,
                 args.checkpoints, selection, tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
