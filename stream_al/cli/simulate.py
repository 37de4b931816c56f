"""``stream-al simulate``: replay a labelled dataset as a stream, one run per strategy, and
write the learning curves (:func:`stream_al.simulate.comparison.compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stream_al.cli.errors import CommandError
from stream_al.cli.options import add_config, load_settings


def run(args: argparse.Namespace) -> int:
    from stream_al.select.factory import STRATEGIES
    from stream_al.simulate.comparison import compare
    from stream_al.simulate.report import files_written

    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise CommandError(f"unknown strategy {unknown}; choose from {', '.join(STRATEGIES)}")
    settings = load_settings(args, **_flags(args))
    report = compare(settings, Path(args.data), strategies, Path(args.out))
    print_table(report)
    print(f"wrote {args.out}/{files_written()}")
    return 0


def print_table(report: dict) -> None:
    ceiling = report["all_labels_accuracy"]
    print(f"\n{'strategy':<14}{'labels':>8}{'accuracy':>10}{'macro_f1':>10}{'auc':>8}{'% of all':>10}")
    for name, r in report["strategies"].items():
        share = r["final_accuracy"] / ceiling if ceiling else 0.0
        print(f"{name:<14}{r['labels_used']:>8}{r['final_accuracy']:>10.4f}"
              f"{r['macro_f1']:>10.4f}{r['auc']:>8.4f}{share:>10.1%}")
    print(f"{'all labels':<14}{'':>8}{ceiling:>10.4f}")


def _flags(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "simulation": {}, "budget": {}, "embedder": {}, "selection": {}, "learner": {}
    }
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
    return out


def add_parser(subparsers: Any) -> None:
    from stream_al.embed import EMBEDDER_NAMES

    sim = subparsers.add_parser("simulate", help="replay a labelled dataset as a stream")
    sim.add_argument("--data", required=True, help="CSV (text,label) or JSONL file")
    sim.add_argument("--budget", type=float, help="fraction of the stream to label, in (0, 1]")
    sim.add_argument("--strategy", default="default,random",
                     help="comma-separated strategies (default,random,uncertainty,diverse,bandit)")
    sim.add_argument("--embedder", choices=EMBEDDER_NAMES)
    sim.add_argument("--seed", type=int)
    sim.add_argument("--test-size", type=int, dest="test_size")
    sim.add_argument("--label-delay", type=int, dest="label_delay",
                     help="stream items between buying a label and receiving it")
    sim.add_argument("--checkpoints", type=int)
    sim.add_argument("--text-column", dest="text_column")
    sim.add_argument("--label-column", dest="label_column")
    add_config(sim)
    sim.add_argument("--out", default="runs/simulation", help="output directory")
    sim.set_defaults(func=run)
