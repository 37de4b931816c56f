"""On the real broker: k-annotator items, adjudicated and learned once; the vendor file round
trip (``stream-al labels export-batch`` / ``import``); escalation to the expert topic; a later
label that changes a verdict; annotator accuracy on gold on ``/metrics``."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stream_al.annotation.adjudication import majority_many
from stream_al.labels import Label
from stream_al.stream.messages import Event, ExpertRequest, ModelUpdate, SelectedItem, parse
from tests.stream.harness import (
    AG_NEWS,
    REPO,
    Worker,
    pipeline_config,
    read_topic,
    run_cli,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

N_TEXTS = 300
ANNOTATION = {"gold_fraction": 0.3, "gold_annotators": 3, "adjudication": "majority",
              "min_confidence": 0.6, "expert_annotators": ["expert-1"], "noise_check": False}


def labels_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream_al.cli", "labels", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def gold() -> dict[str, str]:
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        return {f"ag-{n}": r["label"] for n, r in zip(range(N_TEXTS), csv.DictReader(f),
                                                      strict=False)}


def other(label: str) -> str:
    return "Sports" if label != "Sports" else "World"


def answer(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["item_id", "label", "annotator_id", "timestamp"])
        writer.writeheader()
        writer.writerows(rows)


def latest_model(bootstrap: str, topic: str) -> ModelUpdate | None:
    records = read_topic(bootstrap, topic, timeout_s=5)
    return parse(ModelUpdate, records[-1].value) if records else None


def test_k_annotator_items_are_adjudicated_and_learned_once(kafka_bootstrap, tmp_path):
    config = pipeline_config(kafka_bootstrap, tmp_path, annotation=ANNOTATION)
    topics = settings_of(config)["kafka"]["topics"]
    common = ("--config", str(config))
    with Worker(config, tmp_path / "worker.log") as worker:
        done = run_cli("produce", *common, "--data", str(AG_NEWS), "--limit", str(N_TEXTS),
                       "--id-prefix", "ag")
        assert done.returncode == 0, done.stderr
        wait_for(lambda: worker.metric("stream_al_budget_spent_labels") >= 0.1 * N_TEXTS - 3,
                 90, "the budget to be spent")
        time.sleep(4)  # the idle flush (2 s) spends what is left

        # the selected items say how many labels they want, and cost that many
        out = tmp_path / "batch.csv"
        exported = labels_cli("export-batch", *common, "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        with out.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        items = [parse(SelectedItem, r.value)
                 for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]
        assert sorted(r["item_id"] for r in rows) == sorted(i.item_id for i in items)
        wanted = {i.item_id: i.annotators for i in items}
        assert set(wanted.values()) == {1, 3}
        assert all(i.cost == i.annotators for i in items)
        spent = worker.metric("stream_al_budget_spent_labels")
        assert spent == pytest.approx(sum(i.cost for i in items))  # k labels charged k times
        assert spent <= 0.1 * N_TEXTS + 4 + 1e-6

        # a vendor answers in the file: gold labels, but every third 3-label item split 1:1:1
        truth, answers = gold(), []
        triple = [i for i, k in wanted.items() if k == 3]
        split = set(triple[::3])
        for item_id, k in wanted.items():
            for n in range(k):
                label = truth[item_id]
                if item_id in split:
                    label = [truth[item_id], other(truth[item_id]), "Business" if truth[item_id]
                             != "Business" else "Sci/Tech"][n]
                answers.append({"item_id": item_id, "label": label, "annotator_id": f"v{n + 1}",
                                "timestamp": 1_764_000_000 + 10 * len(answers)})
        answered = tmp_path / "answers.csv"
        answer(answered, [*answers, {"item_id": "ag-999999", "label": "World",
                                     "annotator_id": "v1", "timestamp": "yesterday"}])
        refused = labels_cli("import", str(answered), *common)
        assert refused.returncode == 1
        assert f"line {len(answers) + 2}" in refused.stdout and "nothing was imported" in \
            refused.stdout
        assert read_topic(kafka_bootstrap, topics["labels"], timeout_s=3) == []

        answer(answered, answers)
        imported = labels_cli("import", str(answered), *common)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert f"{len(answers)} labels sent" in imported.stdout
        again = labels_cli("import", str(answered), *common)
        assert f"0 labels sent; {len(answers)} already on the topic" in again.stdout

        # learned once per item: the adjudicated label of every item that is not escalated
        stored = [Label(a["item_id"], a["label"], a["annotator_id"], a["timestamp"])
                  for a in answers]
        verdicts = majority_many(stored, min_confidence=0.6)
        trusted = {i for i, v in verdicts.items() if v.trusted}
        assert {i for i, v in verdicts.items() if not v.trusted} == split
        model = wait_for(lambda: (m := latest_model(kafka_bootstrap, topics["models"]))
                         and m.n_labels == len(trusted) and m, 60,
                         f"a model that learned {len(trusted)} verdicts")
        assert model.n_labels < len(answers)
        def expert_requests() -> list[ExpertRequest]:
            return [parse(ExpertRequest, r.value)
                    for r in read_topic(kafka_bootstrap, topics["expert"], timeout_s=3)]

        requests = wait_for(lambda: (x := expert_requests()) and {r.item_id for r in x} == split
                            and x, 30, "an expert request for each split item")
        assert all(r.reason == "disagreement" and len(r.annotators) == 3 for r in requests)

        # the expert settles the split items; a 1-label item gets two later, different labels
        changed = next(i for i, k in wanted.items() if k == 1)
        late = [{"schema_version": 1, "item_id": i, "label": truth[i], "annotator_id": "expert-1",
                 "timestamp": 1_764_100_000} for i in sorted(split)]
        late += [{"schema_version": 1, "item_id": changed, "label": other(truth[changed]),
                  "annotator_id": f"v{n}", "timestamp": 1_764_100_000} for n in (2, 3)]
        jsonl = tmp_path / "late.jsonl"
        jsonl.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in late))
        assert labels_cli("import", str(jsonl), *common).returncode == 0
        final = wait_for(lambda: (m := latest_model(kafka_bootstrap, topics["models"]))
                         and m.n_labels == len(trusted) + len(split) and m.version > model.version
                         and m, 60, "a model that learned the experts' verdicts")
        assert final.n_labels == len(wanted)  # every item learned, once, by its verdict

        def changes() -> list[Event]:
            events = (parse(Event, r.value)
                      for r in read_topic(kafka_bootstrap, topics["events"], timeout_s=3))
            return [e for e in events if e.kind == "verdicts_changed" and changed in e.item_ids]

        wait_for(changes, 30, f"the changed verdict of {changed} reported")
        wait_for(lambda: (m := latest_model(kafka_bootstrap, topics["models"]))
                 and m.n_labels == len(wanted), 30, "the relearned model")
        # the split items are gold now: v1 was right on each, v2 wrong (Beta(1, 1) posterior)
        s = len(split)
        v1 = wait_for(lambda: worker.metric("stream_al_annotator_accuracy_ratio",
                                            annotator="v1"), 20, "v1's accuracy on gold")
        assert v1 == pytest.approx((s + 1) / (s + 2))
        assert worker.metric("stream_al_annotator_accuracy_ratio",
                             annotator="v2") == pytest.approx(1 / (s + 2))


def test_a_budget_in_annotator_minutes_prices_items_by_length(kafka_bootstrap, tmp_path):
    """The worker's budget in minutes: each selected item costs its predicted reading time
    (6 s + 0.06 s per character, in ledger units of a 200-character item), and the minutes
    spent stay within 2 minutes per 100 stream items."""
    config = pipeline_config(kafka_bootstrap, tmp_path, cost={
        "unit": "minutes", "amount": 2.0, "period_items": 100, "reference_chars": 200})
    topics = settings_of(config)["kafka"]["topics"]
    with Worker(config, tmp_path / "worker.log") as worker:
        done = run_cli("produce", "--config", str(config), "--data", str(AG_NEWS), "--limit",
                       "200", "--id-prefix", "ag")
        assert done.returncode == 0, done.stderr
        minutes = wait_for(lambda: worker.metric("stream_al_budget_spent_minutes") > 2.0,
                           90, "minutes to be spent")
        time.sleep(4)  # the idle flush
        items = [parse(SelectedItem, r.value)
                 for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]
        typical = 6 + 0.06 * 200
        for item in items:
            assert item.cost == pytest.approx((6 + 0.06 * len(item.text)) / typical, rel=1e-4)
        minutes = worker.metric("stream_al_budget_spent_minutes")
        assert minutes == pytest.approx(sum(i.cost for i in items) * typical / 60, rel=1e-4)
        assert minutes <= 2.0 * 200 / 100 + 4 * typical / 60 + 1e-6  # + the 4 warm-up labels
