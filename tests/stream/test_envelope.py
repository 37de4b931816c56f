"""The binary envelope of scored batches on ``control`` (stream/envelope.py): the same record
as its JSON form in three quarters of the bytes or less, read back exactly; versioned; every
malformed envelope refused with a dead-letter reason, never an exception."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from stream_al.stream.envelope import (
    DEFLATED,
    MAGIC,
    READS,
    VERSION,
    envelope_of,
    is_envelope,
    open_envelope,
)
from stream_al.stream.messages import (
    CONTROL,
    REASONS,
    DeadLetter,
    DeadLetterReason,
    ScoredBatchRecord,
    TextIn,
    parse,
)


def _record(precision: str, envelope: str, n: int = 20, dim: int = 384) -> ScoredBatchRecord:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    return ScoredBatchRecord.of("b", [f"t-{i}" for i in range(n)], ["a text"] * n, X,
                                {"margin": rng.random(n)}, 3, np.ones(n), 1.0,
                                [(0, i) for i in range(n)], precision=precision,
                                weights=np.full(n, 2.5), spans=[(0, 0, 2 * n - 1, 2 * n)],
                                envelope=envelope)


@pytest.mark.parametrize("precision", ["float32", "float16", "int8"])
def test_a_binary_record_reads_back_as_its_json_twin_in_fewer_bytes(precision):
    as_json, as_binary = _record(precision, "json"), _record(precision, "binary")
    raw = as_binary.to_bytes()
    back = parse(CONTROL, raw)
    assert is_envelope(raw) and back.binary and not parse(CONTROL, as_json.to_bytes()).binary
    assert np.array_equal(back.matrix(), as_json.matrix())
    assert back.model_dump(exclude={"embeddings", "scales"}) == as_json.model_dump(
        exclude={"embeddings", "scales"})
    assert len(raw) < 0.8 * len(as_json.to_bytes())
    assert isinstance(parse(ScoredBatchRecord, raw), ScoredBatchRecord)


@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_a_deflated_record_reads_back_as_its_binary_twin_in_fewer_bytes(precision):
    """Version 2 deflates the metadata only: the record it reads back is the same."""
    n = 100
    as_binary, deflated = _record(precision, "binary", n, 384), _record(precision, "deflated", n,
                                                                          384)
    raw, plain = deflated.to_bytes(), as_binary.to_bytes()
    assert raw[4] == DEFLATED and plain[4] == VERSION
    back = parse(CONTROL, raw)
    assert np.array_equal(back.matrix(), as_binary.matrix())
    assert back.model_dump() == parse(CONTROL, plain).model_dump()
    metadata = len(plain) - len(as_binary.embeddings) - len(as_binary.scales)
    assert len(plain) - len(raw) > metadata / 2  # ids, texts and scores: half or less


def _refusal(raw: bytes) -> DeadLetterReason:
    refused = parse(CONTROL, raw)
    assert isinstance(refused, DeadLetterReason) and refused.reason in REASONS
    assert DeadLetter.of(raw, refused, topic="control").raw_encoding == "base64"
    return refused


def test_an_envelope_of_another_version_is_refused_with_the_fix():
    raw = _record("int8", "binary").to_bytes()
    refused = _refusal(raw[:4] + bytes([max(READS) + 1]) + raw[5:])
    assert refused.reason == "wrong_schema_version" and "one version" in refused.detail


def test_metadata_that_does_not_inflate_is_refused():
    def deflated(head: bytes) -> bytes:
        return MAGIC + bytes([DEFLATED]) + len(head).to_bytes(4, "big") + head
    whole = zlib.compress(b'{"kind": "scored"}')
    assert _refusal(deflated(b'{"kind": "scored"}')).reason == "invalid_field"  # not deflated
    assert _refusal(deflated(whole[:-3])).reason == "invalid_field"  # cut short
    assert _refusal(deflated(whole + b"xx")).reason == "invalid_field"  # trailing bytes
    assert _refusal(deflated(zlib.compress(b"[1]"))).reason == "not_an_object"
    raw = _record("int8", "binary").to_bytes()
    plain_as_deflated = raw[:4] + bytes([DEFLATED]) + raw[5:]
    assert _refusal(plain_as_deflated).reason == "invalid_field"


@pytest.mark.parametrize("cut", [7, 200, -1, -8])
def test_a_truncated_envelope_is_refused(cut):
    raw = _record("int8", "binary").to_bytes()
    assert _refusal(raw[:cut]).reason == "invalid_field"
    assert _refusal(raw[:3]).reason == "invalid_utf8"  # not even its magic: not an envelope


def test_extra_payload_bytes_and_broken_metadata_are_refused():
    raw = _record("float16", "binary").to_bytes()
    assert _refusal(raw + b"\x00\x00").reason == "invalid_field"
    assert _refusal(envelope_of({"kind": "scored"}, b"")).reason == "invalid_field"
    assert _refusal(envelope_of({"kind": "labels", "dim": 2, "ids": []}, b"")).reason == \
        "invalid_field"
    assert _refusal(MAGIC + bytes([VERSION]) + (3).to_bytes(4, "big") + b"[1]").reason == \
        "not_an_object"
    assert _refusal(MAGIC + bytes([VERSION]) + (2).to_bytes(4, "big") + b"{x").reason == \
        "invalid_json"


def test_an_envelope_where_a_json_record_belongs_is_refused():
    raw = _record("int8", "binary").to_bytes()
    assert parse(TextIn, raw).reason == "invalid_utf8"


def test_opening_never_raises_on_arbitrary_bytes():
    rng = np.random.default_rng(1)
    for n in range(0, 64):
        raw = MAGIC + rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        if n % 2 and n > 5:  # half as deflated envelopes
            raw = raw[:4] + bytes([DEFLATED]) + raw[5:]
        opened = open_envelope(raw)
        assert isinstance(opened, tuple) or opened.reason in REASONS
        assert isinstance(parse(CONTROL, raw), ScoredBatchRecord | DeadLetterReason)
