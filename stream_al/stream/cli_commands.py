"""The Kafka sub-commands of ``stream-al``: ``worker``, ``produce`` and ``vendor``.

``stream_al.cli`` registers them with :func:`add_parsers`; ``python -m stream_al.stream`` runs
them on their own. Errors a user can fix are raised as :class:`CommandError` (a ValueError), so
both print one line, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stream_al.config import ConfigError, Settings


class CommandError(ValueError):
    """A command cannot run as asked; the message names the fix."""


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    kafka: dict[str, Any] = {}
    if args.bootstrap:
        kafka["bootstrap"] = args.bootstrap
    overrides: dict[str, Any] = {"kafka": kafka, **extra}
    return Settings.load(args.config, **{k: v for k, v in overrides.items() if v})


def _kafka_errors(fn):
    """Turn 'no broker' and friends into one line that says what to do."""

    def run(args: argparse.Namespace) -> int:
        from kafka.errors import KafkaError

        try:
            return fn(args)
        except KafkaError as e:
            if "bootstrap" in str(e).lower():
                bootstrap = args.bootstrap or "kafka.bootstrap"
                raise CommandError(
                    f"no Kafka broker answers at {bootstrap}; start one with "
                    f"`stream-al broker start` or pass --bootstrap HOST:PORT"
                ) from None
            raise CommandError(f"Kafka error: {e}") from None

    return run


@_kafka_errors
def _worker(args: argparse.Namespace) -> int:
    from stream_al.stream.worker import run_worker

    extra: dict[str, Any] = {}
    if args.embedder:
        extra["embedder"] = {"name": args.embedder}
    if args.budget is not None:
        extra["budget"] = {"fraction": args.budget}
    settings = _settings(args, **extra)
    if args.metrics_port is not None:
        settings.kafka.metrics_port = args.metrics_port
    if args.metrics_host is not None:
        settings.kafka.metrics_host = args.metrics_host
    return run_worker(settings, strategy=args.strategy, loglevel=args.loglevel)


@_kafka_errors
def _produce(args: argparse.Namespace) -> int:
    from stream_al.stream.produce import produce

    produce(
        _settings(args), Path(args.data), args.text_column, args.rate, args.limit, args.id_prefix
    )
    return 0


@_kafka_errors
def _vendor(args: argparse.Namespace) -> int:
    from stream_al.stream.vendor import Vendor, VendorOptions

    options = VendorOptions(
        gold=Path(args.gold),
        label_column=args.label_column,
        id_prefix=args.id_prefix,
        delay_s=args.delay,
        noise=args.noise,
        annotators=args.annotators,
        per_item=args.per_item,
        seed=args.seed,
        group=args.group,
        vendor=args.vendor,
        max_idle_s=args.max_idle,
        max_labels=args.max_labels,
    )
    _log_group_membership()
    Vendor(_settings(args), options).run()
    return 0


def _log_group_membership() -> None:
    """Warnings, and the consumer group's joins and partition assignments, on stderr: a
    vendor that receives nothing shows whether it ever got partitions."""
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("kafka.coordinator", "kafka.consumer.subscription_state"):
        logging.getLogger(name).setLevel(logging.INFO)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML settings file (topics, budget, ...)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap HOST:PORT (kafka.bootstrap)")


def add_parsers(subparsers: Any) -> None:
    """Register ``worker``, ``produce`` and ``vendor`` on an argparse sub-parser group."""
    from stream_al.embed import EMBEDDER_NAMES
    from stream_al.select.factory import STRATEGIES

    worker = subparsers.add_parser("worker", help="run the streaming agents (one worker)")
    _common(worker)
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
    worker.set_defaults(func=_worker)

    produce = subparsers.add_parser("produce", help="stream a CSV/JSONL file into the texts topic")
    _common(produce)
    produce.add_argument("--data", required=True, help="CSV or JSON-lines file")
    produce.add_argument("--text-column", dest="text_column", default="text")
    produce.add_argument(
        "--rate", type=float, default=0.0, help="texts per second (0: as fast as possible)"
    )
    produce.add_argument("--limit", type=int, help="stop after this many texts")
    produce.add_argument(
        "--id-prefix",
        dest="id_prefix",
        help="item ids are <prefix>-<row> (default: the file's stem)",
    )
    produce.set_defaults(func=_produce)

    vendor = subparsers.add_parser("vendor", help="a simulated labelling vendor")
    _common(vendor)
    vendor.add_argument("--gold", required=True, help="the file produced, with gold labels")
    vendor.add_argument("--label-column", dest="label_column", default="label")
    vendor.add_argument(
        "--id-prefix",
        dest="id_prefix",
        help="the producer's --id-prefix (default: the file's stem)",
    )
    vendor.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    vendor.add_argument(
        "--noise", type=float, default=0.0, help="probability of answering a wrong class"
    )
    vendor.add_argument(
        "--annotators", type=int, default=1,
        help="size of the annotator pool; an item asking for k labels (its 'annotators') gets "
        "min(k, pool): with annotation.gold_fraction or low_confidence, use a pool >= their k",
    )
    vendor.add_argument(
        "--per-item", dest="per_item", type=int, default=1, help="annotators answering each item"
    )
    vendor.add_argument("--seed", type=int, default=0)
    vendor.add_argument("--group", help="consumer group (default: <app_id>-vendor[-<vendor>])")
    vendor.add_argument("--vendor", help="secured cluster: this vendor's name (its user is "
                        "vendor-<name>); labels go to <labels>.<name>")
    vendor.add_argument(
        "--max-idle",
        dest="max_idle",
        type=float,
        help="exit after this many seconds with nothing to do",
    )
    vendor.add_argument(
        "--max-labels", dest="max_labels", type=int, help="exit after sending this many labels"
    )
    vendor.set_defaults(func=_vendor)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stream_al.stream worker|produce|vendor ...``"""
    from pydantic import ValidationError

    from stream_al.runtime import limit_blas_threads

    limit_blas_threads()
    parser = argparse.ArgumentParser(prog="stream-al", description=__doc__)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValidationError as e:
        detail = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        print(f"stream-al {args.command}: error: {detail}", file=sys.stderr)
    except (CommandError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"stream-al {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
