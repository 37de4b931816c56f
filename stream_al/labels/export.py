"""The labelled dataset as a versioned snapshot: exported to files, rebuilt from the topics alone.

A snapshot holds one row per accepted label, (item, annotator) first answer wins, with the
item's text. Two hashes identify it:

- ``content_hash``: sha256 of its canonical JSON-lines form (rows sorted by item id, then
  annotator id; keys sorted; one row a line). ``labels.jsonl`` is written in exactly that form,
  so ``sha256sum labels.jsonl`` prints the manifest's ``content_hash``.
- ``label_set_hash``: the sum, modulo 2**256, of the sha256 of each canonical row. It does not
  depend on order and is updated in O(1) per label (:class:`LabelSetHash`), so the coordinator
  publishes it with every model (``ModelUpdate.labels_hash``): the model says which labelled
  dataset it learned. A checksum, not a cryptographic commitment.

>>> rows = [LabeledRow("a-2", "Oil rises", "Business", "ann-1", 2.0),
...         LabeledRow("a-1", "Cup final", "Sports", "ann-0", 1.0)]
>>> snapshot = LabeledSnapshot.of(rows)
>>> [r.item_id for r in snapshot.rows], snapshot.classes
(['a-1', 'a-2'], ['Business', 'Sports'])
>>> LabeledSnapshot.of(reversed(rows)).content_hash == snapshot.content_hash
True

:func:`write_snapshot` puts it in ``OUT/v0001/`` (then ``v0002``, ... when the content changed):
``labels.jsonl``, ``labels.csv`` and ``manifest.json``. ``stream-al labels export --out DIR``
rebuilds the dataset from the ``selected`` and ``labels`` topics and writes it there
(``stream_al/stream/label_export.py``, the Kafka side).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stream_al.errors import StreamAlError
from stream_al.labels.base import Label

FORMAT = "stream-al labelled snapshot 1"
COLUMNS = ("item_id", "text", "label", "annotator_id", "timestamp", "confidence")
_VERSION_DIR = re.compile(r"^v(\d{4,})$")


class SnapshotError(StreamAlError, ValueError):
    """A snapshot cannot be exported, or read back as written; the message names the fix."""


def canonical_row(item_id: str, text: str, label: str, annotator_id: str, timestamp: float,
                  confidence: float) -> bytes:
    """A row's line in ``labels.jsonl``: JSON with its keys in sorted order (written so, which
    ``OPT_SORT_KEYS`` would only redo), no trailing newline."""
    return orjson.dumps({"annotator_id": annotator_id, "confidence": confidence,
                         "item_id": item_id, "label": label, "text": text,
                         "timestamp": timestamp})


@dataclass(frozen=True)
class LabeledRow:
    """One accepted label with its item's text (the columns of the exported files)."""

    item_id: str
    text: str
    label: str
    annotator_id: str
    timestamp: float
    confidence: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.item_id, self.annotator_id

    def canonical(self) -> bytes:
        """The row's line in ``labels.jsonl`` (keys sorted, no trailing newline)."""
        return canonical_row(self.item_id, self.text, self.label, self.annotator_id,
                             self.timestamp, self.confidence)  # asdict's deep copy: 3x slower

    @classmethod
    def of(cls, label: Label, text: str) -> LabeledRow:
        return cls(
            label.item_id, text, label.label, label.annotator_id, label.timestamp, label.confidence
        )


class LabelSetHash:
    """Order-independent hash of a set of rows, one :meth:`add_one` per row.

    >>> a, b = LabelSetHash(), LabelSetHash()
    >>> row1, row2 = LabeledRow("x", "t", "A", "ann", 1.0), LabeledRow("y", "u", "B", "ann", 2.0)
    >>> a.add_one(row1); a.add_one(row2); b.add_one(row2); b.add_one(row1)
    >>> a.hexdigest() == b.hexdigest() != LabelSetHash().hexdigest()
    True
    """

    MODULUS = 2**256

    def __init__(self) -> None:
        self._sum = 0

    def add_one(self, row: LabeledRow) -> None:
        digest = hashlib.sha256(row.canonical()).digest()
        self._sum = (self._sum + int.from_bytes(digest, "big")) % self.MODULUS

    def add_labels_many(self, labels: Iterable[Label], texts: Mapping[str, str]) -> None:
        """:meth:`add_one` of each label's row (its item's text from ``texts``), without a
        :class:`LabeledRow` each: the same canonical bytes."""
        sha256, of_bytes = hashlib.sha256, int.from_bytes
        total = sum(of_bytes(sha256(canonical_row(
            x.item_id, texts[x.item_id], x.label, x.annotator_id, x.timestamp, x.confidence,
        )).digest(), "big") for x in labels)
        self._sum = (self._sum + total) % self.MODULUS

    def hexdigest(self) -> str:
        return f"{self._sum:064x}"

    def state(self) -> int:
        """What :meth:`load_state` takes to continue this hash (a checkpoint's image)."""
        return self._sum

    def load_state(self, state: int) -> None:
        self._sum = state % self.MODULUS


