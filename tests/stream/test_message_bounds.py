"""Bounds on everything a stranger controls: what a producer, a vendor or a forged internal
record can make the worker hold, and what a dead letter keeps of it."""

from __future__ import annotations

import base64
import dataclasses
import io
import zipfile

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_al.learn.snapshot import ModelSnapshot, SearchState, ServedHead
from stream_al.stream.messages import (
    DEAD_LETTER_KEY_CHARS,
    DEAD_LETTER_RAW_BYTES,
    MAX_SNAPSHOT_BYTES,
    DeadLetter,
    DeadLetterReason,
    LabelIn,
    Ledger,
    SelectedItem,
    SnapshotError,
    TextIn,
    load_snapshot,
    parse,
)

DIM = 8


def text(**fields) -> bytes:
    return orjson.dumps({"schema_version": 1, "id": "t-1", "text": "Oil rises", "source": "wire",
                         "timestamp": 1.0, **fields})


def label(**fields) -> bytes:
    return orjson.dumps({"schema_version": 1, "item_id": "t-1", "label": "World",
                         "annotator_id": "alice", "timestamp": 1.0, **fields})


def reason(raw: bytes, model=TextIn) -> str:
    parsed = parse(model, raw, 20_000)
    assert isinstance(parsed, DeadLetterReason), parsed
    return parsed.reason


# ---- texts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["\x00\x00\x00", "\u200b\u200c\u200d\ufeff", "\x1b\x07\x7f",
                                     " \t\n\u2028\u00ad", "\x00\u200b" * 1000])
def test_a_text_of_only_nul_zero_width_or_control_characters_is_empty(content):
    assert reason(text(text=content)) == "empty_text"


def test_a_text_with_one_visible_character_among_them_is_content():
    assert isinstance(parse(TextIn, text(text="\x00\u200bé\u200b"), 100), TextIn)


@pytest.mark.parametrize("fields", [
    {"id": "x" * 257}, {"id": "a\x00b"}, {"source": "s" * 257},
    {"metadata": {"blob": "x" * 20_000}},
    {"metadata": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
    {"timestamp": "soon"}, {"id": 7},
])
def test_a_text_with_an_oversized_or_malformed_field_is_refused(fields):
    assert reason(text(**fields)) == "invalid_field"


def test_metadata_four_levels_deep_is_fine():
    assert isinstance(parse(TextIn, text(metadata={"a": {"b": {"c": {"d": 1}}}})), TextIn)


@pytest.mark.parametrize("raw, why", [
    (b'{"schema_version": 1, "id": "t", "text": "x", "source": "s", "timestamp": NaN}',
     "invalid_json"),
    (b'{"schema_version": 1, "id": "t", "text": "x", "source": "s", "timestamp": Infinity}',
     "invalid_json"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, "invalid_json"),
    (b"\xff\xfe not utf-8", "invalid_utf8"),
])
def test_nan_infinity_deep_json_and_invalid_utf8_are_refused(raw, why):
    assert reason(raw) == why


# ---- labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields", [
    {"label": "L" * 10_000}, {"label": "World\x00"}, {"label": "\x1b[31mred"},
    {"label": "zero\u200bwidth"}, {"annotator_id": "a" * 171}, {"annotator_id": "al\nice"},
    {"item_id": "i" * 257}, {"confidence": 2.0},
])
def test_a_label_with_an_oversized_or_unprintable_field_is_refused(fields):
    assert reason(label(**fields), LabelIn) == "invalid_field"


def test_class_names_may_be_any_printable_text():
    for name in ("Sci/Tech", "Économie", "体育", "a b"):
        assert parse(LabelIn, label(label=name)).label == name


# ---- internal records ----------------------------------------------------------------------------
def selected(**fields) -> bytes:
    return orjson.dumps({"schema_version": 1, "item_id": "t-1", "text": "x", "batch_id": "b",
                         "strategy": "s", "reason": "r", "scores": {}, "model_version": 0,
                         "deadline": 1.0, "cost": 1.0, "group": 0, **fields})


@pytest.mark.parametrize("cost", [1e308, -1.0, 2e6])
def test_a_selected_item_with_an_implausible_cost_is_refused(cost):
    assert reason(selected(cost=cost), SelectedItem) == "invalid_field"


