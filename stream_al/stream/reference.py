"""The ``reference`` topic: the coordinator's labelled rows for the scorers' OOD check
(``scale.ood_at_scorers``; select/ood_check.py, docs/scaling.md).

One partition, compacted, keyed by ring slot (``slot = count mod ood.capacity``, as decimal
ASCII). Each value is one row in the binary envelope (stream/envelope.py): its metadata
``{"kind": "reference", "schema_version": 1, "slot", "count", "dim", "precision": "int8"}``,
its payload the int8 row then its float32 scale (little-endian), as rows travel on
``control``. ``count`` is the row's number (rows learned before it).

The coordinator writes the rows in the transaction of the record that taught them (an aborted
transaction writes none). A scorer reads the topic from its beginning, then follows it; it
feeds the rows in offset order to a detector that keeps the last ``ood.capacity``, so it holds
the coordinator's ring whether or not the log was compacted yet.

>>> import numpy as np
>>> key, value = records_of(np.array([12]), np.array([[0.6, -0.8]], dtype=np.float32), 10)[0]
>>> key
b'2'
>>> row = parse_row(key, value)
>>> row.slot, row.count, [round(float(v), 2) for v in row.row]
(2, 12, [0.6, -0.8])
>>> parse_row(b'3', value).reason
'invalid_field'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream_al.embed.precision import bytes_per_row, dequantize, quantize_many
from stream_al.stream.envelope import EnvelopeRefused, envelope_of, is_envelope, open_envelope
from stream_al.stream.messages import MAX_COUNT, DeadLetterReason

KIND = "reference"


@dataclass(frozen=True)
class ReferenceRow:
    """One labelled row as a scorer reads it: its ring ``slot``, its number ``count`` and the
    row (float32, dequantised from int8)."""

    slot: int
    count: int
    row: np.ndarray


def records_of(numbers: np.ndarray, rows: np.ndarray, capacity: int,
               ) -> list[tuple[bytes, bytes]]:
    """(key, value) of each row ``rows[i]`` numbered ``numbers[i]``, in their order."""
    q = quantize_many(np.asarray(rows, dtype=np.float32), "int8")
    width = q.dim  # int8: one byte a value
    out = []
    for i, count in enumerate(np.asarray(numbers).tolist()):
        slot = count % capacity
        metadata = {"kind": KIND, "schema_version": 1, "slot": slot, "count": count,
                    "dim": q.dim, "precision": "int8"}
        payload = q.data[i * width:(i + 1) * width] + q.scales[i:i + 1].astype("<f4").tobytes()
        out.append((str(slot).encode("ascii"), envelope_of(metadata, payload)))
    return out


def parse_row(key: bytes | None, value: bytes | None) -> ReferenceRow | DeadLetterReason:
    """The row in a ``reference`` record, or why it cannot be used. Never raises."""
    if value is None or not is_envelope(value):
        return DeadLetterReason("invalid_field", "a reference row is a binary envelope")
    opened = open_envelope(value)
    if isinstance(opened, EnvelopeRefused):
        return DeadLetterReason(opened.reason, opened.detail)
    meta, payload = opened
    if meta.get("schema_version") != 1:
        return DeadLetterReason("wrong_schema_version", f"reference row schema_version "
                                f"{meta.get('schema_version')!r}, expected 1")
    slot, count, dim = meta.get("slot"), meta.get("count"), meta.get("dim")
    if (meta.get("kind") != KIND or meta.get("precision") != "int8"
            or not all(type(v) is int for v in (slot, count, dim))
            or not (0 <= slot <= count <= MAX_COUNT and 1 <= dim <= 65536)):
        return DeadLetterReason("invalid_field", "reference row: kind 'reference', precision "
                                "int8, and integer slot <= count and dim >= 1")
    if key != str(slot).encode("ascii"):
        return DeadLetterReason("invalid_field", f"reference row of slot {slot} under key "
                                f"{key!r}: the topic is compacted by slot")
    if len(payload) != bytes_per_row("int8", dim):
        return DeadLetterReason("invalid_field", f"reference row: {len(payload)} bytes, not "
                                f"one int8 row of {dim} and its scale")
    scale = np.frombuffer(payload[dim:], dtype="<f4")
    if not (np.isfinite(scale).all() and scale[0] >= 0):
        return DeadLetterReason("invalid_field", "reference row: its scale must be finite, >= 0")
    return ReferenceRow(slot, count, dequantize("int8", payload[:dim], scale, dim)[0])
