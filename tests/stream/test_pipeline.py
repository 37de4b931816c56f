"""End to end on the real broker: texts in, items to the vendor, labels back, new models out.

One worker (a subprocess) serves the whole module; each test uses its own item ids.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from stream_al.config import EmbedderSettings, KafkaSettings
from stream_al.embed import make_embedder
from stream_al.stream import clients
from stream_al.stream.messages import DeadLetter, ModelUpdate, ScoredBatchRecord, parse
from tests.stream.harness import (
    REPO,
    Worker,
    answer_ag,
    pipeline_config,
    produce_ag,
    read_topic,
    send_raw,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

N_TEXTS = 300


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap, tmp_path_factory):
    """A running worker on fresh topics, fed the first 300 rows of AG News (ids ag-<row>)."""
    directory = tmp_path_factory.mktemp("pipeline")
    # the default: verdicts learned once per item; with no expert configured, a label the model
    # doubts (an OOD pick it gets confidently wrong, say) is reported and still learned
    config = pipeline_config(kafka_bootstrap, directory)
    with Worker(config, directory / "worker.log") as worker:
        done = produce_ag(config, N_TEXTS, "ag")
        assert done.returncode == 0, done.stderr
        yield worker, config, settings_of(config)["kafka"]["topics"]


def latest_model(bootstrap: str, topic: str) -> ModelUpdate | None:
    records = read_topic(bootstrap, topic, timeout_s=5)
    return parse(ModelUpdate, records[-1].value) if records else None


def test_texts_lead_to_selected_items_and_labels_to_new_models(pipeline, kafka_bootstrap):
    worker, config, topics = pipeline
    budget = 0.1 * N_TEXTS + 4
    selected = wait_for(
        lambda: (
            worker.metric("stream_al_budget_spent_labels") >= 0.1 * N_TEXTS
            and read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)
        ),
        60,
        "the budget to be spent on selected items",
    )
    items = [json.loads(r.value) for r in selected]
    assert len({i["item_id"] for i in items}) == len(items) <= budget
    assert all(i["item_id"].startswith("ag-") for i in items)

    vendor = answer_ag(config, "ag", "--max-labels", str(len(items)), "--max-idle", "10")
    assert vendor.returncode == 0, vendor.stderr
    assert f"{len(items)} labels sent" in vendor.stdout

    first = wait_for(
        lambda: (
            (m := latest_model(kafka_bootstrap, topics["models"]))
            and m.n_labels >= len(items)
            and m
        ),
        60,
        "a model that learned every label",
    )
    assert first.version >= 1 and len(first.classes) >= 2
    wait_for(
        lambda: worker.metric("stream_al_model_version") >= first.version,
        20,
        "the worker's scorers to use the new model",
    )

    # more texts, more labels: a newer version that predicts differently
    done = produce_ag(config, 200, "more")
    assert done.returncode == 0, done.stderr
    more = wait_for(
        lambda: [
            r
            for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)
            if json.loads(r.value)["item_id"].startswith("more-")
        ],
        60,
        "items selected from the second batch of texts",
    )
    assert all(json.loads(r.value)["model_version"] >= first.version for r in more)
    vendor = answer_ag(
        config, "more", "--group", "vendor-more",
        "--max-labels", str(len(more)), "--max-idle", "10",
    )
    assert vendor.returncode == 0, vendor.stderr
    second = wait_for(
        lambda: (
            (m := latest_model(kafka_bootstrap, topics["models"]))
            and m.version > first.version
            and m.n_labels >= len(items) + len(more)
            and m
        ),
        60,
        "a newer model",
    )
    X = make_embedder(EmbedderSettings(name="hashing")).embed(
        [
            "Stocks fall as oil prices climb",
            "The team won the final in extra time",
            "New chip doubles battery life",
            "Rebels seize the capital",
        ]
    )
    before, after = first.to_snapshot(), second.to_snapshot()
    assert not np.allclose(before.predict_proba_many(X), after.predict_proba_many(X))
    assert worker.process.poll() is None


def test_malformed_messages_are_dead_lettered_and_the_worker_keeps_going(pipeline, kafka_bootstrap):
    worker, _, topics = pipeline
    good = [
        (
            f"dl-{i}".encode(),
            json.dumps(
                {
                    "schema_version": 1,
                    "id": f"dl-{i}",
                    "text": f"Market report number {i} on steel",
                    "source": "test",
                    "timestamp": 1.0,
                }
            ).encode(),
        )
        for i in range(6)
    ]
    bad = [
        b"{not json",
        b"\xff\xfe not utf-8",
        json.dumps(
            {"schema_version": 2, "id": "x", "text": "t", "source": "s", "timestamp": 1}
        ).encode(),
        json.dumps({"schema_version": 1, "id": "x", "source": "s", "timestamp": 1}).encode(),
        json.dumps(
            {"schema_version": 1, "id": "x", "text": "   ", "source": "s", "timestamp": 1}
        ).encode(),
    ]
    interleaved = [
        r
        for pair in zip(good, [(b"dl", v) for v in bad] + [None], strict=True)
        for r in pair
        if r is not None
    ]
    send_raw(kafka_bootstrap, topics["texts"], [(b"dl", v) for _, v in interleaved])
    send_raw(
        kafka_bootstrap,
        topics["labels"],
        [
            (b"x", b"[1, 2]"),
            (
                b"nobody",
                json.dumps(
                    {
                        "schema_version": 1,
                        "item_id": "nobody",
                        "label": "World",
                        "annotator_id": "a",
                        "timestamp": 1.0,
                    }
                ).encode(),
            ),
        ],
    )

    expected = {
        "invalid_json",
        "invalid_utf8",
        "wrong_schema_version",
        "missing_field",
        "empty_text",
        "not_an_object",
        "unknown_item",
    }
    letters = wait_for(
        lambda: (
            (
                found := [
                    parse(DeadLetter, r.value)
                    for r in read_topic(kafka_bootstrap, topics["deadletter"], timeout_s=5)
                ]
            )
            and expected <= {x.reason for x in found}
            and found
        ),
        60,
        f"dead letters with reasons {sorted(expected)}",
    )
    by_reason = {x.reason: x for x in letters}
    assert by_reason["invalid_json"].raw == "{not json"
    assert (
        by_reason["invalid_json"].topic == topics["texts"] and by_reason["invalid_json"].offset >= 0
    )
    assert by_reason["invalid_utf8"].raw_encoding == "base64"
    assert by_reason["unknown_item"].topic == topics["labels"]

    scored_ids = wait_for(
        lambda: (
            (
                ids := {
                    i
                    for r in read_topic(kafka_bootstrap, topics["control"], timeout_s=5)
                    if isinstance(b := parse(ScoredBatchRecord, r.value), ScoredBatchRecord)
                    for i in b.ids
                }
            )
            >= {f"dl-{i}" for i in range(6)}
            and ids
        ),
        60,
        "every valid text around the bad ones to be scored",
    )
    assert {f"dl-{i}" for i in range(6)} <= scored_ids
    assert worker.metric("stream_al_dead_letters_total", reason="invalid_json", stage="embed") >= 1
    assert worker.process.poll() is None


def test_a_vendor_reads_selected_items_with_only_the_published_contract(pipeline, kafka_bootstrap):
    worker, _, topics = pipeline
    schema = json.loads((REPO / "stream_al" / "schemas" / "selected_item.schema.json").read_text())
    validator = Draft202012Validator(schema)
    consumer = clients.consumer(
        KafkaSettings(bootstrap=kafka_bootstrap),
        topics["selected"],
        group_id="contract-vendor",
        auto_offset_reset="earliest",
    )
    try:
        items = []
        wait_for(
            lambda: (
                items.extend(
                    json.loads(r.value.decode("utf-8"))
                    for b in consumer.poll(timeout_ms=500).values()
                    for r in b
                )
                or len(items) >= 10
            ),
            60,
            "selected items",
        )
    finally:
        consumer.close()
    for item in items:
        validator.validate(item)
        assert item["schema_version"] == 1
        assert item["deadline"] > 0 and item["text"].strip()
    assert len({i["batch_id"] for i in items}) >= 1


def test_the_l2_search_runs_in_its_own_process_and_its_choice_is_applied(pipeline):
    # 4 classes: the first search (20 labels) runs in the refit, the next one apart
    worker, _, _ = pipeline
    line = wait_for(
        lambda: next((x for x in worker.output().splitlines() if "took" in x and "apart" in x),
                     None),
        120, "a search for l2 answered by the search process")
    assert "applied at the next refit" in line
    assert "search for l2" not in "".join(x for x in worker.output().splitlines()
                                          if "[ERROR]" in x)