@pytest.mark.parametrize("fields", [{"spent": 1e308}, {"seen": 2**62}, {"control_offset": 2**62},
                                    {"spent": -1.0}])
def test_an_implausible_ledger_is_refused(fields):
    ledger = {"schema_version": 1, "seen": 10, "spent": 1.0, "control_offset": 3, "at": 1.0}
    assert reason(orjson.dumps({**ledger, **fields}), Ledger) == "invalid_field"


# ---- dead letters --------------------------------------------------------------------------------
@given(key=st.binary(max_size=20_000), value=st.binary(max_size=20_000))
def test_a_dead_letter_is_bounded_whatever_the_record(key, value):
    letter = DeadLetter.of(value, DeadLetterReason("invalid_json", "x" * 5000), topic="t",
                           partition=3, offset=17, key=key)
    assert len(letter.to_bytes()) < 3 * DEAD_LETTER_RAW_BYTES + 4 * DEAD_LETTER_KEY_CHARS + 4096
    assert (letter.topic, letter.partition, letter.offset) == ("t", 3, 17)


def test_a_dead_letter_of_a_5_mb_key_keeps_its_prefix():
    letter = DeadLetter.of(b"v" * 5 * 2**20, DeadLetterReason("invalid_json"), topic="t",
                           key=b"k" * 5 * 2**20)
    assert letter.key == "k" * DEAD_LETTER_KEY_CHARS
    assert len(letter.to_bytes()) < 16_384


# ---- model snapshots -----------------------------------------------------------------------------
def snapshot(**changes) -> ModelSnapshot:
    rng = np.random.default_rng(0)
    good = ModelSnapshot(version=3, classes=("a", "b", "c"),
                         weights=rng.normal(size=(3, DIM)).astype(np.float32),
                         bias=np.zeros(3, dtype=np.float32))
    return dataclasses.replace(good, **changes)


def wire(s: ModelSnapshot) -> str:
    return base64.b64encode(s.to_bytes()).decode("ascii")


def test_a_sound_snapshot_loads():
    assert load_snapshot(wire(snapshot()), DIM).classes == ("a", "b", "c")


@pytest.mark.parametrize("changes, why", [
    ({"weights": np.full((3, DIM), np.nan, dtype=np.float32)}, "finite"),
    ({"bias": np.array([0, np.inf, 0], dtype=np.float32)}, "finite"),
    ({"temperature": 0.0}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"classes": ("a", "b")}, "do not match"),
    ({"classes": ("a", "a", "b")}, "distinct"),
    ({"classes": ("a", "b", "c\x1b")}, "unprintable"),
    ({"classes": ("a", "b", "c" * 10_000)}, "characters"),
    ({"weights": np.zeros((3, DIM + 1), dtype=np.float32)}, "dimension"),
])
def test_an_implausible_snapshot_is_refused(changes, why):
    with pytest.raises(SnapshotError, match=why):
        load_snapshot(wire(snapshot(**changes)), DIM)


