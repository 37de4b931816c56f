"""Invariants of the pure core under any input and any redelivery (hypothesis, no broker).

- ``parse`` never raises, whatever the bytes, and refuses with a known reason.
- Selection is deterministic for a seed.
- The coordinator under at-least-once delivery, crashes and rebuilds: whatever records are
  redelivered and wherever it crashes, its label store holds exactly the labels the topics
  hold (once per (item, annotator)), the learner learned each once, no item is bought twice,
  ``seen`` counts each text once, and ``spent`` is what the selected topic says, within budget.
- The labelled snapshot's hashes do not depend on arrival order.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_al.config import BudgetSettings, SelectionSettings, Settings
from stream_al.embed import make_embedder
from stream_al.labels.export import (
    LabeledRow,
    LabeledSnapshot,
    LabelSetHash,
    admitted_rows,
    read_snapshot,
    write_snapshot,
)
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.restore import History
from stream_al.score.batch import score_many
from stream_al.select import STRATEGIES, Budget, make_selector
from stream_al.stream import conversion
from stream_al.stream.messages import (
    CONTROL,
    REASONS,
    DeadLetterReason,
    Expiry,
    LabelIn,
    LabelsRecord,
    Ledger,
    ModelUpdate,
    ScoredBatchRecord,
    SelectedItem,
    TextIn,
    parse,
)
from tests.select.conftest import ColdModel, make_batch
from tests.stream.harness import AG_NEWS

CONTRACTS = [TextIn, LabelIn, SelectedItem, ModelUpdate, Ledger, Expiry, CONTROL]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "schema_version",
    "id",
    "text",
    "source",
    "timestamp",
    "item_id",
    "label",
    "kind",
    "annotator_id",
    "labels",
    "received_at",
    "ids",
    "texts",
    "embeddings",
    "dim",
    "costs",
]


# ---- parse ----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200), contract=st.sampled_from(CONTRACTS))
def test_property_parse_never_raises_on_any_bytes(raw, contract):
    result = parse(contract, raw, 64)
    assert not isinstance(result, DeadLetterReason) or result.reason in REASONS


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10),
    contract=st.sampled_from(CONTRACTS),
)
def test_property_parse_never_raises_on_any_json_object(record, contract):
    if record.get("schema_version") is None:
        record = {**record, "schema_version": 1}
    raw = json.dumps(record).encode()  # Python's json: integers of any size
    result = parse(contract, raw, 64)
    assert not isinstance(result, DeadLetterReason) or result.reason in REASONS
    if isinstance(result, TextIn):
        assert result.text.strip() and len(result.text.encode()) <= 64


# ---- selection --------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**31 - 1),
    sizes=st.lists(st.integers(0, 120), min_size=1, max_size=8),
)
def test_property_the_same_seed_selects_the_same_items(name, seed, sizes):
    def run() -> list[str]:
        selector = make_selector(
            name,
            SelectionSettings(seed=seed, batch_interval=60),
            BudgetSettings(fraction=0.1),
            ColdModel(),
        )
        budget, chosen = Budget(0.1), []
        for i, n in enumerate(sizes):
            budget.observe(n)
            chosen += selector.select_many(
                make_batch(n, seed=seed % 1000 + i, start=1000 * i), budget
            )
        return [
            s.item_id
            for s in chosen + (selector.flush(budget) if hasattr(selector, "flush") else [])
        ]

    assert run() == run()


# ---- the coordinator under redelivery and crashes ---------------------------------------------
@pytest.fixture(scope="module")
def world():
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        rows = [
            (r["text"], r["label"]) for _, r in zip(range(600), csv.DictReader(f), strict=False)
        ]
    settings_ = Settings(
        embedder={"name": "hashing", "hashing_features": 2**12},
        budget={"fraction": 0.1, "warmup_labels": 4},
        selection={"batch_interval": 40},
        kafka={"label_deadline_s": 10.0},
        annotation={"learn_from": "labels"},  # every (item, annotator) label is learned
    )
    return rows, settings_, make_embedder(settings_.embedder)


@dataclass
class Topics:
    """What the shell has written so far, as a rebuild reads it."""

    control: list = field(default_factory=list)
    selected: list[SelectedItem] = field(default_factory=list)
    labels: list[LabelIn] = field(default_factory=list)
    expired: dict[str, float] = field(default_factory=dict)
    ledger: Ledger | None = None
    model_version: int = 0
    texts: int = 0  # next offset on the (one-partition) texts topic


class Shell:
    """Drives a coordinator the way ``coordinating.py`` does (converting records at the
    edge, ``stream/conversion.py``); ``crash`` rebuilds it."""

    def __init__(self, world, strategy: str) -> None:
        self.rows, self.settings, self.embedder = world
        self.strategy = strategy
        self.t = Topics()
        self.now = 0.0
        self.c = self._fresh()
        self.position = 0  # next control offset this incarnation reads

    def _fresh(self) -> Coordinator:
        return Coordinator(self.settings, self.embedder.dim, self.embedder, self.strategy)

    def produce(self, n: int, redelivered: int) -> None:
        """``n`` new texts scored into one record; the last ``redelivered`` of them scored
        again into another (a scorer that crashed before committing its offsets)."""
        start = self.t.texts
        self.t.texts += n
        self.t.control.append(self._scored(range(start, start + n)))
        if redelivered:
            self.t.control.append(self._scored(range(start + n - redelivered, start + n)))

    def _scored(self, offsets: range) -> ScoredBatchRecord:
        ids = [f"ag-{o % len(self.rows)}" for o in offsets]  # past the file: produced again
        texts = [self.rows[o % len(self.rows)][0] for o in offsets]
        X = self.embedder.embed(texts)
        return ScoredBatchRecord.of(
            "b",
            ids,
            texts,
            X,
            score_many(self.c.learner.snapshot(), X),
            0,
            np.ones(len(ids)),
            0.0,
            [(0, o) for o in offsets],
        )

    def answer(self, k: int, repeat: bool, disagree: bool, forward_twice: bool) -> None:
        """A vendor answers up to ``k`` bought items; the labels agent forwards them."""
        answered = {x.item_id for x in self.t.labels}
        todo = [s.item_id for s in self.t.selected if s.item_id not in answered][:k]
        labels = [self._label(i, "a") for i in todo]
        if repeat and self.t.labels:
            labels.append(self.t.labels[0])  # a vendor's retry
        if disagree and todo:
            labels.append(self._label(todo[0], "b", wrong=True))
        if not labels:
            return
        self.t.labels += labels
        record = LabelsRecord(schema_version=1, labels=labels, received_at=[self.now] * len(labels))
        self.t.control += [record] * (2 if forward_twice else 1)

    def _label(self, item_id: str, annotator: str, wrong: bool = False) -> LabelIn:
        gold = self.rows[int(item_id.split("-")[1])][1]
        name = "Sports" if wrong and gold != "Sports" else "World" if wrong else gold
        return LabelIn(
            schema_version=1,
            item_id=item_id,
            label=name,
            annotator_id=annotator,
            timestamp=self.now,
        )

    def process(self, n: int, crash_before_ledger: bool = False) -> None:
        for _ in range(n):
            if self.position >= len(self.t.control):
                return
            record, offset = self.t.control[self.position], self.position
            self.position += 1
            if isinstance(record, LabelsRecord):
                self.c.on_labels(conversion.labels_of(record), offset, self.now)
                continue
            bought = self.c.on_scored(conversion.scored_texts(record), offset, self.now)
            self.t.selected += conversion.selected_items(bought)
            if crash_before_ledger:
                return self.crash(replay_from=0)
            self.t.ledger = conversion.ledger(self.c.ledger(self.now))

    def flush(self) -> None:
        self.t.selected += conversion.selected_items(self.c.flush(self.now))
        self.t.ledger = conversion.ledger(self.c.ledger(self.now))

    def expire(self, dt: float) -> None:
        self.now += dt
        for s in self.c.expire(self.now):
            self.t.expired[s.item_id] = s.cost
        self.t.ledger = conversion.ledger(self.c.ledger(self.now))

    def publish(self) -> None:
        update = self.c.model_update(self.now, force=True)
        if update is not None:
            self.t.model_version = update.version

    def crash(self, replay_from: int) -> None:
        """kill -9, then a new incarnation rebuilt from the topics; the control topic is read
        again from ``replay_from`` (the committed offset lags what was processed)."""
        t = self.t
        self.c = self._fresh()
        self.c.restore(History(conversion.purchases(t.selected), t.expired,
                               conversion.labels_of_many(t.labels),
                               conversion.budget_ledger(t.ledger), t.model_version, self.now))
        self.position = min(replay_from, self.position)
        self.publish()


rounds = st.lists(
    st.fixed_dictionaries(
        {
            "texts": st.integers(1, 60),
            "redelivered": st.integers(0, 30),
            "process": st.integers(0, 4),
            "crash_before_ledger": st.booleans(),
            "flush": st.booleans(),
            "answers": st.integers(0, 8),
            "repeat": st.booleans(),
            "disagree": st.booleans(),
            "forward_twice": st.booleans(),
            "then_process": st.integers(0, 4),
            "seconds": st.floats(0, 15),
            "crash_replaying_from": st.none() | st.integers(0, 40),
        }
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=rounds, strategy=st.sampled_from(["diverse", "random", "uncertainty", "bandit"]))
def test_property_crashes_and_redeliveries_lose_no_label_and_count_nothing_twice(
    world, plan, strategy
):
    shell = Shell(world, strategy)
    for r in plan:  # texts flow, the coordinator falls behind or crashes, vendors answer
        shell.produce(r["texts"], min(r["redelivered"], r["texts"]))
        shell.process(r["process"], r["crash_before_ledger"])
        if r["flush"]:
            shell.flush()
        shell.answer(r["answers"], r["repeat"], r["disagree"], r["forward_twice"])
        shell.process(r["then_process"])
        shell.expire(r["seconds"])
        shell.publish()
        if r["crash_replaying_from"] is not None:
            shell.crash(r["crash_replaying_from"])
    shell.process(len(shell.t.control))  # the last incarnation catches up
    c, t = shell.c, shell.t

    ids = [s.item_id for s in t.selected]
    assert len(ids) == len(set(ids)), "an item was sent to the vendor twice"
    expected = admitted_rows(t.selected, t.labels)
    store = LabeledSnapshot.from_labels(c.labels, c.texts)
    assert store.content_hash == expected.content_hash
    assert c.labels_hash.hexdigest() == expected.label_set_hash
    assert c.learner.n_labels == len(c.labels) == len(expected), "a label learned twice"
    b = c.stage.budget
    assert b.seen == t.texts, "a redelivered text was counted twice, or one not at all"
    cost = {s.item_id: s.cost for s in t.selected}
    assert b.spent == pytest.approx(sum(cost.values()) - sum(t.expired.values()))
    assert b.spent <= 0.1 * b.seen + 4 + 1e-9


# ---- the labelled snapshot ---------------------------------------------------------------------
label_rows = st.lists(
    st.builds(
        LabeledRow,
        item_id=st.sampled_from([f"ag-{i}" for i in range(6)]),
        text=st.text(max_size=20),
        label=st.sampled_from(["World", "Sports", 'Ünïcode, "quoted"\n']),
        annotator_id=st.sampled_from(["a", "b", "c"]),
        timestamp=st.floats(allow_nan=False, allow_infinity=False),
        confidence=st.none() | st.floats(0, 1),
    ),
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(rows=label_rows, order=st.randoms(use_true_random=False))
def test_property_the_hashes_do_not_depend_on_arrival_order(rows, order):
    snapshot = LabeledSnapshot.of(rows)
    shuffled = list(snapshot.rows)
    order.shuffle(shuffled)
    again = LabeledSnapshot.of(shuffled)
    assert again.content_hash == snapshot.content_hash
    incremental = LabelSetHash()
    for row in shuffled:
        incremental.add_one(row)
    assert incremental.hexdigest() == snapshot.label_set_hash
    assert len(snapshot) == len({r.key for r in rows})  # first answer per (item, annotator)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=label_rows)
def test_property_a_written_snapshot_reads_back_identical(rows, tmp_path_factory):
    out = tmp_path_factory.mktemp("snapshots")
    snapshot = LabeledSnapshot.of(rows)
    directory = write_snapshot(snapshot, out, created_at=0.0)
    back, manifest = read_snapshot(directory)
    assert back == snapshot and manifest["content_hash"] == snapshot.content_hash
    with (directory / "labels.csv").open(newline="", encoding="utf-8") as f:
        from_csv = [
            LabeledRow(
                r["item_id"],
                r["text"],
                r["label"],
                r["annotator_id"],
                float(r["timestamp"]),
                float(r["confidence"]) if r["confidence"] else None,
            )
            for r in csv.DictReader(f)
        ]
    assert LabeledSnapshot.of(from_csv) == snapshot
    assert write_snapshot(snapshot, out) == directory  # same content: no new version
    assert Path(directory).name == "v0001"
