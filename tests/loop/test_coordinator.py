"""The coordinator without a broker: budget, idempotency, labels, expiry, publishing, restore."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import Settings
from stream_al.embed import Embedder, make_embedder
from stream_al.labels import Label
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import Purchase, ScoredTexts
from stream_al.loop.restore import History
from stream_al.score.batch import score_many

AG_NEWS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "ag_news.csv"


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str]]:
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        return [
            (r["text"], r["label"]) for _, r in zip(range(400), csv.DictReader(f), strict=False)
        ]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return make_embedder(Settings(embedder={"name": "hashing", "hashing_features": 2**14}).embedder)


def make_settings(annotation: dict | None = None, refit_every_s: float = 0.0,
                  **kafka) -> Settings:
    """One refit per record of labels unless ``refit_every_s`` (the tests' clock is fixed)."""
    return Settings(
        embedder={"name": "hashing"},
        learner={"refit_every_s": refit_every_s},
        budget={"fraction": 0.1, "warmup_labels": 4},
        selection={"batch_interval": 50},
        kafka=kafka,
        annotation=annotation or {},
    )


class Feed:
    """Turns dataset rows into control records the way the scorers and labels agents do."""

    def __init__(self, coordinator: Coordinator, embedder: Embedder, rows) -> None:
        self.c, self.embedder, self.rows = coordinator, embedder, rows
        self.offset = 0

    def scored(self, start: int, stop: int, prefix: str = "ag") -> ScoredTexts:
        ids = [f"{prefix}-{i}" for i in range(start, stop)]
        texts = [self.rows[i][0] for i in range(start, stop)]
        X = self.embedder.embed(texts)
        snapshot = self.c.learner.snapshot()
        return ScoredTexts(f"b{start}", ids, texts, X, score_many(snapshot, X), snapshot.version)

    def texts(self, start: int, stop: int, now: float = 100.0) -> list[Purchase]:
        self.offset += 1
        return self.c.on_scored(self.scored(start, stop), self.offset, now)

    def labels(self, items, annotator: str = "a", label=None, now: float = 100.0):
        self.offset += 1
        labels = [
            Label(
                item_id=i,
                annotator_id=annotator,
                timestamp=now,
                label=label or self.rows[int(i.split("-")[1])][1],
                received_at=now,
            )
            for i in items
        ]
        return self.c.on_labels(labels, self.offset, now)


EACH_LABEL = {"learn_from": "labels"}
"""Every (item, annotator) label is a training example (no adjudication)."""


def fresh(embedder, rows, annotation: dict | None = None, **kafka) -> Feed:
    settings = make_settings(annotation, **kafka)
    return Feed(Coordinator(settings, embedder.dim, embedder), embedder, rows)


def test_selection_spends_within_the_budget_and_never_buys_an_item_twice(embedder, rows):
    feed = fresh(embedder, rows)
    bought: list[Purchase] = []
    for start in range(0, 400, 40):
        bought += feed.texts(start, start + 40)
        budget = feed.c.stage.budget
        assert budget.spent <= 0.1 * budget.seen + 4 + 1e-9
    bought += feed.c.flush(now=200.0)
    ids = [b.item_id for b in bought]
    assert len(ids) == len(set(ids)) and 30 <= len(ids) <= 44
    assert all(b.text == rows[int(b.item_id.split("-")[1])][0] for b in bought)
    assert all(b.deadline == 100.0 + 3600.0 for b in bought if b.batch_id.startswith("sel-"))
    assert {b.group for b in bought} and all(b.batch_id for b in bought)


def test_a_replayed_record_or_a_reproduced_item_is_not_bought_again(embedder, rows):
    feed = fresh(embedder, rows)
    record = feed.scored(0, 100)
    first = feed.c.on_scored(record, 1, 100.0)
    assert first
    assert feed.c.on_scored(record, 1, 100.0) == []  # the same offset again: already counted
    seen = feed.c.stage.budget.seen
    again = feed.c.on_scored(record, 2, 100.0)  # the same texts produced again
    assert not {a.item_id for a in again} & {f.item_id for f in first}
    assert feed.c.stage.budget.seen == seen + 100 - len(first)  # bought ones are not re-counted


def test_labels_teach_the_model_once_per_item_and_annotator(embedder, rows):
    feed = fresh(embedder, rows, EACH_LABEL)
    bought = feed.texts(0, 200)
    ids = [b.item_id for b in bought]
    outcome = feed.labels(ids)
    assert len(outcome.accepted) == len(ids) and outcome.version == 1
    assert outcome.gains == [1.0] * len(ids)  # a model that knew nothing learns everything
    assert not feed.c.stage.outstanding

    again = feed.labels(ids[:3])
    assert len(again.duplicates) == 3 and again.version == 1
    second_opinion = feed.labels(ids[:3], annotator="b")
    assert len(second_opinion.accepted) == 3 and second_opinion.version == 2
    assert len(second_opinion.correct) == 3  # the model was ready: prequential accuracy
    assert 0.0 <= feed.c.prequential.accuracy <= 1.0

    unknown = feed.labels(["ag-399"])
    assert [r.reason for _, r in unknown.rejected] == ["unknown_item"]


def test_calibration_and_agreement_are_measured_on_the_labels_that_came_back(embedder, rows):
    feed = fresh(embedder, rows, EACH_LABEL)
    ids = [b.item_id for b in feed.texts(0, 200)]
    feed.labels(ids)  # nothing to predict with yet, and one label per item
    assert math.isnan(feed.c.prequential.calibration_error)
    assert math.isnan(feed.c.agreement_alpha())

    feed.labels(ids[:6], annotator="b")  # the same (gold) classes as annotator a
    assert 0.0 <= feed.c.prequential.calibration_error <= 1.0
    assert feed.c.agreement_alpha() == 1.0
    feed.labels(ids[:6], annotator="c", label="no such class")
    assert feed.c.agreement_alpha() < 1.0


def test_a_batch_from_a_scorer_with_another_embedder_is_refused_before_it_is_counted(
    embedder, rows
):
    feed = fresh(embedder, rows)
    feed.texts(0, 100)
    seen, offset = feed.c.stage.budget.seen, feed.c.control_offset
    X = np.ones((3, 8), dtype=np.float32)
    alien = ScoredTexts("alien", ["x-0", "x-1", "x-2"], ["a", "b", "c"], X, {}, 0)

    with pytest.raises(ValueError, match="one embedder"):
        feed.c.on_scored(alien, offset + 1, 100.0)

    assert feed.c.stage.budget.seen == seen and feed.c.control_offset == offset


def test_the_reject_policy_refuses_classes_outside_the_configured_ones(embedder, rows):
    feed = fresh(embedder, rows, label_policy="reject", label_classes=["World", "Sports"])
    bought = [b.item_id for b in feed.texts(0, 200)]
    outcome = feed.labels(bought[:2], label="Gardening")
    assert [r.reason for _, r in outcome.rejected] == ["unknown_class"] * 2
    assert len(feed.labels(bought[2:4], label="World").accepted) == 2


def test_late_selections_expire_and_return_their_cost(embedder, rows):
    feed = fresh(embedder, rows)
    bought = feed.texts(0, 200, now=0.0)
    spent = feed.c.stage.budget.spent
    assert feed.c.expire(now=10.0) == []
    expired = feed.c.expire(now=3601.0)
    assert {e.item_id for e in expired} == {b.item_id for b in bought}
    assert feed.c.stage.budget.spent == spent - len(bought)
    late = feed.labels([bought[0].item_id])  # a late label is still learned
    assert len(late.accepted) == 1


def test_models_are_published_at_most_every_publish_interval_and_once_per_version(embedder, rows):
    feed = fresh(embedder, rows)
    assert feed.c.model_update(now=0.0) is None  # nothing learned yet
    bought = [b.item_id for b in feed.texts(0, 200)]
    feed.labels(bought[:10], now=50.0)
    update = feed.c.model_update(now=100.0)
    assert update.version == 1 and update.label_received_at == [50.0] * 10
    feed.labels(bought[10:20])
    assert feed.c.model_update(now=100.1) is None  # too soon
    assert feed.c.model_update(now=100.1, force=True).version == 2
    assert feed.c.model_update(now=200.0) is None  # nothing new


def test_labels_arriving_faster_than_the_refit_interval_wait_for_one_refit(embedder, rows):
    feed = Feed(Coordinator(make_settings(refit_every_s=0.25), embedder.dim, embedder),
                embedder, rows)
    bought = [b.item_id for b in feed.texts(0, 200)]
    assert feed.labels(bought[:4], now=10.0).version == 1  # the first labels: fitted at once
    waiting = [feed.labels([item], now=10.0 + 0.05 * k) for k, item in enumerate(bought[4:8])]
    assert [o.version for o in waiting] == [1, 1, 1, 1]  # stored, learned, not refitted yet
    assert feed.c.learner.unfitted == 4 and len(feed.c.learned) == 8
    assert feed.c.model_update(now=10.2) is None  # no model that leaves the four out
    update = feed.c.model_update(now=10.45)  # due: one refit for the four, then published
    assert update.version == 2 and update.n_labels == 8 and feed.c.learner.unfitted == 0
    assert feed.c.learner.snapshot().n_labels == 8


def test_a_clock_set_back_does_not_hold_back_refits_models_or_idle_flushes(embedder, rows):
    """An NTP step or a restored VM moves the wall clock back: rate limits count it as due
    rather than waiting until the clock is past the last refit again."""
    feed = Feed(Coordinator(make_settings(refit_every_s=0.25), embedder.dim, embedder),
                embedder, rows)
    bought = [b.item_id for b in feed.texts(0, 200, now=5000.0)]
    assert feed.labels(bought[:4], now=5000.0).version == 1
    assert feed.c.model_update(now=5000.0).version == 1
    assert not feed.c.idle.due(5001.0)
    feed.labels(bought[4:8], now=1000.0)  # the clock went back more than an hour
    update = feed.c.model_update(now=1000.0)
    assert update is not None and update.version == 2 and update.n_labels == 8
    assert feed.c.idle.due(1000.0)


def test_a_restored_coordinator_has_the_same_budget_outstanding_items_and_labels(embedder, rows):
    feed = fresh(embedder, rows)
    bought = feed.texts(0, 200) + feed.texts(200, 300)
    labelled = [b.item_id for b in bought[:20]]
    feed.labels(labelled)
    published = feed.c.model_update(now=1e9, force=True)
    ledger = feed.c.ledger(now=1e9)
    expired = {bought[-1].item_id: bought[-1].cost}
    feed.c.stage.outstanding.pop(bought[-1].item_id)
    feed.c.stage.budget.release(bought[-1].cost)
    labels = [
        Label(
            item_id=i,
            annotator_id="a",
            timestamp=1.0,
            label=rows[int(i.split("-")[1])][1],
        )
        for i in labelled
    ]
    labels += labels[:5]  # a vendor's retries
    labels += [
        Label(
            item_id="never-selected",
            annotator_id="a",
            timestamp=1.0,
            label="World",
        )
    ]

    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    summary = restored.restore(History(bought, expired, labels, ledger, published.version, now=1e9))
    b0, b1 = feed.c.stage.budget, restored.stage.budget
    assert (b1.seen, b1.spent) == (b0.seen, b0.spent)
    assert set(restored.stage.outstanding) == set(feed.c.stage.outstanding)
    assert (summary.labels, summary.rejected_labels) == (20, 1)
    assert restored.learner.version == published.version + 1
    assert restored.control_offset == ledger.control_offset
    assert restored.on_scored(feed.scored(0, 100), ledger.control_offset, 0.0) == []
    X = embedder.embed([rows[i][0] for i in range(300, 340)])
    agree = np.mean(
        np.array(restored.learner.snapshot().predict_many(X))
        == np.array(feed.c.learner.snapshot().predict_many(X))
    )
    assert agree >= 0.8  # the same labels, learned in one go instead of incrementally


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=12),
    st.sampled_from(["random", "uncertainty", "diverse", "bandit"]),
)
def test_no_strategy_overspends_whatever_the_batch_sizes(embedder_and_rows, sizes, strategy):
    embedder, rows = embedder_and_rows
    settings_ = make_settings()
    c = Coordinator(settings_, embedder.dim, embedder, strategy)
    feed = Feed(c, embedder, rows)
    start, bought = 0, []
    for n in sizes:
        bought += feed.texts(start, min(start + n, len(rows)))
        start = (start + n) % (len(rows) - 60)
        assert c.stage.budget.spent <= 0.1 * c.stage.budget.seen + 4 + 1e-9
    ids = [b.item_id for b in bought]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def embedder_and_rows(embedder, rows):
    return embedder, rows


