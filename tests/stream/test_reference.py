"""The ``reference`` topic's records (stream/reference.py): one labelled row each, keyed by its
ring slot, int8 with its scale in the binary envelope; a record that is not one is refused
with a reason (the scorer dead-letters it), never an exception."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.metrics import Metrics
from stream_al.stream.app import build_app
from stream_al.stream.envelope import envelope_of
from stream_al.stream.messages import DeadLetterReason
from stream_al.stream.reference import ReferenceRow, parse_row, records_of


def _unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_rows_come_back_with_their_slot_and_number_within_int8_rounding():
    X = _unit(5)
    records = records_of(np.arange(8, 13), X, capacity=10)
    assert [k for k, _ in records] == [b"8", b"9", b"0", b"1", b"2"]  # slot = number mod 10
    rows = [parse_row(k, v) for k, v in records]
    assert all(isinstance(r, ReferenceRow) for r in rows)
    assert [(r.slot, r.count) for r in rows] == [(8, 8), (9, 9), (0, 10), (1, 11), (2, 12)]
    back = np.stack([r.row for r in rows])
    assert np.abs(back - X).max() <= np.abs(X).max(axis=1).max() / 127 / 2 + 1e-6
    assert len(records[0][1]) < 16 + 4 + 120  # the row, its scale and a short header


def _meta(**changes):
    return {"kind": "reference", "schema_version": 1, "slot": 3, "count": 13, "dim": 4,
            "precision": "int8", **changes}


ROW = bytes([1, 2, 3, 4]) + np.float32(0.01).tobytes()


@pytest.mark.parametrize(("key", "value", "reason"), [
    (b"3", None, "invalid_field"),
    (b"3", b'{"slot": 3}', "invalid_field"),  # JSON: not an envelope
    (b"3", envelope_of(_meta(), ROW)[:7], "invalid_field"),  # cut in its header
    (b"3", envelope_of(_meta(schema_version=2), ROW), "wrong_schema_version"),
    (b"3", envelope_of(_meta(kind="scored"), ROW), "invalid_field"),
    (b"3", envelope_of(_meta(precision="float32"), ROW), "invalid_field"),
    (b"3", envelope_of(_meta(slot=14), ROW), "invalid_field"),  # slot beyond its number
    (b"3", envelope_of(_meta(dim="4"), ROW), "invalid_field"),
    (b"4", envelope_of(_meta(), ROW), "invalid_field"),  # compacted under another slot
    (None, envelope_of(_meta(), ROW), "invalid_field"),
    (b"3", envelope_of(_meta(), ROW[:-1]), "invalid_field"),  # its scale cut
    (b"3", envelope_of(_meta(), ROW + b"\0"), "invalid_field"),
    (b"3", envelope_of(_meta(), ROW[:4] + np.float32(np.nan).tobytes()), "invalid_field"),
    (b"3", envelope_of(_meta(), ROW[:4] + np.float32(-1).tobytes()), "invalid_field"),
])
def test_a_record_that_is_not_one_row_is_refused_with_a_reason(key, value, reason):
    refused = parse_row(key, value)
    assert isinstance(refused, DeadLetterReason) and refused.reason == reason
    assert refused.detail


def test_the_record_of_the_example_is_accepted():
    row = parse_row(b"3", envelope_of(_meta(), ROW))
    assert isinstance(row, ReferenceRow) and np.allclose(row.row, [0.01, 0.02, 0.03, 0.04])


def test_a_worker_with_ood_at_scorers_is_ready_only_once_it_read_the_reference_topic(tmp_path):
    metrics = Metrics()
    build_app(Settings.load(embedder={"name": "hashing"}, kafka={"state_dir": str(tmp_path)},
                            scale={"preselect": True, "ood_at_scorers": True}), metrics)
    metrics.readiness.mark("joined")
    metrics.readiness.mark("model_loaded")
    assert metrics.readiness.missing() == ["reference_loaded"]
    plain = Metrics()
    build_app(Settings.load(embedder={"name": "hashing"}, kafka={"state_dir": str(tmp_path)}),
              plain)
    assert plain.readiness.missing() == ["joined", "model_loaded"]
