"""kill -9 the worker holding the coordinator while it holds state that used to live only in
memory; a new worker rebuilds it from the topics and goes on as the first would have:

- items held for an expert stay held (not learned), their requests are not sent twice, and
  the experts' answers are learned after the restart;
- no budget window overspends, although the restart replays texts across window boundaries;
- a drift response in progress goes on (its clock and its exploration), not forgotten.
"""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import orjson
import pytest

from stream_al.annotation.adjudication import majority_many
from stream_al.labels import Label
from stream_al.stream.messages import Event, ExpertRequest, Ledger, ModelUpdate, SelectedItem, parse
from tests.stream.harness import (
    AG_NEWS,
    Worker,
    pipeline_config,
    read_topic,
    run_cli,
    settings_of,
    wait_for,
)
from tests.stream.test_annotation_pipeline import ANNOTATION, answer, gold, labels_cli, other
from tests.stream.test_restart import settled

pytestmark = pytest.mark.kafka

WINDOW, FRACTION, WARMUP = 100, 0.1, 4


class Topics:
    def __init__(self, bootstrap: str, config: Path) -> None:
        self.bootstrap, self.names = bootstrap, settings_of(config)["kafka"]["topics"]

    def read(self, topic: str, model: type) -> list:
        return [x for r in read_topic(self.bootstrap, self.names[topic], timeout_s=5)
                if not isinstance(x := parse(model, r.value), Exception) and isinstance(x, model)]

    def selected(self) -> list[SelectedItem]:
        return self.read("selected", SelectedItem)

    def latest_model(self) -> ModelUpdate | None:
        models = self.read("models", ModelUpdate)
        return models[-1] if models else None

    def restored(self) -> list[dict]:
        return [e.detail for e in self.read("events", Event) if e.kind == "restored"]

    def ledgers(self) -> list[Ledger]:
        return [parse(Ledger, r.value)
                for r in read_topic(self.bootstrap, self.names["state"], timeout_s=5)
                if r.key == b"ledger"]


def produce(config: Path, data: Path, limit: int, prefix: str, *extra: str) -> None:
    done = run_cli("produce", "--config", str(config), "--data", str(data), "--limit", str(limit),
                   "--id-prefix", prefix, *extra)
    assert done.returncode == 0, done.stderr


