"""Message contracts: what is accepted, what becomes a dead letter and why, and the schemas."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import get_args

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from stream_al.learn.online import OnlineLearner
from stream_al.stream.messages import (
    CONTROL,
    EVENT_KINDS,
    PUBLIC_SCHEMAS,
    REASONS,
    SCHEMA_DIR,
    DeadLetter,
    DeadLetterReason,
    Event,
    EventKind,
    LabelIn,
    LabelsRecord,
    ModelUpdate,
    ScoredBatchRecord,
    SelectedItem,
    TextIn,
    json_schema,
    parse,
)


def text(**fields) -> bytes:
    record = {
        "schema_version": 1,
        "id": "ag-1",
        "text": "Oil prices rise",
        "source": "wire",
        "timestamp": 1.5,
        **fields,
    }
    return orjson.dumps({k: v for k, v in record.items() if v is not None})


def test_a_valid_text_is_parsed_with_empty_metadata():
    parsed = parse(TextIn, text())
    assert isinstance(parsed, TextIn)
    assert (parsed.id, parsed.text, parsed.metadata) == ("ag-1", "Oil prices rise", {})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (None, "invalid_json"),
        (text(schema_version=2), "wrong_schema_version"),
        (orjson.dumps({"id": "a", "text": "t", "source": "s", "timestamp": 1}), "missing_field"),
        (text(text=None), "missing_field"),
        (text(timestamp="yesterday"), "invalid_field"),
        (text(id=""), "invalid_field"),
        (text(text=" \n\t "), "empty_text"),
    ],
)
def test_a_bad_text_becomes_a_dead_letter_reason(raw, reason):
    parsed = parse(TextIn, raw)
    assert isinstance(parsed, DeadLetterReason)
    assert parsed.reason == reason, parsed.detail


def test_a_long_text_is_cut_on_a_character_boundary_and_flagged():
    long = "é" * 100  # 200 bytes
    parsed = parse(TextIn, text(text=long, metadata={"row": 3}), max_text_bytes=101)
    assert parsed.text == "é" * 50
    assert parsed.metadata == {"row": 3, "truncated": True, "original_bytes": 200}
    assert parse(TextIn, text(text=long), max_text_bytes=200).metadata == {}


@given(st.text(min_size=1, max_size=60).filter(str.strip), st.integers(64, 200))
def test_truncation_never_splits_a_character_or_exceeds_the_limit(body, limit):
    parsed = parse(TextIn, text(text=body * 5), max_text_bytes=limit)
    assert isinstance(parsed, (TextIn, DeadLetterReason))
    if isinstance(parsed, TextIn):
        assert len(parsed.text.encode("utf-8")) <= limit
        assert (body * 5).startswith(parsed.text)


def test_unknown_fields_are_ignored_for_forward_compatibility():
    assert isinstance(parse(TextIn, text(language="en")), TextIn)


def test_labels_accept_numeric_classes_and_check_confidence():
    label = {"schema_version": 1, "item_id": "ag-1", "annotator_id": "a", "timestamp": 2.0}
    assert parse(LabelIn, orjson.dumps({**label, "label": 3})).label == "3"
    assert (
        parse(LabelIn, orjson.dumps({**label, "label": "x", "confidence": 1.5})).reason
        == "invalid_field"
    )
    assert parse(LabelIn, orjson.dumps({**label, "label": "  "})).reason == "invalid_field"


def test_a_dead_letter_keeps_the_record_as_text_or_base64():
    reason = DeadLetterReason("invalid_json", "bad")
    letter = DeadLetter.of(b"{oops", reason, topic="t", partition=2, offset=7, key=b"k")
    assert (letter.raw, letter.raw_encoding, letter.key, letter.offset) == (
        "{oops",
        "utf-8",
        "k",
        7,
    )
    binary = DeadLetter.of(b"\xff" * 10_000, reason, topic="t")
    assert binary.raw_encoding == "base64"
    assert len(base64.b64decode(binary.raw)) == 4096
    assert isinstance(parse(DeadLetter, binary.to_bytes()), DeadLetter)


def test_control_records_round_trip_with_their_embeddings():
    X = np.random.default_rng(0).random((3, 8), dtype=np.float32)
    scored = ScoredBatchRecord.of(
        "b1",
        ["a", "b", "c"],
        ["x", "y", "z"],
        X,
        {"margin": np.array([0.1, 0.5, 0.9])},
        4,
        np.ones(3),
        9.0,
    )
    back = parse(CONTROL, scored.to_bytes())
    assert isinstance(back, ScoredBatchRecord)
    assert np.array_equal(back.matrix(), X)
    labels = LabelsRecord(
        schema_version=1,
        received_at=[1.0],
        labels=[
            LabelIn(schema_version=1, item_id="a", label="World", annotator_id="x", timestamp=1.0)
        ],
    )
    assert parse(CONTROL, labels.to_bytes()) == labels
    assert parse(CONTROL, b'{"schema_version": 1, "kind": "other"}').reason == "invalid_field"


def test_a_model_update_carries_the_snapshot():
    learner = OnlineLearner(dim=4)
    learner.learn_many(np.eye(4, dtype=np.float32)[:2], ["a", "b"])
    update = parse(ModelUpdate, ModelUpdate.of(learner.snapshot(), [1.0, 2.0]).to_bytes())
    assert (update.version, update.classes, update.label_received_at) == (1, ["a", "b"], [1.0, 2.0])
    assert update.to_snapshot().fingerprint() == learner.snapshot().fingerprint()


def test_schema_files_on_disk_match_the_models():
    for name, model in PUBLIC_SCHEMAS.items():
        on_disk = json.loads((SCHEMA_DIR / name).read_text())
        assert on_disk == json_schema(model), "regenerate: python -m stream_al.stream.messages"


def test_a_selected_item_validates_against_its_published_schema():
    item = SelectedItem(
        schema_version=1,
        item_id="ag-1",
        text="t",
        batch_id="sel-1-0",
        strategy="diverse",
        reason="diverse",
        scores={"margin": 0.4},
        model_version=3,
        deadline=1e9,
        cost=1.0,
        group=2,
    )
    schema = json.loads((SCHEMA_DIR / "selected_item.schema.json").read_text())
    Draft202012Validator(schema).validate(json.loads(item.to_bytes()))
    assert not Draft202012Validator(schema).is_valid({"schema_version": 1, "item_id": "x"})


# ---- schemas of the operators' topics: models, deadletter, events ----------------------------
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIR / name).read_text()))


def test_every_public_topic_has_a_schema_file():
    assert set(PUBLIC_SCHEMAS) == {
        "text.schema.json", "selected_item.schema.json", "label.schema.json",
        "expert_request.schema.json", "model_update.schema.json", "dead_letter.schema.json",
        "event.schema.json",
    }


def test_a_model_update_validates_against_its_published_schema():
    learner = OnlineLearner(dim=4)
    learner.learn_many(np.eye(4, dtype=np.float32)[:2], ["a", "b"])
    record = json.loads(ModelUpdate.of(learner.snapshot(), [1.0]).to_bytes())
    validator("model_update.schema.json").validate(record)
    assert not validator("model_update.schema.json").is_valid({**record, "version": -1})


def test_a_dead_letter_validates_and_its_schema_lists_every_reason():
    letter = DeadLetter.of(b"\xff", DeadLetterReason("invalid_utf8", "byte 0"), topic="t")
    validator("dead_letter.schema.json").validate(json.loads(letter.to_bytes()))
    schema = json.loads((SCHEMA_DIR / "dead_letter.schema.json").read_text())
    assert schema["properties"]["reason"]["enum"] == list(REASONS)


def test_an_event_validates_and_its_schema_lists_every_kind_with_its_meaning():
    event = Event(schema_version=1, kind="truncated", at=1.0, item_ids=["a"],
                  detail={"original_bytes": {"a": 30000}, "max_text_bytes": 20000})
    validator("event.schema.json").validate(json.loads(event.to_bytes()))
    kind = json.loads((SCHEMA_DIR / "event.schema.json").read_text())["properties"]["kind"]
    assert kind["enum"] == list(EVENT_KINDS) == list(get_args(EventKind))
    for name in EVENT_KINDS:
        assert f"{name}: " in kind["description"]
    assert not validator("event.schema.json").is_valid({**json.loads(event.to_bytes()),
                                                        "kind": "something_else"})


def test_every_event_kind_the_workers_publish_is_listed():
    source = "\n".join(p.read_text() for p in (Path(__file__).parents[2] / "stream_al").rglob("*.py"))
    published = set(re.findall(r"Event\(\s*schema_version=1,\s*kind=\"([a-z_]+)\"", source))
    assert published == set(EVENT_KINDS), "a new kind: add it to EVENT_KINDS and EventKind"


@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_a_compact_scored_record_is_smaller_and_parses_back_to_close_vectors(precision):
    from stream_al.stream.messages import CONTROL, ScoredBatchRecord

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 384)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids, texts = [f"t-{i}" for i in range(20)], ["a text"] * 20
    scores = {"margin": rng.random(20)}
    full = ScoredBatchRecord.of("b", ids, texts, X, scores, 0, np.ones(20), 0.0)
    compact = ScoredBatchRecord.of("b", ids, texts, X, scores, 0, np.ones(20), 0.0,
                                   [(0, i) for i in range(20)], precision=precision,
                                   weights=np.full(20, 2.5), spans=[(0, 0, 39, 40)])
    raw = orjson.dumps(compact.model_dump())
    parsed = parse(CONTROL, raw)
    assert len(raw) < 0.6 * len(orjson.dumps(full.model_dump()))
    assert np.abs(parsed.matrix() - X).max() < 0.01
    assert parsed.weights == [2.5] * 20 and parsed.spans == [(0, 0, 39, 40)]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_a_record_of_no_candidates_still_carries_the_spans_the_budget_counts(precision):
    """The pre-selector may forward none of a batch's texts (a batch of one, a dull stretch):
    the record goes anyway, or those texts would never count in the budget's ``seen``."""
    X = np.zeros((0, 384), dtype=np.float32)
    record = ScoredBatchRecord.of("b", [], [], X, {"margin": np.zeros(0)}, 3, np.ones(0), 0.0,
                                  [], precision=precision, weights=[], spans=[(1, 10, 14, 5)])
    parsed = parse(CONTROL, record.to_bytes())
    assert isinstance(parsed, ScoredBatchRecord)
    assert parsed.matrix().shape == (0, 384) and parsed.spans == [(1, 10, 14, 5)]


