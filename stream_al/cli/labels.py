"""``stream-al labels export | export-batch | import``: the labelled dataset and vendors
without Kafka.

``export`` rebuilds the labelled dataset from the ``selected`` and ``labels`` topics and writes
it as a versioned snapshot (:mod:`stream_al.labels.export`); ``export-batch`` writes selected
items to CSV/JSONL for a vendor and ``import`` sends the vendor's answers to the ``labels``
topic (:mod:`stream_al.stream.exchanging`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_al.cli.errors import CommandError
from stream_al.cli.options import add_kafka, kafka_errors, load_settings
from stream_al.config import KafkaSettings

if TYPE_CHECKING:
    from stream_al.stream.exchanging import ImportReport


@kafka_errors
def _export(args: argparse.Namespace) -> int:
    from stream_al.labels.export import write_snapshot
    from stream_al.stream.label_export import rebuild_from_topic

    k = load_settings(args).kafka
    snapshot = rebuild_from_topic(
        k.bootstrap,
        k.topics.labels,
        k.topics.selected,
        label_policy=k.label_policy,
        label_classes=k.label_classes,
    )
    path = write_snapshot(
        snapshot,
        Path(args.out),
        bootstrap=k.bootstrap,
        labels_topic=k.topics.labels,
        selected_topic=k.topics.selected,
        label_policy=k.label_policy,
    )
    print(
        f"{path}: {len(snapshot)} labels of {snapshot.n_items} items, "
        f"classes {snapshot.classes}, content_hash {snapshot.content_hash}"
    )
    return 0


def _kafka(args: argparse.Namespace) -> KafkaSettings:
    return load_settings(args).kafka


@kafka_errors
def _export_batch(args: argparse.Namespace) -> int:
    from stream_al.stream.exchanging import BatchFilter, export_from_topic

    wanted = BatchFilter(args.batch_id or (), _time(args.since), _time(args.until), args.open)
    items = export_from_topic(_kafka(args), Path(args.out), wanted)
    batches = sorted({x.batch_id for x in items})
    k = sum(x.annotators for x in items)
    print(f"{args.out}: {len(items)} items of {len(batches)} batches, {k} labels asked for; "
          f"earliest deadline {min(x.deadline for x in items):.0f} (epoch seconds)")
    return 0


@kafka_errors
def _import(args: argparse.Namespace) -> int:
    from stream_al.stream.exchanging import import_to_topic

    report = import_to_topic(_kafka(args), Path(args.file), annotator=args.annotator,
                             timestamp=_time(args.timestamp), partial=args.partial,
                             dry_run=args.dry_run)
    for line in _report_lines(report):
        print(line)
    bad = report.result.errors or report.conflicts
    return 1 if bad and not args.partial else 0


def _report_lines(report: ImportReport) -> list[str]:
    r = report.result
    lines = [f"error: {e}" for e in r.errors]
    lines += [f"conflict: item {x.item_id} annotator {x.annotator_id}: {x.label!r} but "
              f"{there!r} is already on the labels topic (the first answer counts)"
              for x, there in report.conflicts]
    verb = "would be sent (dry run)" if report.dry_run else "sent"
    lines.append(f"{len(report.sent)} labels {verb}; {len(report.already)} already on the topic; "
                 f"{len(r.errors)} bad rows; {len(report.conflicts)} conflicts; "
                 f"{len(r.unanswered)} rows without a label")
    if (r.errors or report.conflicts) and not report.sent:
        lines.append("nothing was imported: fix the rows above, or pass --partial to send the "
                     "good rows")
    return lines


def _time(value: str | None) -> float | None:
    from stream_al.stream.vendor_files import epoch_seconds

    if value is None:
        return None
    try:
        return epoch_seconds(value)
    except ValueError as e:
        raise CommandError(str(e)) from None


def add_parser(subparsers: Any) -> None:
    """Register ``labels export``, ``export-batch`` and ``import``."""
    labels = subparsers.add_parser("labels", help="the labelled dataset: export, vendor files")
    commands = labels.add_subparsers(dest="labels_command", required=True)
    export = commands.add_parser(
        "export",
        help="rebuild the labelled dataset from the topics; write it as a versioned snapshot",
    )
    export.add_argument("--out", required=True, help="directory of snapshots (v0001, v0002, ...)")
    add_kafka(export)
    export.set_defaults(func=_export)

    out = commands.add_parser("export-batch", help="selected items to CSV/JSONL for a vendor")
    out.add_argument("--out", required=True, help="file to write: .csv or .jsonl")
    out.add_argument("--batch-id", dest="batch_id", action="append",
                     help="a batch to export (repeat for several; default: all)")
    out.add_argument("--since", help="bought at or after (epoch seconds or ISO 8601)")
    out.add_argument("--until", help="bought at or before (epoch seconds or ISO 8601)")
    out.add_argument("--open", action="store_true",
                     help="only items with fewer labels than they asked for")
    add_kafka(out)
    out.set_defaults(func=_export_batch)

    imp = commands.add_parser("import", help="a vendor's CSV/JSONL answers to the labels topic")
    imp.add_argument("file", help="the answered file (.csv or .jsonl)")
    imp.add_argument("--annotator", help="annotator_id for rows that leave it blank")
    imp.add_argument("--timestamp", help="timestamp for rows that leave it blank")
    imp.add_argument("--partial", action="store_true",
                     help="send the good rows even if some are bad (they are still listed)")
    imp.add_argument("--dry-run", dest="dry_run", action="store_true",
                     help="validate and report, send nothing")
    add_kafka(imp)
    imp.set_defaults(func=_import)
