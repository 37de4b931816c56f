"""The development suite of issue 14: every stream-al strategy and every peer on the eight
development sets, at 1% and 5% budgets and at 200 labels, over seeds, in one command.

    python -m benchmarks.suite                         # everything: 8 sets, 5 seeds (hours)
    python -m benchmarks.suite --quick                 # 3 seeds, 2,000-row slices
    python -m benchmarks.suite --sets ag_news atis --seeds 5 --jobs 2

Per set and seed, on one split and one stream order (``stream_al.simulate.simulator.split``):
stream-al's strategies through ``Simulation(data, X, settings).run``, each peer of
:mod:`benchmarks.peers` with scikit-learn's and with stream-al's learner, the two all-labels
ceilings, and (at the smallest budget) the labels each of ``default`` and ``random`` bought
until the first label of the set's minority class, over ``--minority-seeds`` seeds.

Writes ``<out>/results.json`` (every run of every seed, with its learning curve), one
learning-curve figure per set (``benchmarks/figures/suite-<set>.png``), the tables between
the ``suite`` markers of ``benchmarks/README.md``, and prints the issue's targets as PASS or
FAIL lines. Embeddings come from ``~/.cache/stream-al`` (computed once if missing); sets
larger than ``--max-rows`` are cut to a seeded subset *after* embedding, so the cache holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import orjson

from benchmarks.peers.harness import (
    PEERS,
    Stream,
    make_peer,
    peers_for,
    run_peer,
    sklearn_ceiling,
)
from benchmarks.peers.learners import make_learner
from benchmarks.peers.measures import RunResult, from_simulation
from stream_al.config import EmbedderSettings, Settings
from stream_al.dataset import LabeledTexts, load_labeled
from stream_al.simulate.simulator import Simulation

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SETS = ("ag_news", "banking77", "sst2", "hwu64", "snips", "atis", "subj", "mr")
STRATEGIES = ("random", "uncertainty", "diverse", "bandit", "default")
LEARNERS = ("sklearn", "stream-al")
CACHE = Path.home() / ".cache" / "stream-al"
SLICE_SEED = 0
"""Seed of the subset kept from a set larger than ``--max-rows`` (the same for every run)."""
MINORITY_SHARE = 0.05
"""The minority class of a set: its rarest class holding at least this share of the rows."""
ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Config:
    """What every task of one suite run shares."""

    embedder: str = "minilm"
    budgets: tuple[float, ...] = (0.01, 0.05, 200)
    """Fractions of the stream (values up to 1) or label counts (above 1)."""
    max_rows: int = 20_000
    test_size: int = 2000
    checkpoints: int = 40
    strategies: tuple[str, ...] = STRATEGIES
    """stream-al's strategies to run (``suite_reach`` runs ``random`` and ``default`` only)."""
    peers: tuple[str, ...] | None = None
    """Peers as ``name+learner`` (e.g. ``breaking_ties+stream-al``); None: every peer that can
    run on the set, with each of :data:`LEARNERS`."""


@dataclass(frozen=True)
class Task:
    set_name: str
    seed: int
    config: Config
    minority_only: bool = False
    """Only ``default`` and ``random`` at the smallest budget (the extra minority seeds)."""


@dataclass
class TaskResult:
    set_name: str
    seed: int
    n_rows: int
    n_classes: int
    stream_length: int
    minority: str | None
    minority_only: bool = False
    ceilings: dict[str, float] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def budget_name(budget: float) -> str:
    return f"{budget:.0%}" if budget <= 1 else f"{int(budget)} labels"


def budget_fraction(budget: float, stream_length: int) -> float:
    fraction = budget if budget <= 1 else budget / stream_length
    if not 0 < fraction <= 1:
        raise ValueError(f"a budget of {budget_name(budget)} does not fit a stream of "
                         f"{stream_length} items; lower --budgets or raise --max-rows")
    return fraction


def load_set(name: str, embedder: str, max_rows: int) -> tuple[LabeledTexts, np.ndarray]:
    """The set's texts and embeddings (from the cache), cut to a seeded ``max_rows`` subset."""
    from stream_al.embed import make_embedder
    from stream_al.simulate.features import embed_dataset

    data = load_labeled(DATASETS / f"{name}.csv")
    X = cached_embeddings(data, embedder)
    if X is None:
        X = embed_dataset(make_embedder(EmbedderSettings(name=embedder)), data, CACHE)
    if len(data) <= max_rows:
        return data, X
    keep = slice_rows(len(data), max_rows)
    return subset(data, keep), X[keep]


def slice_rows(n_rows: int, max_rows: int) -> np.ndarray:
    """The rows :func:`load_set` keeps of a set of ``n_rows``: all, or a seeded subset
    (``SLICE_SEED``, the same for every run) in file order.

    >>> slice_rows(5, 10).tolist(), len(slice_rows(100, 10))
    ([0, 1, 2, 3, 4], 10)
    """
    if n_rows <= max_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(SLICE_SEED).permutation(n_rows)[:max_rows])