def test_a_decompression_bomb_is_refused_before_it_is_inflated():
    buf = io.BytesIO()
    with (zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("weights.npy", "w", force_zip64=True) as member):
        chunk = bytes(2**20)
        for _ in range(MAX_SNAPSHOT_BYTES // 2**20 + 1):
            member.write(chunk)
    bomb = buf.getvalue()
    assert len(bomb) < MAX_SNAPSHOT_BYTES / 500
    with pytest.raises(SnapshotError, match="inflates"):
        load_snapshot(base64.b64encode(bomb).decode("ascii"), DIM)


def served(**changes) -> ModelSnapshot:
    """The sound snapshot with a served head (``learner.served_rule``), ``changes`` to it."""
    good = snapshot()
    head = ServedHead(good.weights * 2, good.bias + 1, 0.1)
    return dataclasses.replace(good, served=dataclasses.replace(head, **changes))


def test_a_sound_served_head_loads_with_its_snapshot():
    loaded = load_snapshot(wire(served()), DIM)
    assert loaded.served.l2 == 0.1
    assert np.array_equal(loaded.served.weights, served().served.weights)
    assert load_snapshot(wire(snapshot()), DIM).served is None  # a snapshot of before: none


@pytest.mark.parametrize("changes, why", [
    ({"weights": np.zeros((2, DIM), dtype=np.float32)}, "served head's weights .* differ in shape"),
    ({"weights": np.zeros((3, DIM + 1), dtype=np.float32)}, "differ in shape"),
    ({"bias": np.zeros(4, dtype=np.float32)}, "differ in shape"),
    ({"weights": np.full((3, DIM), np.inf, dtype=np.float32)}, "served head's weights are not"),
    ({"bias": np.array([0, np.nan, 0], dtype=np.float32)}, "served head's weights are not"),
    ({"weights": np.zeros((3, DIM), dtype=np.int32)}, "not all finite floats"),
    ({"l2": 0.0}, "served head's l2 must be finite and > 0"),
    ({"l2": -1.0}, "served head's l2"),
    ({"l2": float("inf")}, "served head has l2 None, not a number"),  # JSON writes null
    ({"l2": float("nan")}, "served head has l2 None, not a number"),
])
def test_an_implausible_served_head_is_refused_with_its_snapshot(changes, why):
    with pytest.raises(SnapshotError, match=why):
        load_snapshot(wire(served(**changes)), DIM)


def test_a_served_head_named_but_missing_is_refused():
    with np.load(io.BytesIO(served().to_bytes())) as z:
        arrays = {name: z[name] for name in z.files if name != "sb"}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with pytest.raises(SnapshotError, match="does not load.*served head"):
        load_snapshot(base64.b64encode(buf.getvalue()).decode("ascii"), DIM)


def searched(**changes) -> ModelSnapshot:
    """The sound snapshot with the l2 search's state (its last search at 40 of 50 labels)."""
    return dataclasses.replace(snapshot(n_labels=50),
                               search=dataclasses.replace(SearchState(0.1, 40), **changes))


def test_a_sound_search_state_loads_with_its_snapshot():
    assert load_snapshot(wire(searched()), DIM).search == SearchState(0.1, 40)
    assert load_snapshot(wire(searched(served_l2=1.0)), DIM).search.served_l2 == 1.0
    assert load_snapshot(wire(snapshot()), DIM).search is None  # a snapshot of before: none


@pytest.mark.parametrize("changes, why", [
    ({"l2": 0.0}, "search state's l2 must be finite and > 0, got 0.0"),
    ({"l2": -1.0}, "search state's l2"),
    ({"served_l2": 0.0}, "search state's served_l2 must be finite and > 0"),
    ({"l2": float("nan")}, "search state has l2 None, not a number"),  # JSON writes null
    ({"served_l2": float("inf")}, "search state has served_l2 None, not a number"),
    ({"searched_at": -1}, "last search is at -1 labels, the model learned 50"),
    ({"searched_at": 51}, "last search is at 51 labels, the model learned 50"),
])
def test_an_implausible_search_state_is_refused_with_its_snapshot(changes, why):
    with pytest.raises(SnapshotError, match=why):
        load_snapshot(wire(searched(**changes)), DIM)


@pytest.mark.parametrize("junk", ["not base64!", base64.b64encode(b"not a zip").decode()])
def test_a_snapshot_that_is_not_an_archive_is_refused(junk):
    with pytest.raises(SnapshotError, match="does not load"):
        load_snapshot(junk, DIM)


def test_a_scored_batch_claiming_an_implausible_offset_is_refused():
    import numpy as np

    from stream_al.stream.messages import CONTROL, ScoredBatchRecord

    record = ScoredBatchRecord.of("b", ["t-1"], ["x"], np.zeros((1, 4)), {}, 0, np.ones(1), 1.0,
                                  [(0, 7)])
    forged = {**orjson.loads(record.to_bytes()), "offsets": [2**62]}
    assert reason(orjson.dumps(forged), CONTROL) == "invalid_field"


def test_a_ledger_with_an_implausible_texts_offset_is_refused():
    ledger = {"schema_version": 1, "seen": 1, "spent": 1.0, "control_offset": 3, "at": 1.0,
              "texts_offsets": {"0": 2**62}}
    assert reason(orjson.dumps(ledger), Ledger) == "invalid_field"
