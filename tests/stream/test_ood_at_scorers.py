"""``scale.ood_at_scorers`` on the real broker: the coordinator writes every labelled row to
the ``reference`` topic (one int8 row per ring slot), the scorer reads them and checks the
candidates it forwards. News texts are labelled; news that follows sets the scorer's threshold,
and voice commands (SNIPS) after it reach ``control`` flagged by the scorer, some bought as
``ood``. (Banking77 queries lie as near the news rows as news does in the static embedder's
space: 8% beyond the news threshold, against 60% for SNIPS, measured offline for this test.)"""

from __future__ import annotations

import csv
import itertools
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from stream_al.select.ood_cap import OOD_REASON
from stream_al.select.ood_check import OOD_FLAG
from stream_al.stream.messages import CONTROL, DeadLetter, ScoredBatchRecord, SelectedItem, parse
from stream_al.stream.reference import ReferenceRow, parse_row
from tests.stream import harness
from tests.stream.harness import read_topic, run_cli, send_raw, wait_for

pytestmark = pytest.mark.kafka

NEWS, MORE_NEWS, OTHER, MIN_LABELS = 400, 600, 200, 20


def _slice_csv(name: str, start: int, n: int, path: Path) -> Path:
    """Rows ``start`` to ``start + n`` of a shared dataset, as a file to produce."""
    with (harness.AG_NEWS.parent / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        rows = list(itertools.islice(csv.DictReader(f), start, start + n))
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, ["text", "label"])
        out.writeheader()
        out.writerows(rows)
    return path


def _produce(config: Path, data: Path, prefix: str) -> None:
    done = run_cli("produce", "--config", str(config), "--data", str(data), "--id-prefix", prefix)
    assert done.returncode == 0, done.stderr


def _ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200
    except urllib.error.HTTPError:
        return False


def _forwarded(bootstrap: str, topic: str) -> list[ScoredBatchRecord]:
    return [x for r in read_topic(bootstrap, topic, timeout_s=5)
            if isinstance(x := parse(CONTROL, r.value), ScoredBatchRecord) and x.ids]


def _selected(bootstrap: str, topic: str) -> list[SelectedItem]:
    return [parse(SelectedItem, r.value) for r in read_topic(bootstrap, topic, timeout_s=5)]


def _rows(bootstrap: str, topic: str) -> list[ReferenceRow]:
    """The usable rows on ``topic``, in offset order."""
    return [r for x in read_topic(bootstrap, topic, timeout_s=5)
            if isinstance(r := parse_row(x.key, x.value), ReferenceRow)]


def _news_labelled(worker: harness.Worker, config: Path, bootstrap: str,
                   topics: dict[str, str]) -> tuple[list[SelectedItem], list[ReferenceRow]]:
    """The first news texts produced, the budget spent on them, the vendor's answers learned:
    the items bought and the rows on ``reference`` once there is one for each."""
    assert harness.produce_ag(config, NEWS, "news").returncode == 0
    news = wait_for(lambda: (s := _selected(bootstrap, topics["selected"]))
                    and worker.metric("stream_al_budget_spent_labels") >= 0.1 * NEWS and s,
                    90, "the budget spent on news")
    vendor = harness.answer_ag(config, "news", "--max-labels", str(len(news)), "--max-idle", "10")
    assert vendor.returncode == 0, vendor.stderr
    rows = wait_for(lambda: len(r := _rows(bootstrap, topics["reference"])) >= len(news) and r,
                    60, "a reference row for every label learned")
    return news, rows