def subset(data: LabeledTexts, rows: np.ndarray) -> LabeledTexts:
    return LabeledTexts([data.texts[i] for i in rows], [data.labels[i] for i in rows],
                        data.source)


def cached_embeddings(data: LabeledTexts, embedder: str) -> np.ndarray | None:
    """The embeddings ``embed_dataset`` cached for ``data``, read without building the
    embedder (building MiniLM loads the model: seconds and memory per process)."""
    found = sorted((CACHE / "embeddings").glob(f"{data.fingerprint()}-{embedder}-*.npy"))
    for path in found:
        X = np.load(path)
        if len(X) == len(data):
            return X
    return None


def minority_class(labels: Sequence[str], share: float = MINORITY_SHARE) -> str | None:
    """The rarest class with at least ``share`` of the rows (None if no class has that much).

    >>> minority_class(["a"] * 90 + ["b"] * 6 + ["c"] * 4)
    'b'
    """
    names, counts = np.unique(np.asarray(labels, dtype=object), return_counts=True)
    big = [(c, str(n)) for n, c in zip(names, counts, strict=True) if c >= share * len(labels)]
    return min(big)[1] if big else None


def minority_budget(budgets: Sequence[float]) -> float:
    """The budget of the minority check: the smallest fraction (else the smallest count)."""
    fractions = [b for b in budgets if b <= 1]
    return min(fractions) if fractions else min(budgets)


def settings_for(config: Config, seed: int, fraction: float) -> Settings:
    return Settings.load(
        embedder={"name": config.embedder}, budget={"fraction": fraction},
        simulation={"test_size": config.test_size, "seed": seed,
                    "checkpoints": config.checkpoints},
        selection={"seed": seed}, learner={"seed": seed})


class RecordingSimulation(Simulation):
    """The simulator, also noting the classes of the items it bought, in buying order (for
    the minority check: :attr:`StrategyResult.bought` lists the stream rows)."""

    bought: list[str]

    def run(self, strategy: str, progress: object = None):  # noqa: ANN201 (the simulator's)
        result = super().run(strategy, progress)
        self.bought = [str(self.y[int(i)]) for i in result.bought]
        return result


def default_alias() -> str | None:
    """The strategy ``default`` stands for, if it is another of :data:`STRATEGIES`."""
    try:
        from stream_al.select.factory import DEFAULT_STRATEGY
    except ImportError:
        return None
    return DEFAULT_STRATEGY if DEFAULT_STRATEGY in STRATEGIES[:-1] else None


def stream_al_runs(data: LabeledTexts, X: np.ndarray, config: Config, seed: int,
                   fraction: float, strategies: Sequence[str]) -> tuple[list[RunResult], Simulation]:
    sim = RecordingSimulation(data, X, settings_for(config, seed, fraction))
    done: dict[str, RunResult] = {}
    alias = default_alias()
    for name in strategies:
        if name == "default" and alias in done:  # the same selector with the same seed
            done[name] = replace(done[alias], name="default")
            continue
        result = from_simulation(sim.run(name), sim.stream_length)
        result.bought = list(getattr(sim, "bought", []))
        done[name] = result
    return list(done.values()), sim


