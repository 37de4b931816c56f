"""``scale.drift_at_scorers`` on the real broker: the scorer sums the drift features of the
candidates it forwards, per block, and forwards the sums with each record on ``control``; the
coordinator's test of the whole stream reads them and raises a ``drift_alarm`` event. News
texts (AG News) first, where nothing is raised, then voice commands (SNIPS), which move the
stream."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from stream_al.stream.messages import CONTROL, Event, ScoredBatchRecord, parse
from tests.stream import harness
from tests.stream.harness import read_topic, run_cli, wait_for

pytestmark = pytest.mark.kafka

NEWS, OTHER = 700, 400


def _slice_csv(name: str, n: int, path: Path) -> Path:
    with (harness.AG_NEWS.parent / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(itertools.islice(csv.DictReader(f), 0, n))
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, ["text", "label"])
        out.writeheader()
        out.writerows(rows)
    return path


def _forwarded(bootstrap: str, topic: str) -> list[ScoredBatchRecord]:
    return [x for r in read_topic(bootstrap, topic, timeout_s=5)
            if isinstance(x := parse(CONTROL, r.value), ScoredBatchRecord) and x.ids]


def _alarms(bootstrap: str, topic: str) -> list[dict]:
    return [e.detail for r in read_topic(bootstrap, topic, timeout_s=5)
            if (e := parse(Event, r.value)).kind == "drift_alarm"]


def test_the_scorers_alarm_on_a_new_domain_reaches_the_coordinator_and_none_before(
        kafka_bootstrap, tmp_path):
    config = harness.pipeline_config(
        kafka_bootstrap, tmp_path, embedder={"name": "static"},
        budget={"fraction": 0.1, "warmup_labels": 4},
        drift={"reference_items": 100, "window_items": 50, "check_every": 25},
        scale={"preselect": True, "drift_at_scorers": True, "precision": "int8"})
    topics = harness.settings_of(config)["kafka"]["topics"]
    other = _slice_csv("snips", OTHER, tmp_path / "snips.csv")
    with harness.Worker(config, tmp_path / "worker.log"):
        assert harness.produce_ag(config, NEWS, "news").returncode == 0
        wait_for(lambda: sum(len(x.ids) for x in _forwarded(
            kafka_bootstrap, topics["control"])) >= 160, 90,
            "news candidates tested (the reference window and one window after it)")
        forwarded = _forwarded(kafka_bootstrap, topics["control"])
        assert all(x.drift is not None for x in forwarded)  # every record carries its sums
        assert not _alarms(kafka_bootstrap, topics["events"])  # news after news: no drift
        done = run_cli("produce", "--config", str(config), "--data", str(other),
                       "--id-prefix", "snips")
        assert done.returncode == 0, done.stderr
        alarms = wait_for(lambda: _alarms(kafka_bootstrap, topics["events"]), 90,
                          "a drift alarm after the voice commands")
    assert {a["detector"] for a in alarms} >= {"embedding_mmd"}
    # at its stream position, after every news text (the monitor itself counts candidates)
    assert all(a["position"] >= NEWS for a in alarms if a["detector"] == "embedding_mmd")
    # the records carry sums of every candidate in blocks of at most 10, no windows of rows
    # (the region is made at the coordinator, from the candidates it holds)
    forwarded = [x for x in _forwarded(kafka_bootstrap, topics["control"]) if x.drift]
    assert all(sum(x.drift.counts) == len(x.ids) for x in forwarded)
    assert all(len(x.drift.counts) == -(-len(x.ids) // 10) for x in forwarded)