def test_a_scored_record_whose_int8_rows_lack_their_scales_is_refused():
    from stream_al.stream.messages import CONTROL, ScoredBatchRecord

    X = np.ones((2, 8), dtype=np.float32)
    record = ScoredBatchRecord.of("b", ["a", "b"], ["x", "y"], X, {}, 0, np.ones(2), 0.0,
                                  precision="int8").model_dump()
    record["scales"] = ""
    assert parse(CONTROL, orjson.dumps(record)).reason == "invalid_field"


def test_a_selected_item_converts_to_a_purchase_field_for_field():
    import dataclasses

    from stream_al.loop.records import Purchase
    from stream_al.stream.conversion import purchase
    from stream_al.stream.messages import SelectedItem

    item = SelectedItem(schema_version=1, item_id="i-1", text="t", batch_id="b", strategy="s", reason="r",
                        scores={"u": 0.5}, model_version=3, deadline=9.0, cost=2.0, group=4,
                        priority=0.25, annotators=3, window=7)
    assert {f.name for f in dataclasses.fields(Purchase)} == set(SelectedItem.model_fields) - {
        "schema_version"}
    assert dataclasses.asdict(purchase(item)) == item.model_dump(exclude={"schema_version"})


def test_a_purchase_converts_to_the_selected_item_vendors_read_and_back():
    from stream_al.stream.conversion import purchase, selected_item

    item = SelectedItem(schema_version=1, item_id="i-1", text="t", batch_id="b", strategy="s",
                        reason="r", scores={"u": 0.5}, model_version=3, deadline=9.0, cost=2.0,
                        group=4, priority=0.25, annotators=3, window=7)
    assert selected_item(purchase(item)) == item