def peer_names(n_classes: int, chosen: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(peer, learner) pairs to run on a set of ``n_classes``: ``chosen`` (``name+learner``)
    or every pair, learner by learner; peers that cannot run on the set are left out.

    >>> peer_names(77, ["pal+sklearn", "breaking_ties+stream-al"])
    [('breaking_ties', 'stream-al')]
    >>> len(peer_names(4)), peer_names(4)[0]
    (14, ('random', 'sklearn'))
    """
    if chosen is None:
        chosen = [f"{p}+{learner}" for learner in LEARNERS for p in PEERS]
    pairs = [(c.partition("+")[0], c.partition("+")[2]) for c in chosen]
    for name, learner in pairs:
        if name not in PEERS or learner not in LEARNERS:
            raise ValueError(f"unknown peer {name}+{learner}: give name+learner with a name of "
                             f"{', '.join(PEERS)} and a learner of {', '.join(LEARNERS)}")
    possible = peers_for(n_classes)
    return [(name, learner) for name, learner in pairs if name in possible]


def peer_runs(stream: Stream, settings: Settings, fraction: float,
              chosen: Sequence[str] | None = None) -> list[RunResult]:
    sim = settings.simulation
    out = []
    for name, learner in peer_names(len(stream.classes), chosen):
        selector = make_peer(name, len(stream.classes), len(stream), fraction, sim.seed)
        model = make_learner(learner, stream.classes, stream.X.shape[1], settings.learner)
        out.append(run_peer(selector, model, stream, fraction, sim.label_delay,
                            sim.chunk_size, sim.checkpoints))
    return out


def run_task(task: Task) -> TaskResult:
    """One set and one seed: every budget, every strategy and peer, the ceilings."""
    from stream_al.runtime import limit_blas_threads

    limit_blas_threads()
    started = time.perf_counter()
    config = task.config
    data, X = load_set(task.set_name, config.embedder, config.max_rows)
    stream = Stream.of(X, data.labels, config.test_size, task.seed)
    minority = minority_class(data.labels)
    out = TaskResult(task.set_name, task.seed, len(data), len(stream.classes), len(stream),
                     minority, task.minority_only)
    budgets = [minority_budget(config.budgets)] if task.minority_only else config.budgets
    for budget in budgets:
        fraction = budget_fraction(budget, len(stream))
        strategies = ("random", "default") if task.minority_only else config.strategies
        runs, sim = stream_al_runs(data, X, config, task.seed, fraction, strategies)
        split = getattr(sim, "split", None)
        if split is not None and not np.array_equal(split.stream, stream.order):
            raise RuntimeError("the peers' stream order differs from the simulator's")
        if not task.minority_only:
            runs += peer_runs(stream, sim.settings, fraction, config.peers)
            if not out.ceilings:  # the same at every budget: computed once
                out.ceilings = {"stream-al": sim.all_labels_accuracy(),
                                "sklearn": sklearn_ceiling(stream, task.seed)}
        out.runs += [_as_row(r, budget, minority) for r in runs]
    out.seconds = time.perf_counter() - started
    return out


def _as_row(result: RunResult, budget: float, minority: str | None) -> dict:
    from benchmarks.peers.measures import labels_until_first

    name, _, learner = result.name.partition("+")
    return {
        "method": name, "learner": learner or "stream-al",
        "kind": "peer" if learner else "stream-al", "budget": budget,
        "labels_used": result.labels_used, "final_accuracy": round(result.final_accuracy, 5),
        "macro_f1": round(result.macro_f1, 5), "auc": round(result.auc, 5),
        "first_minority": (labels_until_first(result.bought, minority)
                           if minority and result.bought else None),
        "recorded_labels": len(result.bought),
        "curve": [[p.position, p.labels_used, round(p.accuracy, 4), round(p.macro_f1, 4)]
                  for p in result.curve],
    }


def tasks_for(sets: Sequence[str], seeds: int, minority_seeds: int, config: Config) -> list[Task]:
    main = [Task(s, k, config) for s in sets for k in range(seeds)]
    extra = [Task(s, k, config, minority_only=True) for s in sets
             for k in range(seeds, minority_seeds)]
    return main + extra


def earlier(out_path: Path) -> list[TaskResult]:
    """The tasks a previous (maybe interrupted) run with the same options finished."""
    if not out_path.exists():
        return []
    saved = orjson.loads(out_path.read_bytes())
    return [TaskResult(**t) for t in (saved["tasks"] if isinstance(saved, dict) else saved)]


def run_all(tasks: Sequence[Task], jobs: int, out_path: Path,
            done: list[TaskResult] | None = None) -> list[TaskResult]:
    done = list(done or [])
    have = {(t.set_name, t.seed, t.minority_only) for t in done}
    tasks = [t for t in tasks if (t.set_name, t.seed, t.minority_only) not in have]

    def finished(result: TaskResult) -> None:
        done.append(result)
        kind = "minority seed" if result.minority_only else "seed"
        print(f"  {result.set_name} {kind} {result.seed}: {result.seconds:.0f} s", flush=True)
        out_path.write_bytes(orjson.dumps([asdict(r) for r in done]))

    if jobs <= 1:
        for task in tasks:
            finished(run_task(task))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(run_task, tasks):
                finished(result)
    return done


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 5; quick 3)")
    p.add_argument("--budgets", type=float, nargs="+", default=None,
                   help="fractions (<= 1) or label counts (> 1); default 0.01 0.05 200")
    p.add_argument("--embedder", default="minilm", choices=("hashing", "static", "minilm"))
    p.add_argument("--jobs", type=int, default=1, help="processes (one task = one set, one seed)")
    p.add_argument("--quick", action="store_true",
                   help="3 seeds, 2,000-row slices, 500 held out: for development")
    p.add_argument("--max-rows", type=int, default=None, help="default 20,000 (quick 2,000)")
    p.add_argument("--test-size", type=int, default=None, help="default 2,000 (quick 500)")
    p.add_argument("--minority-seeds", type=int, default=None,
                   help="seeds for the minority-class check (default 20; quick: --seeds)")
    p.add_argument("--out", type=Path, default=Path("runs/suite"))
    p.add_argument("--resume", action="store_true",
                   help="keep the tasks <out>/results.json holds (same options!), run the rest")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild tables, figures and targets from <out>/results.json")
    p.add_argument("--figures", type=Path, default=ROOT / "figures")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md",
                   help="the README whose suite section is rewritten ('-': none)")
    args = p.parse_args(argv)
    args.seeds = args.seeds or (3 if args.quick else 5)
    args.max_rows = args.max_rows or (2000 if args.quick else 20_000)
    args.test_size = args.test_size or (500 if args.quick else 2000)
    args.minority_seeds = max(args.seeds, args.minority_seeds or (args.seeds if args.quick else 20))
    args.budgets = tuple(args.budgets or (0.01, 0.05, 200))
    return args


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """``--selection KEY=VALUE`` and ``--learner KEY=VALUE``: a variant of stream-al's
    settings for every run of a script (see :func:`apply_settings`)."""
    parser.add_argument("--selection", action="append", default=[], metavar="KEY=VALUE",
                        help="a selection setting for every run (repeatable), named in the rows")
    parser.add_argument("--learner", action="append", default=[], metavar="KEY=VALUE",
                        help="a learner setting for every run (repeatable), named in the rows")


def apply_settings(selection: Sequence[str], learner: Sequence[str]) -> str:
    """Set each ``KEY=VALUE`` as ``STREAM_AL_SELECTION__KEY`` / ``STREAM_AL_LEARNER__KEY`` for
    this process and the workers it starts (``Settings.load`` reads them); the variant's name.

    >>> import os
    >>> apply_settings(["explore=0.2"], ["cv_rule=nll"]), os.environ.pop("STREAM_AL_LEARNER__CV_RULE")
    ('explore=0.2,learner.cv_rule=nll', 'nll')
    >>> _ = os.environ.pop("STREAM_AL_SELECTION__EXPLORE")
    """
    import os

    for part, given in (("SELECTION", selection), ("LEARNER", learner)):
        for kv in given:
            key, sep, value = kv.partition("=")
            if not sep or not key:
                raise ValueError(f"a setting is KEY=VALUE (e.g. cv_rule=nll), got {kv!r}")
            os.environ[f"STREAM_AL_{part}__{key.upper()}"] = value
    return ",".join([*selection, *(f"learner.{kv}" for kv in learner)])


def set_up_process(module: str, argv: Sequence[str] | None) -> None:
    """A suite script's process: from the command line (``argv`` None), run again with the
    BLAS kernels pinned, so that stored rows reproduce; BLAS single-threaded."""
    from stream_al.runtime import limit_blas_threads, run_with_pinned_blas

    if argv is None:
        run_with_pinned_blas(module)
    limit_blas_threads()


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.suite_report import report

    set_up_process("benchmarks.suite", argv)
    args = parse_args(argv)
    if args.report_only:
        saved = orjson.loads((args.out / "results.json").read_bytes())
        if not isinstance(saved, dict):  # an interrupted run: the tasks it finished
            saved = {"tasks": saved, "meta": {"command": "(interrupted run)", "seeds": args.seeds,
                                              "config": asdict(Config(args.embedder, args.budgets,
                                                                      args.max_rows,
                                                                      args.test_size))}}
        report(saved["tasks"], saved["meta"], args.figures,
               None if str(args.readme) == "-" else args.readme)
        return 0
    config = Config(args.embedder, args.budgets, args.max_rows, args.test_size)
    for name in args.sets:  # embed once here (cached), not in every worker
        load_set(name, config.embedder, config.max_rows)
    tasks = tasks_for(args.sets, args.seeds, args.minority_seeds, config)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"suite: {len(args.sets)} sets, {args.seeds} seeds (+{args.minority_seeds - args.seeds}"
          f" minority seeds), budgets {', '.join(map(budget_name, args.budgets))}, "
          f"{config.embedder}, {len(tasks)} tasks on {args.jobs} process(es)", flush=True)
    started = time.perf_counter()
    resumed = earlier(args.out / "results.json") if args.resume else []
    results = run_all(tasks, args.jobs, args.out / "results.json", resumed)
    meta = {"command": "python -m benchmarks.suite " + " ".join(sys.argv[1:] if argv is None
                                                                 else argv),
            "config": asdict(config), "seeds": args.seeds,
            "minority_seeds": args.minority_seeds, "minutes": (time.perf_counter() - started) / 60}
    (args.out / "results.json").write_bytes(orjson.dumps(
        {"meta": meta, "tasks": [asdict(r) for r in results]}, option=orjson.OPT_INDENT_2))
    report(results, meta, args.figures, None if str(args.readme) == "-" else args.readme)
    print(f"wrote {args.out / 'results.json'}, figures in {args.figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
