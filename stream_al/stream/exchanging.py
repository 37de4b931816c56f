"""Selected items out to files and vendors' answers back in: vendors without Kafka.

The Kafka side of ``stream-al labels export-batch`` and ``stream-al labels import``
(``stream_al/cli/labels.py``).

``export-batch`` reads the ``selected`` topic (every item once, by ``item_id``), keeps the
items of the given batches and/or bought in a time range (the records' broker timestamps),
optionally only those still short of the labels they asked for, and writes them as CSV or
JSON lines (:mod:`stream_al.stream.vendor_files`). ``import`` reads the vendor's answers back,
validates every row as a :class:`LabelIn`, and sends the good ones to the ``labels`` topic:

- all or nothing by default: if any row is bad, every bad row is printed with its line number
  and nothing is sent (``--partial`` sends the good rows and still lists the bad ones);
- idempotent: a (item, annotator) already on the ``labels`` topic is not sent again (the
  workers would ignore it anyway: the first answer wins), so importing a file twice sends
  nothing the second time; an answer that differs from the one on the topic is reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stream_al.config import KafkaSettings
from stream_al.errors import StreamAlError
from stream_al.stream.messages import LabelIn, SelectedItem, parse
from stream_al.stream.rebuild import read_topic
from stream_al.stream.vendor_files import ImportResult, RowError, export_batch, import_labels


class ExchangeCommandError(StreamAlError, ValueError):
    """The command cannot run as asked; the message names the fix."""


@dataclass(frozen=True)
class BatchFilter:
    """Which selected items to export: all the conditions given must hold."""

    batch_ids: Collection[str] = ()
    since: float | None = None
    until: float | None = None
    open_only: bool = False


@dataclass
class ImportReport:
    result: ImportResult
    sent: list[LabelIn] = field(default_factory=list)
    already: list[LabelIn] = field(default_factory=list)
    conflicts: list[tuple[LabelIn, str]] = field(default_factory=list)
    dry_run: bool = False


# ---- pure parts ---------------------------------------------------------------------------------
def chosen_items(records: Iterable[tuple[SelectedItem, float]], labels: Iterable[LabelIn],
                 wanted: BatchFilter) -> list[SelectedItem]:
    """Selected items (with their broker time, epoch seconds) that pass ``wanted``, each once."""
    answered: dict[str, set[str]] = {}
    for label in labels:
        answered.setdefault(label.item_id, set()).add(label.annotator_id)
    out: dict[str, SelectedItem] = {}
    seen: set[str] = set()
    for item, at in records:
        if item.item_id in seen:  # a producer's retry: the first record is when it was bought
            continue
        seen.add(item.item_id)
        if wanted.batch_ids and item.batch_id not in wanted.batch_ids:
            continue
        if (wanted.since is not None and at < wanted.since) or \
                (wanted.until is not None and at > wanted.until):
            continue
        if wanted.open_only and len(answered.get(item.item_id, ())) >= item.annotators:
            continue
        out[item.item_id] = item
    return list(out.values())


def to_send(result: ImportResult, on_topic: Iterable[LabelIn]) -> ImportReport:
    """The imported labels not on the topic yet; the ones already there; conflicts."""
    existing = {(x.item_id, x.annotator_id): x.label for x in on_topic}
    report = ImportReport(result)
    for label in result.labels:
        there = existing.get((label.item_id, label.annotator_id))
        if there is None:
            report.sent.append(label)
        elif there == label.label:
            report.already.append(label)
        else:
            report.conflicts.append((label, there))
    return report


# ---- Kafka ----------------------------------------------------------------------------------------
def _selected(kafka: KafkaSettings) -> list[tuple[SelectedItem, float]]:
    out = []
    for record in read_topic(kafka, kafka.topics.selected):
        item = parse(SelectedItem, record.value)
        if isinstance(item, SelectedItem):
            out.append((item, record.timestamp / 1000.0))
    return out


def _labels(kafka: KafkaSettings) -> list[LabelIn]:
    labels = (parse(LabelIn, r.value) for r in read_topic(kafka, kafka.topics.labels))
    return [x for x in labels if isinstance(x, LabelIn)]


def export_from_topic(kafka: KafkaSettings, path: Path, wanted: BatchFilter) -> list[SelectedItem]:
    items = chosen_items(_selected(kafka), _labels(kafka) if wanted.open_only else [], wanted)
    if not items:
        raise ExchangeCommandError(
            f"no selected items on {kafka.topics.selected} match; check --batch-id/--since/"
            "--until (times are when the items were bought)")
    export_batch(items, path)
    return items


def import_to_topic(kafka: KafkaSettings, path: Path, *, annotator: str | None,
                    timestamp: float | None, partial: bool, dry_run: bool) -> ImportReport:
    known = {item.item_id for item, _ in _selected(kafka)}
    classes = kafka.label_classes if kafka.label_policy == "reject" and kafka.label_classes \
        else None
    result = import_labels(path, known, classes, annotator, timestamp)
    report = to_send(result, _labels(kafka))
    report.dry_run = dry_run
    if (result.errors or report.conflicts) and not partial:
        report.sent = []
        return report
    if report.sent and not dry_run:
        _send(kafka, report.sent)
    return report


def _send(kafka: KafkaSettings, labels: list[LabelIn]) -> None:
    from stream_al.stream import clients

    producer = clients.producer(kafka, acks="all", enable_idempotence=True,
                                client_id=f"{kafka.app_id}-import")
    try:
        futures = [producer.send(kafka.topics.labels, key=x.item_id.encode(), value=x.to_bytes())
                   for x in labels]
        producer.flush()
        for future in futures:
            future.get(timeout=30)  # raises if the broker refused one
    finally:
        producer.close()


__all__ = ["BatchFilter", "ExchangeCommandError", "ImportReport", "RowError", "chosen_items",
           "export_from_topic", "import_to_topic", "to_send"]