@dataclass(frozen=True)
class LabeledSnapshot:
    """Rows in canonical order, at most one per (item, annotator); build it with :meth:`of`."""

    rows: tuple[LabeledRow, ...]

    @classmethod
    def of(cls, rows: Iterable[LabeledRow]) -> LabeledSnapshot:
        """The first row per (item, annotator) of ``rows``, sorted by item then annotator."""
        first: dict[tuple[str, str], LabeledRow] = {}
        for row in rows:
            first.setdefault(row.key, row)
        return cls(tuple(first[k] for k in sorted(first)))

    @classmethod
    def from_labels(cls, labels: Iterable[Label], texts: Mapping[str, str]) -> LabeledSnapshot:
        """From a :class:`LabelStore` (or any labels) and the texts of their items."""
        return cls.of(LabeledRow.of(label, texts[label.item_id]) for label in labels)

    def __len__(self) -> int:
        return len(self.rows)

    def jsonl(self) -> bytes:
        return b"".join(row.canonical() + b"\n" for row in self.rows)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.jsonl()).hexdigest()

    @property
    def label_set_hash(self) -> str:
        h = LabelSetHash()
        for row in self.rows:
            h.add_one(row)
        return h.hexdigest()

    @property
    def classes(self) -> list[str]:
        return sorted({row.label for row in self.rows})

    @property
    def n_items(self) -> int:
        return len({row.item_id for row in self.rows})

    def manifest(self, version: int, created_at: float, **source: Any) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": version,
            "content_hash": self.content_hash,
            "label_set_hash": self.label_set_hash,
            "rows": len(self.rows),
            "items": self.n_items,
            "annotators": len({row.annotator_id for row in self.rows}),
            "classes": self.classes,
            "columns": list(COLUMNS),
            "created_at": datetime.fromtimestamp(created_at, UTC).isoformat(),
            "source": dict(source),
        }


# ---- the admission rule, as the coordinator applies it -------------------------------------
def admitted_rows(
    selected: Iterable[Any],
    labels: Iterable[Any],
    label_policy: str = "accept_new_class",
    label_classes: Sequence[str] = (),
) -> LabeledSnapshot:
    """The rows a coordinator's label store holds after ``labels`` (``LabelIn``, in topic
    order), given what was bought (``SelectedItem``): labels for items never selected are
    refused, and under ``label_policy="reject"`` labels outside ``label_classes`` (empty: the
    classes accepted so far, once there are two) too; the first per (item, annotator) counts.
    Mirrors ``Coordinator.on_labels``; a test compares the two on the real broker."""
    texts: dict[str, str] = {}
    for item in selected:
        texts.setdefault(item.item_id, item.text)
    known: list[str] = []
    rows: dict[tuple[str, str], LabeledRow] = {}
    for label in labels:
        if label.item_id not in texts or (label.item_id, label.annotator_id) in rows:
            continue
        if label_policy == "reject":
            allowed = label_classes or (known if len(known) >= 2 else None)
            if allowed is not None and label.label not in allowed:
                continue
        rows[label.item_id, label.annotator_id] = LabeledRow(
            label.item_id,
            texts[label.item_id],
            label.label,
            label.annotator_id,
            label.timestamp,
            label.confidence,
        )
        if label.label not in known:
            known.append(label.label)
    return LabeledSnapshot.of(rows.values())


# ---- files ----------------------------------------------------------------------------------
def _csv(snapshot: LabeledSnapshot) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF rows, fields with CR or LF quoted
    writer.writerow(COLUMNS)
    for r in snapshot.rows:
        confidence = "" if r.confidence is None else repr(r.confidence)
        writer.writerow([r.item_id, r.text, r.label, r.annotator_id, repr(r.timestamp), confidence])
    return out.getvalue().encode("utf-8")


def versions(out: Path) -> list[Path]:
    """The snapshot directories under ``out``, oldest first."""
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := _VERSION_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def write_snapshot(
    snapshot: LabeledSnapshot, out: Path, created_at: float | None = None, **source: Any
) -> Path:
    """Write ``snapshot`` as the next version under ``out`` and return its directory; if the
    latest version already has this content, return that one and write nothing."""
    out.mkdir(parents=True, exist_ok=True)
    existing = versions(out)
    if existing:
        latest = orjson.loads((existing[-1] / "manifest.json").read_bytes())
        if latest.get("content_hash") == snapshot.content_hash:
            return existing[-1]
    number = int(existing[-1].name[1:]) + 1 if existing else 1
    files = {"labels.jsonl": snapshot.jsonl(), "labels.csv": _csv(snapshot)}
    manifest = snapshot.manifest(
        number, time.time() if created_at is None else created_at, **source
    )
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["manifest.json"] = orjson.dumps(
        manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    )
    staging = out / f".v{number:04d}.{os.getpid()}.tmp"
    staging.mkdir()
    for name, data in files.items():
        (staging / name).write_bytes(data)
    target = out / f"v{number:04d}"
    try:  # atomic: readers see a whole version or none (a concurrent export: try again)
        staging.rename(target)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise SnapshotError(f"{target} appeared while exporting; export again") from e
    return target


def read_snapshot(directory: Path) -> tuple[LabeledSnapshot, dict[str, Any]]:
    """A written snapshot and its manifest; :class:`SnapshotError` if a file was altered."""
    try:
        manifest = orjson.loads((directory / "manifest.json").read_bytes())
        data = (directory / "labels.jsonl").read_bytes()
    except FileNotFoundError as e:
        raise SnapshotError(f"{directory} is not a snapshot: {e.filename} is missing") from None
    snapshot = LabeledSnapshot.of(
        LabeledRow(**orjson.loads(line)) for line in data.splitlines() if line
    )
    if snapshot.content_hash != manifest["content_hash"] or snapshot.jsonl() != data:
        raise SnapshotError(
            f"{directory}/labels.jsonl does not match its manifest's content_hash "
            f"{manifest['content_hash']}: the file was changed; export again"
        )
    return snapshot, manifest