def test_labelled_rows_reach_the_scorer_and_a_new_domain_is_forwarded_flagged_and_bought(
        kafka_bootstrap, tmp_path):
    config = harness.pipeline_config(
        kafka_bootstrap, tmp_path, embedder={"name": "static"},
        budget={"fraction": 0.1, "warmup_labels": 4},
        scale={"preselect": True, "ood_at_scorers": True, "precision": "int8"},
        ood={"min_labels": MIN_LABELS, "max_share": 0.5, "cap_window_items": 200,
             "burst_confidence": 0.0})
    topics = harness.settings_of(config)["kafka"]["topics"]
    more = _slice_csv("ag_news", NEWS, MORE_NEWS, tmp_path / "more.csv")
    other = _slice_csv("snips", 0, OTHER, tmp_path / "snips.csv")
    with harness.Worker(config, tmp_path / "worker.log") as worker:
        wait_for(lambda: _ready(worker.port), 60, "the worker ready: it read the reference topic")
        news, rows = _news_labelled(worker, config, kafka_bootstrap, topics)
        assert all(isinstance(r, ReferenceRow) for r in rows)
        assert {r.count for r in rows} == set(range(len(news)))  # numbered 0, 1, ... in order
        assert all(r.slot == r.count for r in rows)  # fewer than ood.capacity
        _produce(config, more, "more")  # news the scorer checks: its threshold's sample
        wait_for(lambda: sum(i.startswith("more-") for x in _forwarded(
            kafka_bootstrap, topics["control"]) for i in x.ids) >= 100, 60,
            "news candidates checked (the threshold's sample)")
        _produce(config, other, "snips")
        bought = wait_for(lambda: [s for s in _selected(kafka_bootstrap, topics["selected"])
                                   if s.item_id.startswith("snips-") and s.reason == OOD_REASON],
                          90, "voice commands bought as ood")
    flags = {i: f for x in _forwarded(kafka_bootstrap, topics["control"])
             for i, f in zip(x.ids, x.scores[OOD_FLAG], strict=True)}
    share = {prefix: np.mean([f == 1.0 for i, f in flags.items() if i.startswith(prefix)])
             for prefix in ("more-", "snips-")}
    # in-domain news is flagged near 1 - ood.quantile (5%), but that threshold is a quantile of
    # the scorer's first ~100 candidates and the labelled rows grow meanwhile: 7-16% seen (CI
    # printed 0.158 once); the new domain is flagged several times as often (68-74%)
    assert share["snips-"] >= 0.3 and share["more-"] <= 0.25, share
    assert share["snips-"] >= 3 * share["more-"], share
    assert all(flags[s.item_id] == 1.0 for s in bought)


def test_a_restarted_coordinator_writes_its_rows_again_under_the_same_numbers_and_numbers_on(
        kafka_bootstrap, tmp_path):
    """The second worker rebuilds the coordinator from the topics: its first transaction writes
    the rows of the labels it restored under their numbers, the next labels' rows number on.
    A stray record on the topic is dead-lettered by the scorer, which reads on."""
    config = harness.pipeline_config(
        kafka_bootstrap, tmp_path, scale={"preselect": True, "ood_at_scorers": True})
    topics = harness.settings_of(config)["kafka"]["topics"]
    with harness.Worker(config, tmp_path / "first.log") as worker:
        news, _ = _news_labelled(worker, config, kafka_bootstrap, topics)
    send_raw(kafka_bootstrap, topics["reference"], [(b"7", b'{"not": "a row"}')])  # a stray
    with harness.Worker(config, tmp_path / "second.log") as worker:
        wait_for(lambda: _ready(worker.port), 60, "the restarted worker ready")
        letters = wait_for(lambda: [x for r in read_topic(kafka_bootstrap, topics["deadletter"],
                                                          timeout_s=5)
                                    if (x := parse(DeadLetter, r.value)).topic
                                    == topics["reference"]], 30, "the stray record dead-lettered")
        assert [x.reason for x in letters] == ["invalid_field"]
        rows = wait_for(lambda: len(r := _rows(kafka_bootstrap, topics["reference"]))
                        >= 2 * len(news) and r, 60, "the rebuilt coordinator's rows")
        assert [r.count for r in rows] == [*range(len(news))] * 2  # the same numbers again
        _produce(config, _slice_csv("ag_news", NEWS, 200, tmp_path / "more.csv"), "more")
        more = wait_for(lambda: [s for s in _selected(kafka_bootstrap, topics["selected"])
                                 if s.item_id.startswith("more-")], 60, "more news bought")
        vendor = harness.run_cli("vendor", "--config", str(config), "--gold",
                                 str(tmp_path / "more.csv"), "--id-prefix", "more",
                                 "--group", "vendor-more", "--max-labels", str(len(more)),
                                 "--max-idle", "10")
        assert vendor.returncode == 0, vendor.stderr
        rows = wait_for(lambda: len(r := _rows(kafka_bootstrap, topics["reference"]))
                        >= 2 * len(news) + len(more) and r, 60, "rows of the new labels")
    assert [r.count for r in rows[2 * len(news):]] == list(range(len(news), len(news) + len(more)))
