"""Two-level selection on the real broker: the scorer sends only candidates, compactly, and
the coordinator still counts every text in the one budget."""

from __future__ import annotations

import json

import pytest

from stream_al.stream.messages import CONTROL, Ledger, ScoredBatchRecord, parse
from tests.stream import harness
from tests.stream.harness import read_topic, wait_for

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
    selected = [json.loads(r.value)["item_id"]
                for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]
    assert len(set(selected)) == len(selected) <= FRACTION * N_TEXTS + WARMUP
