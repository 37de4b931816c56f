"""Files for vendors that do not speak Kafka: a batch out as CSV or JSON lines, labels back in.

Export writes :class:`SelectedItem` records, one per row (JSONL: exactly the ``selected`` topic
payload; CSV: the same fields, ``scores`` as a JSON object, plus empty answer columns
``label, annotator_id, timestamp, confidence`` for the vendor to fill in). Import reads the
vendor's answers (the returned CSV, or JSONL of ``labels`` topic records) and validates each
row as a :class:`LabelIn`: good rows become labels, bad rows become :class:`RowError` with the
line number and what to fix; rows left without a label are reported as unanswered.
Timestamps may be epoch seconds or ISO 8601 (UTC if no offset is given).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from stream_al.annotation.batches import AnnotationBatch
from stream_al.errors import StreamAlError
from stream_al.stream.messages import SCHEMA_VERSION, DeadLetterReason, LabelIn, SelectedItem, parse

ITEM_COLUMNS = ["item_id", "batch_id", "text", "deadline", "annotators", "group", "priority", "cost",
                "strategy", "reason", "model_version", "scores"]
ANSWER_COLUMNS = ["label", "annotator_id", "timestamp", "confidence"]


class ExchangeError(StreamAlError, ValueError):
    """The file as a whole cannot be read (format, header); row problems are RowErrors."""


@dataclass(frozen=True)
class RowError:
    line: int
    item_id: str | None
    reason: str
    detail: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (item {self.item_id})" if self.item_id else "")
        return f"{where}: {self.reason}: {self.detail}"


@dataclass
class ImportResult:
    labels: list[LabelIn] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


def _format(path: Path) -> str:
    if path.suffix == ".csv":
        return "csv"
    if path.suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ExchangeError(f"{path}: unknown format {path.suffix!r}; name the file .csv or .jsonl")


# ---- export ------------------------------------------------------------------------------------
def selected_items(batch: AnnotationBatch, texts: Mapping[str, str],
                   model_version: int = 0) -> list[SelectedItem]:
    """The ``selected`` records of an annotator batch, in batch order."""
    return [SelectedItem(schema_version=SCHEMA_VERSION, item_id=s.item_id, text=texts[s.item_id],
                         batch_id=batch.batch_id, strategy=s.strategy, reason=s.reason,
                         scores=s.scores, model_version=model_version, deadline=batch.deadline,
                         cost=s.cost, group=s.group, priority=s.priority)
            for s in batch.items]


def export_batch(items: Sequence[SelectedItem], path: str | Path) -> Path:
    """Write ``items`` to ``path`` (.csv or .jsonl), replacing it atomically."""
    path = Path(path)
    fmt = _format(path)
    if fmt == "jsonl":
        data = b"".join(item.to_bytes() + b"\n" for item in items)
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, ITEM_COLUMNS + ANSWER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for item in items:
            row = item.model_dump(mode="json")
            row["scores"] = orjson.dumps(row["scores"]).decode()
            writer.writerow({k: row[k] for k in ITEM_COLUMNS})
        data = out.getvalue().encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def read_selected(path: str | Path) -> list[SelectedItem]:
    """The items of an exported batch (what a vendor tool reads); raises on a bad row."""
    path = Path(path)
    is_csv = _format(path) == "csv"
    out = []
    for line, record in _records(path):
        if is_csv:
            record = {k: record.get(k) for k in ITEM_COLUMNS if record.get(k) not in (None, "")}
            record["scores"] = orjson.loads(record.get("scores") or "{}")
        message = parse(SelectedItem, orjson.dumps({"schema_version": SCHEMA_VERSION, **record}))
        if isinstance(message, DeadLetterReason):
            raise ExchangeError(f"{path}: line {line}: {message.reason}: {message.detail}")
        out.append(message)
    return out


# ---- import ------------------------------------------------------------------------------------
def import_labels(path: str | Path, known_ids: Collection[str] | None = None,
                  classes: Collection[str] | None = None, default_annotator: str | None = None,
                  default_timestamp: float | None = None) -> ImportResult:
    """Validated labels from a vendor's file; see the module docstring.

    ``known_ids``: the exported items (others are ``unknown_item``); ``classes``: the allowed
    labels (others are ``unknown_class``); ``default_annotator`` / ``default_timestamp`` fill
    blank cells (without them a blank is an error). The same (item, annotator) twice with the
    same label counts once (idempotent); with different labels it is an error.
    """
    path = Path(path)
    result = ImportResult()
    seen: dict[tuple[str, str], str] = {}
    for line, record in _records(path):
        item_id = str(record.get("item_id") or "") or None
        raw_label = record.get("label")
        if "__invalid__" not in record and (raw_label is None or not str(raw_label).strip()):
            result.unanswered.append(item_id or f"line {line}")
            continue
        label = _label_of(record, default_annotator, default_timestamp)
        error = label if isinstance(label, DeadLetterReason) else _check(label, known_ids, classes)
        if error is not None:
            result.errors.append(RowError(line, item_id, error.reason, error.detail))
            continue
        key = (label.item_id, label.annotator_id)
        if key in seen:
            if seen[key] != label.label:
                result.errors.append(RowError(line, item_id, "conflicting_duplicate",
                                              f"annotator {label.annotator_id} labelled it "
                                              f"{seen[key]!r} earlier in the file, now "
                                              f"{label.label!r}; keep one row"))
            continue
        seen[key] = label.label
        result.labels.append(label)
    return result


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    fmt = _format(path)
    if not path.is_file():
        raise ExchangeError(f"{path} does not exist")
    if fmt == "jsonl":
        for n, raw in enumerate(path.read_bytes().splitlines(), 1):
            if raw.strip():
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError as e:
                    data = {"__invalid__": f"not JSON ({e})"}
                yield n, data if isinstance(data, dict) else {"__invalid__": "not a JSON object"}
        return
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "item_id" not in reader.fieldnames:
            raise ExchangeError(f"{path}: no item_id column (header is {reader.fieldnames}); "
                                "answer in the exported file, keeping its header")
        for row in reader:
            yield reader.line_num, row


def _label_of(record: dict[str, Any], default_annotator: str | None,
              default_timestamp: float | None) -> LabelIn | DeadLetterReason:
    if "__invalid__" in record:
        return DeadLetterReason("invalid_json", record["__invalid__"])
    if record.get("schema_version", SCHEMA_VERSION) not in (SCHEMA_VERSION, str(SCHEMA_VERSION), ""):
        return DeadLetterReason("wrong_schema_version",
                                f"schema_version {record['schema_version']!r}, expected 1")
    data = {k: record.get(k) for k in ("item_id", "label", "annotator_id", "timestamp",
                                       "confidence")}
    data = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
    if not data["annotator_id"] and default_annotator:
        data["annotator_id"] = default_annotator
    if data["timestamp"] in (None, "") and default_timestamp is not None:
        data["timestamp"] = default_timestamp
    if data["confidence"] == "":
        data["confidence"] = None
    if data["timestamp"] in (None, ""):
        return DeadLetterReason("missing_field",
                                "timestamp: fill in epoch seconds or ISO 8601 (e.g. "
                                "2025-01-31T14:05:00Z)")
    try:
        data["timestamp"] = epoch_seconds(data["timestamp"])
        return LabelIn.model_validate({"schema_version": SCHEMA_VERSION, **data})
    except ValueError as e:  # ValidationError is a ValueError
        if isinstance(e, ValidationError):
            first = e.errors()[0]
            kind = "missing_field" if first["type"] == "missing" else "invalid_field"
            where = ".".join(map(str, first["loc"]))
            got = "" if first["type"] == "missing" else f" (got {first.get('input')!r})"
            return DeadLetterReason(kind, f"{where}: {first['msg']}{got}")
        return DeadLetterReason("invalid_field", str(e))


def epoch_seconds(value: Any) -> float:
    """Epoch seconds from a number or ISO 8601 text (UTC if no offset is given)."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"timestamp {value!r} is neither epoch seconds nor ISO 8601 "
                         "(e.g. 2025-01-31T14:05:00Z)") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _check(label: LabelIn, known_ids: Collection[str] | None,
           classes: Collection[str] | None) -> DeadLetterReason | None:
    if known_ids is not None and label.item_id not in known_ids:
        return DeadLetterReason("unknown_item", f"{label.item_id!r} was not in the exported batch")
    if classes is not None and label.label not in classes:
        return DeadLetterReason("unknown_class",
                                f"{label.label!r} is not one of {sorted(classes)[:10]}")
    return None