def test_held_items_and_window_budgets_survive_a_killed_worker(kafka_bootstrap, tmp_path):
    config = pipeline_config(kafka_bootstrap, tmp_path, annotation=ANNOTATION,
                             budget={"window_items": WINDOW}, kafka={"batch_max": 20})
    # (batches smaller than a window: a batch longer than a window skips windows' allowances)
    topics, common = Topics(kafka_bootstrap, config), ("--config", str(config))
    first = Worker(config, tmp_path / "first.log")
    try:
        produce(config, AG_NEWS, 300, "ag")
        wait_for(lambda: len(topics.selected()) >= 20, 90, "20 items bought")
        items = settled(topics.selected)
        wanted = {i.item_id: i.annotators for i in items}
        # every third 3-label item split 1:1:1 (held for the expert), the others gold
        truth, answers = gold(), []
        triple = [i for i, k in wanted.items() if k == 3]
        split = set(triple[::3])
        assert split, f"no 3-label item among {wanted}"
        for item_id, k in wanted.items():
            for n in range(k):
                label = truth[item_id]
                if item_id in split:
                    label = [label, other(label), "Business" if label != "Business"
                             else "Sci/Tech"][n]
                answers.append({"item_id": item_id, "label": label, "annotator_id": f"v{n + 1}",
                                "timestamp": 1_764_000_000 + 10 * len(answers)})
        answer(tmp_path / "answers.csv", answers)
        assert labels_cli("import", str(tmp_path / "answers.csv"), *common).returncode == 0
        stored = [Label(a["item_id"], a["label"], a["annotator_id"], a["timestamp"])
                  for a in answers]
        trusted = [i for i, v in majority_many(stored, min_confidence=0.6).items() if v.trusted]
        before = wait_for(lambda: (m := topics.latest_model()) and m.n_labels == len(trusted)
                          and m, 60, f"a model of the {len(trusted)} trusted verdicts")
        requests = wait_for(lambda: (x := topics.read("expert", ExpertRequest))
                            and {r.item_id for r in x} == split and x, 30,
                            "an expert request for each split item")
    finally:
        first.stop(signal.SIGKILL)

    with Worker(config, tmp_path / "second.log"):
        produce(config, AG_NEWS, 600, "ag")  # rows 300-599 are new: the partition moves on
        restored = wait_for(lambda: [d for d in topics.restored() if d["selected"] > 0], 90,
                            "the second worker to rebuild the coordinator")[-1]
        assert restored["selected"] == len(items)
        after = wait_for(lambda: (m := topics.latest_model()) and m.version > before.version
                         and m, 30, "the model published after the rebuild")
        assert after.n_labels == len(trusted)  # the held items are still not learned
        assert len(topics.read("expert", ExpertRequest)) == len(requests)  # not asked twice

        late = [{"schema_version": 1, "item_id": i, "label": truth[i], "annotator_id": "expert-1",
                 "timestamp": 1_764_100_000} for i in sorted(split)]
        (tmp_path / "experts.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in late))
        assert labels_cli("import", str(tmp_path / "experts.jsonl"), *common).returncode == 0
        wait_for(lambda: (m := topics.latest_model()) and m.n_labels == len(trusted) + len(split),
                 60, "the experts' answers learned after the restart")

        bought = settled(lambda: [s for s in topics.selected() if s.item_id not in wanted])
        assert bought, "nothing bought after the restart"
        everything = topics.selected()
        assert len({s.item_id for s in everything}) == len(everything), "an item bought twice"
        per_window: dict[int, float] = {}
        for s in everything:
            assert s.window >= 0
            per_window[s.window] = per_window.get(s.window, 0.0) + s.cost
        assert max(per_window.values()) <= FRACTION * WINDOW + WARMUP + 1e-6, per_window


def rows_of(label: str, n: int, skip: int = 0) -> list[dict]:
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == label]
    return rows[skip:skip + n]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_drift_response_in_progress_goes_on_after_a_killed_worker(kafka_bootstrap, tmp_path):
    config = pipeline_config(
        kafka_bootstrap, tmp_path, embedder={"name": "static"},
        annotation={"learn_from": "labels"}, ood={"max_share": 0.0},
        drift={"reference_items": 200, "window_items": 100, "check_every": 50,
               "permutations": 200, "response_items": 600, "max_credit": 10.0},
    )
    topics = Topics(kafka_bootstrap, config)
    sports = write_csv(tmp_path / "sports.csv", rows_of("Sports", 400))
    world = write_csv(tmp_path / "world.csv", rows_of("World", 600))
    first = Worker(config, tmp_path / "first.log")
    try:
        produce(config, sports, 400, "sports")
        # the World texts come after the Sports ones are counted: in one scored batch with them,
        # the response's clock would start at the batch's first (Sports) text, not at the drift
        wait_for(lambda: (x := topics.ledgers()) and x[-1].seen >= 400, 90,
                 "the Sports texts counted")
        produce(config, world, 150, "world")
        # an alarm among the Sports texts (a false one, or the error test's) would start a
        # response of its own that ends before the World texts are all in: wait for theirs
        wait_for(lambda: [e for e in topics.read("events", Event) if e.kind == "drift_alarm"
                          and e.detail["position"] >= 400], 120, "a drift alarm on the World texts")
        responding = wait_for(lambda: (x := topics.ledgers()) and x[-1].drift_elapsed >= 0
                              and x[-1].seen - x[-1].drift_elapsed >= 400 and x[-1], 60,
                              "a ledger written during the World alarm's response")
    finally:
        first.stop(signal.SIGKILL)
    assert responding.drift_elapsed < 600

    with Worker(config, tmp_path / "second.log"):
        produce(config, world, 300, "world")  # 150 new World texts
        wait_for(lambda: [d for d in topics.restored() if d["selected"] > 0], 90,
                 "the second worker to rebuild the coordinator")
        later = wait_for(lambda: (x := topics.ledgers()) and x[-1].control_offset
                         > responding.control_offset and x[-1].seen >= responding.seen + 100
                         and x[-1], 90, "the new World texts counted")
        assert later.drift_elapsed > responding.drift_elapsed  # the same response, going on
        before_kill = {s.item_id for s in topics.selected()
                       if s.item_id.startswith("world-") and int(s.item_id[6:]) < 150}
        explored = [s for s in topics.selected() if s.reason == "drift_explore"
                    and s.item_id not in before_kill]
        assert explored, "the response bought nothing in the drifting region after the restart"


def test_the_budget_pacer_goes_on_after_a_killed_worker(kafka_bootstrap, tmp_path):
    """The pacer's state rides in the ledger (issue 18): the new worker's pacer counts on from
    the first one's purchases and stream position, and its control trickle from its position
    (a pacer started afresh would count from nothing)."""
    config = pipeline_config(kafka_bootstrap, tmp_path,
                             pacing={"enabled": True, "check_every": 50})
    topics = Topics(kafka_bootstrap, config)
    first = Worker(config, tmp_path / "first.log")
    try:
        produce(config, AG_NEWS, 300, "ag")
        before = wait_for(lambda: (x := topics.ledgers()) and x[-1].seen >= 300
                          and x[-1].pacing is not None and x[-1], 90, "the texts counted")
    finally:
        first.stop(signal.SIGKILL)
    paced = before.pacing["pacer"]
    assert paced["spent_items"] > 0 and paced["position"] >= 300

    with Worker(config, tmp_path / "second.log"):
        produce(config, AG_NEWS, 150, "more")
        wait_for(lambda: [d for d in topics.restored() if d["selected"] > 0], 90,
                 "the second worker to rebuild the coordinator")
        later = wait_for(lambda: (x := topics.ledgers()) and x[-1].seen >= before.seen + 150
                         and x[-1], 90, "the new texts counted")
    assert later.pacing["pacer"]["spent_items"] > paced["spent_items"]
    assert later.pacing["pacer"]["position"] >= paced["position"] + 150
    assert later.pacing["control"]["seen"] >= before.pacing["control"]["seen"] + 150
    bought = len({s.item_id for s in topics.selected()})
    assert later.pacing["pacer"]["spent_items"] <= bought  # counted once, not again at restore
