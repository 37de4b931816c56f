"""``stream-al worker``: one worker of the streaming pipeline (scorer, and coordinator when it
holds the control partition)."""

from __future__ import annotations

import argparse
from typing import Any

from stream_al.cli.options import add_kafka, kafka_errors, load_settings
from stream_al.config import Settings


@kafka_errors
def run(args: argparse.Namespace) -> int:
    from stream_al.stream.worker import run_worker

    return run_worker(settings_of(args), strategy=args.strategy, loglevel=args.loglevel)


def settings_of(args: argparse.Namespace) -> Settings:
    """The worker's settings: its flags over the environment over the config file."""
    kafka: dict[str, Any] = {}
    if args.metrics_port is not None:
        kafka["metrics_port"] = args.metrics_port
    if args.metrics_host is not None:
        kafka["metrics_host"] = args.metrics_host
    return load_settings(
        args,
        kafka=kafka,
        embedder={"name": args.embedder} if args.embedder else {},
        budget={"fraction": args.budget} if args.budget is not None else {},
    )


def add_parser(subparsers: Any) -> None:
    from stream_al.embed import EMBEDDER_NAMES
    from stream_al.select.factory import STRATEGIES

    worker = subparsers.add_parser("worker", help="run the streaming agents (one worker)")
    add_kafka(worker)
    worker.add_argument("--embedder", choices=EMBEDDER_NAMES)
    worker.add_argument("--strategy", choices=STRATEGIES)
    worker.add_argument("--budget", type=float, help="fraction of the stream to label, in (0, 1]")
    worker.add_argument(
        "--metrics-port", type=int, dest="metrics_port", help="Prometheus port (0: any free port)"
    )
    worker.add_argument("--metrics-host", dest="metrics_host",
                        help="address /metrics binds to (default 127.0.0.1; 0.0.0.0: every "
                        "interface, e.g. for a Prometheus in another container)")
    worker.add_argument(
        "--loglevel", default="warning", choices=["debug", "info", "warning", "error"]
    )
    worker.set_defaults(func=run)