@pytest.mark.parametrize("strategy", ["diverse", "bandit", "random", "uncertainty"])
def test_texts_delivered_twice_are_bought_once_and_charged_once(embedder, rows, strategy):
    c = Coordinator(make_settings(), embedder.dim, embedder, strategy)
    feed = Feed(c, embedder, rows)
    record = feed.scored(0, 40)
    bought = c.on_scored(record, 1, 0.0) + c.on_scored(record, 2, 0.0)  # redelivered
    bought += c.flush(now=10.0)
    ids = [b.item_id for b in bought]
    assert len(ids) == len(set(ids))
    assert c.stage.budget.spent == len(ids)
    assert set(c.stage.outstanding) == set(ids)


def test_every_scored_item_not_bought_before_is_offered_to_the_learners_unlabelled_sample(
        embedder, rows):
    settings = make_settings()
    settings = settings.model_copy(update={  # self-training on
        "learner": settings.learner.model_copy(update={"pseudo_labels": 3.0})})
    feed = Feed(Coordinator(settings, embedder.dim, embedder), embedder, rows)
    feed.texts(0, 100)
    assert feed.c.learner.unlabelled.seen == 100
    feed.c.on_scored(feed.scored(100, 150), 99, 100.0)
    assert feed.c.learner.unlabelled.seen == 150
