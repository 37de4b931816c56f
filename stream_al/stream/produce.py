"""``stream-al produce``: stream a CSV or JSON-lines file into the texts topic at a given rate.

Item ids are ``<prefix>-<row>`` (row = 0-based data row of the file), so producing a file twice
produces the same ids (the pipeline buys an id at most once) and a vendor holding the same file
can find each item's gold label.
"""

from __future__ import annotations

import csv
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from stream_al.config import KafkaSettings
from stream_al.errors import StreamAlError


class InputError(StreamAlError, ValueError):
    """The data file or an option cannot be used; the message names the fix."""


def iter_column(path: Path, column: str, flag: str) -> Iterator[tuple[int, str]]:
    """``(row, value)`` of one column of a CSV or JSON-lines file, streamed."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    if path.suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_column(path, column, flag)
        return
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise InputError(
                f"{path}: no column {column!r} (columns are {reader.fieldnames}); "
                f"pass {flag} to name it"
            )
        try:
            for row, record in enumerate(reader):
                yield row, record.get(column) or ""
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not valid UTF-8 ({e.reason})") from None


def _jsonl_column(path: Path, column: str, flag: str) -> Iterator[tuple[int, str]]:
    row = 0
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise InputError(f"{path}: line {n} is not JSON ({e})") from None
            if not isinstance(record, dict) or column not in record:
                raise InputError(
                    f"{path}: line {n} has no field {column!r}; pass {flag} to name it"
                )
            value = record[column]
            yield row, "" if value is None else str(value)
            row += 1


def item_id(prefix: str, row: int) -> str:
    return f"{prefix}-{row}"


def row_of(prefix: str, item: str) -> int | None:
    """The row of an id made by :func:`item_id` with ``prefix``, else None."""
    head, _, tail = item.rpartition("-")
    return int(tail) if head == prefix and tail.isdigit() else None


@dataclass
class ProduceStats:
    sent: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def produce(
    kafka: KafkaSettings,
    data: Path,
    text_column: str = "text",
    rate: float = 0.0,
    limit: int | None = None,
    id_prefix: str | None = None,
    say: Callable[[str], None] = print,
) -> ProduceStats:
    """Send the file's texts as ``TextIn`` records, ``rate`` per second (0: as fast as possible)."""
    from kafka.errors import KafkaError

    from stream_al.stream import clients
    from stream_al.stream.topics import MAX_RECORD_BYTES, ensure_topics

    if rate < 0:
        raise InputError(f"--rate must be >= 0 texts per second, got {rate}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    rows = iter_column(data, text_column, "--text-column")
    first = next(rows, None)  # opens the file and checks the column before touching Kafka
    if first is None:
        raise InputError(f"{data}: no rows")
    prefix = id_prefix or data.stem
    k = kafka
    ensure_topics(k)
    producer = clients.producer(
        k,
        client_id=f"{k.app_id}-producer",
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=MAX_RECORD_BYTES,
    )
    failed: list[Exception] = []
    stats = ProduceStats()
    started = last_report = time.monotonic()
    try:
        for row, text in itertools.chain([first], rows):
            if limit is not None and stats.sent >= limit:
                break
            if rate > 0:
                ahead = started + stats.sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            key = item_id(prefix, row)
            value = orjson.dumps(
                {
                    "schema_version": 1,
                    "id": key,
                    "text": text,
                    "source": data.name,
                    "timestamp": time.time(),
                    "metadata": {"row": row},
                }
            )
            sent = producer.send(k.topics.texts, key=key.encode("utf-8"), value=value)
            sent.add_errback(failed.append)
            stats.sent += 1
            if time.monotonic() - last_report >= 2.0:
                last_report = time.monotonic()
                say(f"produced {stats.sent} texts ({stats.sent / (last_report - started):.0f}/s)")
        producer.flush()
    finally:
        producer.close()
    if failed:  # flush() returns also when the broker refused records: say so, do not count them
        raise KafkaError(f"{len(failed)} of {stats.sent} texts were not written: {failed[0]!r}")
    stats.seconds = time.monotonic() - started
    say(
        f"produced {stats.sent} texts to {k.topics.texts} in {stats.seconds:.1f}s "
        f"({stats.rate:.0f} texts/s)"
    )
    return stats
