"""The ``stream-al`` command: simulate, demo, worker, produce, vendor, broker."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from stream_al.config import ConfigError, Settings

REPO_DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


class UsageError(ValueError):
    """A command-line value that cannot work; printed without a traceback."""


def _simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from stream_al.dataset import load_labeled
    from stream_al.embed import make_embedder
    from stream_al.select.factory import STRATEGIES
    from stream_al.simulate.features import embed_dataset
    from stream_al.simulate.report import write_report
    from stream_al.simulate.simulator import Simulation

    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise UsageError(f"unknown strategy {unknown}; choose from {', '.join(STRATEGIES)}")
    settings = Settings.load(args.config, **_overrides(args))
    sim = settings.simulation
    data = load_labeled(args.data, sim.text_column, sim.label_column)
    if sim.test_size >= len(data):
        raise UsageError(f"--test-size {sim.test_size} must be smaller than the {len(data)} rows")
    embedder = make_embedder(settings.embedder)
    bar_options = {"disable": not sys.stderr.isatty(), "mininterval": 0.5}
    with tqdm(total=len(data), desc=f"embed ({embedder.name})", unit="text", **bar_options) as bar:
        X = embed_dataset(embedder, data, settings.embedder.cache_dir, progress=bar.update)
    simulation = Simulation(data, X, settings)
    results = {}
    for name in strategies:
        with tqdm(total=simulation.stream_length, desc=f"stream ({name})", unit="item",
                  **bar_options) as bar:
            results[name] = simulation.run(name, progress=bar.update)
    ceiling = simulation.all_labels_accuracy()
    meta = {"data": str(args.data), "budget": settings.budget.fraction,
            "embedder": embedder.name, "seed": sim.seed, "label_delay": sim.label_delay,
            "test_size": sim.test_size, "stream_length": simulation.stream_length}
    report = write_report(Path(args.out), results, ceiling, meta)
    _print_table(report)
    print(f"wrote {args.out}/summary.json, curve.csv, learning_curve.png")
    return 0


def _print_table(report: dict) -> None:
    ceiling = report["all_labels_accuracy"]
    print(f"\n{'strategy':<14}{'labels':>8}{'accuracy':>10}{'macro_f1':>10}{'auc':>8}{'% of all':>10}")
    for name, r in report["strategies"].items():
        share = r["final_accuracy"] / ceiling if ceiling else 0.0
        print(f"{name:<14}{r['labels_used']:>8}{r['final_accuracy']:>10.4f}"
              f"{r['macro_f1']:>10.4f}{r['auc']:>8.4f}{share:>10.1%}")
    print(f"{'all labels':<14}{'':>8}{ceiling:>10.4f}")


def _overrides(args: argparse.Namespace) -> dict:
    out: dict = {"simulation": {}, "budget": {}, "embedder": {}, "selection": {}, "learner": {}}
    if args.budget is not None:
        out["budget"]["fraction"] = args.budget
    if args.embedder:
        out["embedder"]["name"] = args.embedder
    if args.seed is not None:
        for part in ("simulation", "selection", "learner"):
            out[part]["seed"] = args.seed
    for name in ("test_size", "label_delay", "text_column", "label_column", "checkpoints"):
        value = getattr(args, name, None)
        if value is not None:
            out["simulation"][name] = value
    return {k: v for k, v in out.items() if v}


def _broker(args: argparse.Namespace) -> int:
    return subprocess.call(["bash", str(REPO_DEPLOY / "kafka.sh"), args.action])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stream-al", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="replay a labelled dataset as a stream")
    sim.add_argument("--data", required=True, help="CSV (text,label) or JSONL file")
    sim.add_argument("--budget", type=float, help="fraction of the stream to label, in (0, 1]")
    sim.add_argument("--strategy", default="default,random",
                     help="comma-separated strategies (default,random,uncertainty,diverse,bandit)")
    sim.add_argument("--embedder", choices=["minilm", "static", "hashing"])
    sim.add_argument("--seed", type=int)
    sim.add_argument("--test-size", type=int, dest="test_size")
    sim.add_argument("--label-delay", type=int, dest="label_delay",
                     help="stream items between buying a label and receiving it")
    sim.add_argument("--checkpoints", type=int)
    sim.add_argument("--text-column", dest="text_column")
    sim.add_argument("--label-column", dest="label_column")
    sim.add_argument("--config", help="YAML settings file")
    sim.add_argument("--out", default="runs/simulation", help="output directory")
    sim.set_defaults(func=_simulate)

    broker = sub.add_parser("broker", help="the local Kafka broker for development")
    broker.add_argument("action", choices=["start", "stop", "status", "restart", "reset"])
    broker.set_defaults(func=_broker)

    from stream_al.demo import add_parser as add_demo
    from stream_al.registry.cli import add_parsers as add_registry_commands
    from stream_al.stream.cli_commands import add_parsers as add_stream_commands
    from stream_al.stream.label_export import add_parsers as add_label_commands

    add_stream_commands(sub)
    add_registry_commands(sub)
    add_label_commands(sub)
    add_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stream_al.runtime import limit_blas_threads

    limit_blas_threads()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"stream-al {args.command}: error: {_message(e)}", file=sys.stderr)
        return 2


def _message(e: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
    return str(e)


if __name__ == "__main__":
    sys.exit(main())
