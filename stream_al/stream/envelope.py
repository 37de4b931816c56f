"""A binary envelope for internal records whose bulk is numbers (issue 17: compact records).

A scored batch on ``control`` is mostly its embeddings. In JSON they travel as base64, a third
larger than their bytes, and are encoded and decoded on both sides. In a binary envelope the
record's other fields stay JSON (validated as before) and the rows follow as raw bytes:

====== ======== =======================================================================
offset size     content
====== ======== =======================================================================
0      4        :data:`MAGIC`, ``b"\\xffSAE"`` (0xFF never occurs in UTF-8: no JSON record
                starts so, and a reader that expects JSON refuses it at once)
4      1        envelope version (:data:`READS`; a reader refuses a version it does not know):
                1, the metadata as it is; 2 (:data:`DEFLATED`), the metadata zlib-compressed
5      4        length of the metadata (as stored), unsigned big-endian
9      length   metadata: a JSON object, UTF-8 (version 2: deflated)
9+len  the rest the payload (what the metadata says it holds: for a scored batch, the rows in
                its ``precision``, then int8's float32 scales, little-endian)
====== ======== =======================================================================

>>> raw = envelope_of({"kind": "scored", "dim": 2}, bytes([1, 2]))
>>> raw[:5], is_envelope(raw), is_envelope(b'{"kind": "scored"}')
(b'\\xffSAE\\x01', True, False)
>>> open_envelope(raw)
({'kind': 'scored', 'dim': 2}, b'\\x01\\x02')
>>> open_envelope(raw[:7]).reason
'invalid_field'
>>> open_envelope(envelope_of({"texts": ["a text"] * 50}, b"", deflate=True))[0]["texts"][49]
'a text'

Deflating the metadata (version 2) takes a candidate record's ids, texts and scores to about
45% of their JSON bytes (lossless: the record reads back the same); the rows, int8 or float,
hardly compress and stay raw. A worker before version 2 refuses such a record as
``wrong_schema_version``, so a rolling upgrade writes version 1 (``scale.envelope: binary``)
until every worker reads 2.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

MAGIC = b"\xffSAE"
VERSION = 1
"""The envelope with its metadata as it is."""
DEFLATED = 2
"""The envelope with its metadata zlib-compressed."""
READS = (VERSION, DEFLATED)
DEFLATE_LEVEL = 1
"""zlib's fastest level: 12 KB of a candidate record's metadata in ~130 us to 45% (level 6: 44%,
in twice the time)."""
MAX_METADATA = 64 * 1024 * 1024
"""The most metadata a deflated envelope may expand to (a record far above Kafka's limits)."""
_HEADER = struct.Struct(">4sBI")


@dataclass(frozen=True)
class EnvelopeRefused:
    """Why bytes that start with :data:`MAGIC` are not a usable envelope (a dead-letter
    ``reason`` and a ``detail`` for humans)."""

    reason: str
    detail: str


def is_envelope(raw: bytes | None) -> bool:
    """True if ``raw`` starts as a binary envelope (and so is not JSON)."""
    return raw is not None and raw[:4] == MAGIC


def envelope_of(metadata: dict[str, Any], payload: bytes, deflate: bool = False) -> bytes:
    """``metadata`` (JSON-serialisable) and ``payload`` in one envelope of :data:`VERSION`,
    or with ``deflate`` of :data:`DEFLATED` (the metadata compressed)."""
    head = orjson.dumps(metadata)
    if deflate:
        head = zlib.compress(head, DEFLATE_LEVEL)
    return _HEADER.pack(MAGIC, DEFLATED if deflate else VERSION, len(head)) + head + payload


def open_envelope(raw: bytes) -> tuple[dict[str, Any], bytes] | EnvelopeRefused:
    """(metadata, payload) of an envelope, or why it cannot be read. Never raises."""
    if len(raw) < _HEADER.size:
        return EnvelopeRefused("invalid_field", f"binary envelope of {len(raw)} bytes is "
                               f"shorter than its {_HEADER.size}-byte header")
    magic, version, length = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        return EnvelopeRefused("invalid_field", "not a binary envelope (wrong magic bytes)")
    if version not in READS:
        return EnvelopeRefused("wrong_schema_version", f"binary envelope version {version}; this "
                               f"worker reads versions {', '.join(map(str, READS))}: run one "
                               "version of stream-al on every worker of a group")
    end = _HEADER.size + length
    if end > len(raw):
        return EnvelopeRefused("invalid_field", f"binary envelope says {length} bytes of "
                               f"metadata but holds {len(raw) - _HEADER.size}")
    head = raw[_HEADER.size:end]
    if version == DEFLATED:
        inflating = zlib.decompressobj()
        try:
            head = inflating.decompress(head, MAX_METADATA)
        except zlib.error as e:
            return EnvelopeRefused("invalid_field", f"binary envelope metadata: not deflated ({e})")
        if inflating.unconsumed_tail or inflating.unused_data or not inflating.eof:
            return EnvelopeRefused("invalid_field", "binary envelope metadata: deflated stream "
                                   f"incomplete or over {MAX_METADATA} bytes")
    try:
        metadata = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        return EnvelopeRefused("invalid_json", f"binary envelope metadata: {e}")
    if not isinstance(metadata, dict):
        return EnvelopeRefused("not_an_object", f"binary envelope metadata is JSON "
                               f"{type(metadata).__name__}, expected object")
    return metadata, raw[end:]
