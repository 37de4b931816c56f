"""Labelled text datasets read from CSV (or JSON lines), validated at the boundary."""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from stream_al.errors import StreamAlError


class DatasetError(StreamAlError, ValueError):
    """The file cannot be used as a labelled stream; the message says what to fix."""


@dataclass(frozen=True)
class LabeledTexts:
    texts: list[str]
    labels: list[str]
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t, y in zip(self.texts, self.labels, strict=True):
            h.update(t.encode())
            h.update(b"\x1f")
            h.update(y.encode())
            h.update(b"\x1e")
        return h.hexdigest()[:16]


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if path.suffix in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append({k: "" if v is None else str(v) for k, v in orjson.loads(line).items()})
            except (orjson.JSONDecodeError, AttributeError) as e:
                raise DatasetError(f"{path}: line {n} is not a JSON object ({e})") from None
        return (list(rows[0]) if rows else []), rows
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8", errors="strict") as f:
        reader = csv.DictReader(f)
        try:
            rows = list(reader)
        except UnicodeDecodeError as e:
            raise DatasetError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        return list(reader.fieldnames or []), rows


def load_labeled(path: str | Path, text_column: str = "text", label_column: str = "label",
                 min_classes: int = 2, require_labels: bool = True) -> LabeledTexts:
    """Read texts and labels; reject unknown columns, blank texts, missing labels, one class."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"data file {p} does not exist")
    columns, rows = _rows(p)
    for col, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if col not in columns:
            raise DatasetError(
                f"{p}: no column {col!r} (columns are {columns}); pass {flag} to name it"
            )
    if not rows:
        raise DatasetError(f"{p}: no rows")
    texts = [(r.get(text_column) or "") for r in rows]
    labels = [(r.get(label_column) or "").strip() for r in rows]
    blank = [i + 2 for i, t in enumerate(texts) if not t.strip()]
    if blank:
        raise DatasetError(f"{p}: {len(blank)} empty or whitespace texts (rows {_few(blank)})")
    missing = [i + 2 for i, y in enumerate(labels) if not y]
    if require_labels and missing:
        raise DatasetError(f"{p}: {len(missing)} rows have no label (rows {_few(missing)})")
    data = LabeledTexts(texts, labels, str(p))
    if require_labels and len(data.classes) < min_classes:
        raise DatasetError(
            f"{p}: only {len(data.classes)} class ({data.classes}); a classifier needs at least "
            f"{min_classes}"
        )
    return data


def _few(rows: list[int], n: int = 5) -> str:
    head = ", ".join(map(str, rows[:n]))
    return head + (", ..." if len(rows) > n else "")
