"""A batch goes out as CSV or JSON lines and labels come back: ids and labels survive the
round trip, every file row validates against the repo's JSON Schemas, bad rows get clear
errors with their line numbers."""

import csv
import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from stream_al.annotation.batches import make_batches
from stream_al.select.base import Selection
from stream_al.stream.messages import SCHEMA_DIR
from stream_al.stream.vendor_files import (
    ExchangeError,
    export_batch,
    import_labels,
    read_selected,
    selected_items,
)

LABEL_SCHEMA = json.loads((SCHEMA_DIR / "label.schema.json").read_text())
ITEM_SCHEMA = json.loads((SCHEMA_DIR / "selected_item.schema.json").read_text())


@pytest.fixture
def batch(ag_news):
    chosen = [Selection(ag_news.ids[i], "diverse", "diverse", 0.5, cost=1.25, group=i % 3,
                        scores={"margin": 0.4, "confidence": 0.6}, embedding=ag_news.X[i])
              for i in range(30)]
    texts = dict(zip(ag_news.ids, ag_news.texts, strict=True))
    return selected_items(make_batches(chosen, 30, now=1_000.0, deadline_s=3_600.0)[0], texts, 7)


def answer_csv(path: Path, answers: dict[str, str], annotator="vendor-7") -> None:
    """What a vendor does: fill the answer columns of the exported file."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["item_id"] in answers:
            row.update(label=answers[row["item_id"]], annotator_id=annotator,
                       timestamp="2025-01-31T14:05:00Z", confidence="0.9")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_exported_batch_reads_back_unchanged(tmp_path, batch, suffix):
    path = export_batch(batch, tmp_path / f"batch{suffix}")
    assert read_selected(path) == batch


def test_every_jsonl_row_is_a_valid_selected_item(tmp_path, batch):
    path = export_batch(batch, tmp_path / "batch.jsonl")
    for line in path.read_text().splitlines():
        jsonschema.validate(json.loads(line), ITEM_SCHEMA)


def test_csv_round_trip_preserves_ids_and_labels(tmp_path, batch, ag_news):
    gold = dict(zip(ag_news.ids, ag_news.labels, strict=True))
    path = export_batch(batch, tmp_path / "batch.csv")
    answers = {item.item_id: gold[item.item_id] for item in batch[:25]}
    answer_csv(path, answers)
    result = import_labels(path, known_ids={b.item_id for b in batch}, classes=ag_news.classes)
    assert result.errors == []
    assert {x.item_id: x.label for x in result.labels} == answers
    assert sorted(result.unanswered) == sorted(b.item_id for b in batch[25:])
    assert result.labels[0].timestamp == 1738332300.0 and result.labels[0].confidence == 0.9
    for label in result.labels:
        jsonschema.validate(label.model_dump(mode="json"), LABEL_SCHEMA)


def test_jsonl_answers_are_label_topic_records(tmp_path, batch):
    path = tmp_path / "answers.jsonl"
    records = [{"schema_version": 1, "item_id": b.item_id, "label": "World",
                "annotator_id": "v", "timestamp": 5.0} for b in batch]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    result = import_labels(path, known_ids={b.item_id for b in batch})
    assert [x.item_id for x in result.labels] == [b.item_id for b in batch]


def test_bad_rows_get_line_numbers_and_what_to_fix(tmp_path, batch):
    path = export_batch(batch, tmp_path / "batch.csv")
    answer_csv(path, {b.item_id: "World" for b in batch[:3]})
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    rows[0]["confidence"] = "1.7"
    rows[1]["timestamp"] = "last tuesday"
    rows[2]["label"] = "Weather"
    rows[3].update(label="World", annotator_id="", timestamp="5")
    rows[4].update(label="World", annotator_id="v", timestamp="")
    rows[5].update(item_id="not-exported", label="World", annotator_id="v", timestamp="5")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = import_labels(path, known_ids={b.item_id for b in batch},
                           classes={"World", "Sports", "Business", "Sci/Tech"})
    errors = {e.line: e for e in result.errors}
    assert result.labels == []
    assert errors[2].reason == "invalid_field" and "confidence" in errors[2].detail
    assert "ISO 8601" in errors[3].detail
    assert errors[4].reason == "unknown_class" and "'Weather'" in errors[4].detail
    assert errors[5].reason == "invalid_field" and "annotator_id" in errors[5].detail
    assert errors[6].reason == "missing_field" and "timestamp" in errors[6].detail
    assert errors[7].reason == "unknown_item"
    assert str(errors[7]).startswith("line 7 (item not-exported): unknown_item")


def test_blank_cells_can_be_filled_with_defaults(tmp_path, batch):
    path = export_batch(batch, tmp_path / "batch.csv")
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    rows[0]["label"] = "Sports"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = import_labels(path, default_annotator="acme", default_timestamp=42.0)
    assert [(x.annotator_id, x.timestamp) for x in result.labels] == [("acme", 42.0)]


def test_a_repeated_answer_counts_once_and_a_conflicting_one_is_an_error(tmp_path):
    path = tmp_path / "answers.jsonl"
    base = {"schema_version": 1, "item_id": "a", "annotator_id": "v", "timestamp": 1.0}
    path.write_bytes(b"\n".join(orjson.dumps({**base, "label": y}) for y in ("x", "x", "y")))
    result = import_labels(path)
    assert [x.label for x in result.labels] == ["x"]
    assert [(e.line, e.reason) for e in result.errors] == [(3, "conflicting_duplicate")]


def test_broken_jsonl_lines_are_row_errors_not_crashes(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b'{"item_id": "a", "label": "x", "annotator_id": "v", "timestamp": 1}\n'
                     b'{not json\n[1, 2]\n'
                     b'{"schema_version": 2, "item_id": "b", "label": "x", "annotator_id": "v",'
                     b' "timestamp": 1}\n')
    result = import_labels(path)
    assert [x.item_id for x in result.labels] == ["a"]
    assert [(e.line, e.reason) for e in result.errors] == [
        (2, "invalid_json"), (3, "invalid_json"), (4, "wrong_schema_version")]


def test_unreadable_files_name_the_fix(tmp_path):
    with pytest.raises(ExchangeError, match=r"\.csv or \.jsonl"):
        import_labels(tmp_path / "answers.xlsx")
    (tmp_path / "a.csv").write_text("id,answer\n1,x\n")
    with pytest.raises(ExchangeError, match="no item_id column"):
        import_labels(tmp_path / "a.csv")
