"""The ``labels export`` command: the labelled dataset rebuilt from the topics alone.

Reads the ``selected`` and ``labels`` topics to their ends, keeps what the coordinator would
keep (:func:`stream_al.labels.export.admitted_rows`) and writes it as a versioned snapshot
(:func:`stream_al.labels.export.write_snapshot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stream_al.config import KafkaSettings
from stream_al.labels.export import LabeledSnapshot, SnapshotError, admitted_rows, write_snapshot
from stream_al.stream.messages import LabelIn, SelectedItem, parse
from stream_al.stream.rebuild import read_topic


def rebuild_from_topic(
    bootstrap: str,
    labels_topic: str,
    selected_topic: str,
    *,
    label_policy: str = "accept_new_class",
    label_classes: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> LabeledSnapshot:
    """The labelled dataset from the topics alone: every record of ``selected_topic`` (texts)
    and ``labels_topic`` up to their ends now, through :func:`admitted_rows`. Unreadable
    records are skipped, as the coordinator skips them."""
    kafka = KafkaSettings(bootstrap=bootstrap, app_id="stream-al-labels-export")

    def records(topic: str, model: type) -> list[Any]:
        parsed = (parse(model, r.value) for r in read_topic(kafka, topic, timeout_s=timeout_s))
        return [p for p in parsed if isinstance(p, model)]

    selected = records(selected_topic, SelectedItem)
    labels = records(labels_topic, LabelIn)
    return admitted_rows(selected, labels, label_policy, label_classes)


def _export(args: Any) -> int:
    from kafka.errors import KafkaError

    from stream_al.config import Settings

    overrides = {"kafka": {"bootstrap": args.bootstrap}} if args.bootstrap else {}
    k = Settings.load(args.config, **overrides).kafka
    try:
        snapshot = rebuild_from_topic(
            k.bootstrap,
            k.topics.labels,
            k.topics.selected,
            label_policy=k.label_policy,
            label_classes=k.label_classes,
        )
    except KafkaError as e:  # one line that says what to do, as the other Kafka commands
        if "bootstrap" not in str(e).lower():
            raise SnapshotError(f"Kafka error: {e}") from None
        raise SnapshotError(
            f"no Kafka broker answers at {k.bootstrap}; start one with `stream-al broker start` "
            f"or pass --bootstrap HOST:PORT"
        ) from None
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


def add_parsers(subparsers: Any) -> None:
    """Register ``labels export``, ``export-batch`` and ``import`` on a sub-parser group."""
    labels = subparsers.add_parser("labels", help="the labelled dataset")
    commands = labels.add_subparsers(dest="labels_command", required=True)
    export = commands.add_parser(
        "export",
        help="rebuild the labelled dataset from the topics; write it as a versioned snapshot",
    )
    export.add_argument("--out", required=True, help="directory of snapshots (v0001, v0002, ...)")
    export.add_argument("--config", help="YAML settings file (topics, label policy, ...)")
    export.add_argument("--bootstrap", help="Kafka bootstrap HOST:PORT (kafka.bootstrap)")
    export.set_defaults(func=_export)

    from stream_al.stream.exchanging import add_parsers as add_exchange_commands

    add_exchange_commands(commands)  # export-batch, import: files for vendors without Kafka
