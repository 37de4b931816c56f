"""``stream-al vendor``: a simulated labelling vendor that answers bought items from gold
labels."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from stream_al.cli.options import add_kafka, kafka_errors, load_settings


@kafka_errors
def run(args: argparse.Namespace) -> int:
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
    Vendor(load_settings(args).kafka, options).run()
    return 0


def _log_group_membership() -> None:
    """Warnings, and the consumer group's joins and partition assignments, on stderr: a
    vendor that receives nothing shows whether it ever got partitions."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("kafka.coordinator", "kafka.consumer.subscription_state"):
        logging.getLogger(name).setLevel(logging.INFO)


def add_parser(subparsers: Any) -> None:
    vendor = subparsers.add_parser("vendor", help="a simulated labelling vendor")
    add_kafka(vendor)
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
    vendor.set_defaults(func=run)