def test_purchases_as_columns_become_the_selected_items_their_purchases_would():
    """The coordinator's columns (loop/purchases.py) go to the wire without a Purchase each:
    the same messages, field for field, as the purchases they stand for (scores without the
    annotators asked for and without non-finite values), in order, over joined emissions."""
    from stream_al.loop.purchases import Purchases
    from stream_al.stream.conversion import selected_item, selected_items

    first = Purchases.of_columns(
        ["i-1", "i-2"], ["a text", "another"], "sel-3-0", ["balanced", "drift"],
        ["coverage", "drift_explore"],
        [{"margin": 0.25, "annotators": 2.0}, {"margin": float("nan"), "novelty": 0.5}], 3,
        [60.0, 61.0], [2.0, 1.0], [4, 0], [0.75, 0.5], [2, 1], 7)
    second = Purchases.of_columns(["i-3"], ["third"], "sel-4-1", ["balanced"], ["balanced"],
                                  [{}], 4, [62.0], [1.0], [1], [0.25], [1], 7)
    both = Purchases.joined([first, second])
    items = selected_items(both)
    assert items == [selected_item(p) for p in list(both)]
    assert [x.scores for x in items] == [{"margin": 0.25}, {"novelty": 0.5}, {}]
    assert [(x.item_id, x.batch_id, x.model_version, x.annotators) for x in items] == [
        ("i-1", "sel-3-0", 3, 2), ("i-2", "sel-3-0", 3, 1), ("i-3", "sel-4-1", 4, 1)]
