"""``stream-al produce``: stream a CSV or JSON-lines file into the ``texts`` topic."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stream_al.cli.options import add_kafka, kafka_errors, load_settings


@kafka_errors
def run(args: argparse.Namespace) -> int:
    from stream_al.stream.produce import produce

    kafka = load_settings(args).kafka
    produce(kafka, Path(args.data), args.text_column, args.rate, args.limit, args.id_prefix)
    return 0


def add_parser(subparsers: Any) -> None:
    produce = subparsers.add_parser("produce", help="stream a CSV/JSONL file into the texts topic")
    add_kafka(produce)
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
    produce.set_defaults(func=run)
