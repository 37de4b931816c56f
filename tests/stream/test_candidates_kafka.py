"""Two-level selection on the real broker: the scorer sends only candidates, compactly (int8
rows in a binary envelope), and the coordinator still counts every text in the one budget; a
malformed envelope on ``control`` is dead-lettered with its reason and the coordinator goes on."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.score.batch import score_many
from stream_al.stream.envelope import READS
from stream_al.stream.messages import CONTROL, DeadLetter, Ledger, ScoredBatchRecord, parse
from stream_al.stream.topics import ensure_topics
from tests.stream import harness
from tests.stream.harness import read_topic, send_raw, wait_for

pytestmark = pytest.mark.kafka

N_TEXTS, FRACTION, WARMUP = 400, 0.1, 4


def test_only_candidates_reach_control_and_the_ledger_counts_every_text(kafka_bootstrap, tmp_path):
    config = harness.pipeline_config(kafka_bootstrap, tmp_path, budget={"fraction": FRACTION},
                             scale={"preselect": True, "candidate_multiple": 2.0,
                                    "precision": "int8"})
    topics = harness.settings_of(config)["kafka"]["topics"]
    with harness.Worker(config, tmp_path / "worker.log"):
        done = harness.produce_ag(config, N_TEXTS, "cand")
        assert done.returncode == 0, done.stderr
        ledger = wait_for(
            lambda: (records := read_topic(kafka_bootstrap, topics["state"], timeout_s=5))
            and (last := [parse(Ledger, r.value) for r in records if r.key == b"ledger"])
            and last[-1].seen >= N_TEXTS and last[-1],
            90, "a ledger that counted every text")
    scored = [x for r in read_topic(kafka_bootstrap, topics["control"], timeout_s=5)
              if isinstance(x := parse(CONTROL, r.value), ScoredBatchRecord)]
    forwarded = sum(len(x.ids) for x in scored)
    assert sum(count for x in scored for *_, count in x.spans) == ledger.seen == N_TEXTS
    assert forwarded < 0.5 * N_TEXTS
    assert {x.precision for x in scored} == {"int8"}
    assert all(x.binary for x in scored)  # scale.envelope: deflated, the default
    selected = [json.loads(r.value)["item_id"]
                for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]
    assert len(set(selected)) == len(selected) <= FRACTION * N_TEXTS + WARMUP


def _ledger_seen(bootstrap: str, topic: str) -> int:
    ledgers = [parse(Ledger, r.value) for r in read_topic(bootstrap, topic, timeout_s=5)
               if r.key == b"ledger"]
    return ledgers[-1].seen if ledgers else 0


def test_a_malformed_binary_envelope_on_control_is_dead_lettered_and_the_next_records_count(
        kafka_bootstrap, tmp_path):
    config = harness.pipeline_config(kafka_bootstrap, tmp_path, budget={"fraction": FRACTION},
                                     scale={"preselect": True, "precision": "int8"})
    topics = harness.settings_of(config)["kafka"]["topics"]
    good = ScoredBatchRecord.of("bad-1", ["bad-a", "bad-b"], ["x", "y"],
                                np.ones((2, 256), dtype=np.float32), {}, 0, np.ones(2), 0.0,
                                [(0, 10**6), (0, 10**6 + 1)], precision="int8",
                                envelope="binary").to_bytes()
    future = good[:4] + bytes([max(READS) + 1]) + good[5:]  # a version this worker does not read
    cut = good[:-5]  # its last row's scale is missing
    # had either been read, its offsets (10**6) would hide every real text of partition 0
    with harness.Worker(config, tmp_path / "worker.log"):
        send_raw(kafka_bootstrap, topics["control"], [(b"bad-1", future), (b"bad-1", cut)])
        done = harness.produce_ag(config, N_TEXTS, "env")
        assert done.returncode == 0, done.stderr
        wait_for(lambda: _ledger_seen(kafka_bootstrap, topics["state"]) >= N_TEXTS, 90,
                 "a ledger that counted every text after the bad records")
    letters = [x for r in read_topic(kafka_bootstrap, topics["deadletter"], timeout_s=5)
               if (x := parse(DeadLetter, r.value)).topic == topics["control"]]
    assert sorted(x.reason for x in letters) == ["invalid_field", "wrong_schema_version"]
    assert all(x.raw_encoding == "base64" for x in letters)  # the envelope is not UTF-8
    assert {base64.b64decode(x.raw) for x in letters} == {future, cut}
    assert _ledger_seen(kafka_bootstrap, topics["state"]) == N_TEXTS  # the bad ones counted none


def test_with_control_merge_runs_of_records_are_selected_as_one_and_counted_once(
        kafka_bootstrap, tmp_path):
    """kafka.control_merge 4: eight candidate records already waiting on ``control`` are read
    together and selected in runs (a ledger's control offset jumps by more than one); the
    ledger still counts every text once, and nothing is bought twice."""
    dim, waiting, texts_each = 512, 8, 100  # the hashing embedder's width
    config = harness.pipeline_config(
        kafka_bootstrap, tmp_path, budget={"fraction": FRACTION},
        scale={"preselect": True, "precision": "int8"},
        kafka={"control_merge": 4, "control_within_s": 0.5})
    topics = harness.settings_of(config)["kafka"]["topics"]
    rng = np.random.default_rng(0)
    records = []
    for k in range(waiting):  # texts partition 99 (not a real one): their offsets hide nothing
        first = k * texts_each
        ids = [f"early-{k}-{i}" for i in range(5)]
        X = rng.normal(size=(5, dim)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        records.append((ids[0].encode(), ScoredBatchRecord.of(
            f"early-{k}", ids, [f"an early text {k} {i}" for i in range(5)],
            X, score_many(ModelSnapshot.empty(dim), X), 0, np.ones(5), 0.0,
            [(99, first + i) for i in range(5)], precision="int8", weights=np.full(5, 20.0),
            spans=[(99, first, first + texts_each - 1, texts_each)]).to_bytes()))
    ensure_topics(Settings.load(config).kafka)  # control with its one partition
    send_raw(kafka_bootstrap, topics["control"], records)
    with harness.Worker(config, tmp_path / "worker.log"):
        done = harness.produce_ag(config, N_TEXTS, "merge")
        assert done.returncode == 0, done.stderr
        expected = N_TEXTS + waiting * texts_each
        wait_for(lambda: _ledger_seen(kafka_bootstrap, topics["state"]) >= expected, 90,
                 "a ledger that counted every text")
    ledgers = [parse(Ledger, r.value) for r in read_topic(kafka_bootstrap, topics["state"],
                                                          timeout_s=5) if r.key == b"ledger"]
    assert ledgers[-1].seen == expected
    offsets = [x.control_offset for x in ledgers]
    assert any(b - a > 1 for a, b in zip(offsets, offsets[1:], strict=False))  # a run
    selected = [json.loads(r.value)["item_id"]
                for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]
    assert len(set(selected)) == len(selected) <= FRACTION * expected + WARMUP
