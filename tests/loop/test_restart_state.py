"""What a restart keeps besides purchases and labels, without a broker: the charges of a
budget window that a batch crossed just before the crash, and a drift response in progress
(its clock and its debt). The broker tests in tests/stream/test_restart_state.py kill -9 a
worker for the same states."""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.drift.base import DriftAlarm
from stream_al.embed import Embedder, make_embedder
from stream_al.labels import Label
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import BudgetLedger, ModelRelease, Purchase
from stream_al.loop.restore import History
from stream_al.select.budget import Budget
from stream_al.select.stack import find
from stream_al.select.validation import VALIDATION_REASON, ValidationTrickle
from stream_al.stream.messages import ModelUpdate, parse
from tests.loop.test_coordinator import AG_NEWS, Feed, make_settings


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str]]:
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        return [(r["text"], r["label"]) for _, r in zip(range(1000), csv.DictReader(f),
                                                        strict=False)]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return make_embedder(Settings(embedder={"name": "hashing", "hashing_features": 2**14}).embedder)


WINDOW, FRACTION, WARMUP = 100, 0.1, 4


def fed(embedder, rows, **sections) -> Feed:
    """A coordinator on the tests' settings with ``sections`` changed."""
    settings = make_settings()
    for name, values in sections.items():
        part = getattr(settings, name).model_copy(update=values)
        settings = settings.model_copy(update={name: part})
    return Feed(Coordinator(settings, embedder.dim, embedder), embedder, rows)


def windowed(embedder, rows) -> Feed:
    return fed(embedder, rows, budget={"window_items": WINDOW})


def spent_per_window(bought: list[Purchase]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in bought:
        out[p.window] = out.get(p.window, 0.0) + p.cost
    return out


def test_a_budget_counts_its_windows_and_starts_a_carried_one_with_its_charges():
    budget = Budget(FRACTION, window_items=WINDOW)
    budget.observe(150)
    assert budget.window == 1 and budget.window_seen == 50
    budget.carried = {2: 3.0, 3: 1.0}
    budget.observe(60)  # into window 2: it starts with what was bought in it before a crash
    assert (budget.window, budget.window_spent, budget.carried) == (2, 3.0, {3: 1.0})
    budget.observe(200)  # past window 3 into 4: nothing carried is left
    assert (budget.window, budget.window_spent, budget.carried) == (4, 0.0, {})


def test_a_batch_crossing_a_window_is_charged_to_its_window_after_a_crash(embedder, rows):
    feed = windowed(embedder, rows)
    bought = feed.texts(0, 90)
    ledger = feed.c.ledger(now=0.0)  # the last ledger written ...
    crossing = feed.scored(90, 160)
    bought += feed.c.on_scored(crossing, 2, 0.0)  # ... then a batch into window 1, then a crash
    assert {p.window for p in bought} == {0, 1}

    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, [], ledger, 0, now=0.0))
    after = Feed(restored, embedder, rows)
    after.offset = 1
    assert restored.on_scored(crossing, 2, 0.0) == []  # the replayed batch buys nothing again
    after.offset = 2
    for start in range(160, 200, 20):
        bought += after.texts(start, start + 20)
    per_window = spent_per_window(bought)
    assert per_window[1] <= FRACTION * WINDOW + WARMUP + 1e-9, per_window
    assert len({p.item_id for p in bought}) == len(bought)


def test_window_charges_of_a_lagging_ledger_add_up_to_what_was_bought(embedder, rows):
    feed = windowed(embedder, rows)
    bought = feed.texts(0, 90)
    ledger = feed.c.ledger(now=0.0)
    bought += feed.texts(90, 160)
    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, [], ledger, 0, now=0.0))
    b = restored.stage.budget
    assert b.window == 0 and b.carried == {1: spent_per_window(bought)[1]}
    assert b.window_spent == pytest.approx(spent_per_window(bought)[0])
    assert b.spent == pytest.approx(sum(p.cost for p in bought))


def alarm() -> DriftAlarm:
    return DriftAlarm("embedding_mmd", 1.0, 0.5, 0)


def test_a_drift_response_in_progress_goes_on_after_a_restart_with_its_debt(embedder, rows):
    feed = fed(embedder, rows, drift={"max_credit": 10.0})
    bought = feed.texts(0, 200)
    feed.c.governance.on_alarms([alarm()])
    for start in range(200, 300, 50):
        bought += feed.texts(start, start + 50)
    elapsed, debt = feed.c.governance.progress()
    assert feed.c.governance.responding and elapsed == 100 and debt > 0  # it borrowed
    ledger = feed.c.ledger(now=0.0)
    assert (ledger.drift_elapsed, ledger.drift_debt) == (elapsed, debt)

    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, [], ledger, 0, now=0.0))
    assert restored.governance.responding
    assert restored.governance.progress() == pytest.approx((elapsed, debt))
    total = sum(p.cost for p in bought)
    assert restored.stage.budget.spent + restored.governance.debt == pytest.approx(total)
    period = restored.settings.drift.response_items
    after = Feed(restored, embedder, rows)
    after.offset = feed.offset
    for start in range(300, 300 + period - int(elapsed), 50):  # the rest of the response, no more
        after.texts(start, start + 50)
    assert not restored.governance.responding


def test_no_response_in_progress_is_written_as_none_and_restored_as_none(embedder, rows):
    feed = Feed(Coordinator(make_settings(), embedder.dim, embedder), embedder, rows)
    bought = feed.texts(0, 100)
    ledger = feed.c.ledger(now=0.0)
    assert (ledger.drift_elapsed, ledger.drift_debt) == (-1, 0.0)
    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, [], ledger, 0, now=0.0))
    assert not restored.governance.responding and math.isclose(restored.governance.debt, 0.0)


def test_a_rebuild_continues_from_the_last_published_model_when_it_learned_every_label(
    embedder, rows
):
    feed = Feed(Coordinator(make_settings(), embedder.dim, embedder), embedder, rows)
    bought = feed.texts(0, 300)
    feed.labels([p.item_id for p in bought])
    published = feed.c.model_update(now=1e9, force=True)
    labels = [Label(p.item_id, rows[int(p.item_id.split("-")[1])][1], "a", 1.0) for p in bought]
    ledger = feed.c.ledger(now=1e9)

    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, labels, ledger, published.version, now=1e9,
                             model=published.snapshot))
    after = restored.learner.snapshot()
    assert after.version == published.version + 1 and after.n_labels == len(bought)
    assert np.array_equal(after.weights, published.snapshot.weights)  # no fit: its weights

    other = Coordinator(feed.c.settings, embedder.dim, embedder)  # it learned one more label
    other.restore(History(bought, {}, labels[:-1], ledger, published.version, now=1e9,
                          model=published.snapshot))
    refitted = other.learner.snapshot()
    assert refitted.n_labels == len(bought) - 1
    assert not np.array_equal(refitted.weights, published.snapshot.weights)  # fitted afresh


def test_a_rebuild_flags_the_labels_drawn_for_validation_again(embedder, rows):
    """The learner's l2 search validates on the rows drawn uniformly from the stream
    (selection.validation_share): a rebuilt learner must know them, whether it continues from
    the published model's weights or is fitted afresh."""
    feed = fed(embedder, rows, selection={"validation_share": 0.5})
    bought = [p for start in range(0, 1000, 100) for p in feed.texts(start, start + 100)]
    drawn = [p.item_id for p in bought if p.reason == VALIDATION_REASON]
    assert 5 <= len(drawn) < len(bought) // 2
    feed.labels([p.item_id for p in bought])
    assert flagged(feed.c.learner) == vectors(feed, drawn)
    published = feed.c.model_update(now=1e9, force=True)
    labels = [Label(p.item_id, rows[int(p.item_id.split("-")[1])][1], "a", 1.0) for p in bought]
    ledger = feed.c.ledger(now=1e9)
    for learned in (labels, labels[:-1]):  # from the published weights; fitted afresh
        restored = Coordinator(feed.c.settings, embedder.dim, embedder)
        restored.restore(History(bought, {}, learned, ledger, published.version, now=1e9,
                                 model=published.snapshot))
        kept = {x.item_id for x in learned}
        assert flagged(restored.learner) == vectors(feed, [i for i in drawn if i in kept])
        assert restored.uniform == set(drawn)


def test_a_rebuilt_trickle_goes_on_from_the_purchases_and_draws_restored(embedder, rows):
    """A restored trickle neither waits again for its start nor catches up a second time: it
    counts the purchases and the uniform draws of the history it was restored from."""
    feed = fed(embedder, rows, selection={"validation_share": 0.5})
    bought = [p for start in range(0, 1000, 100) for p in feed.texts(start, start + 100)]
    drawn = [p.item_id for p in bought if p.reason == VALIDATION_REASON]
    live = find(feed.c.stage.selector, ValidationTrickle)
    assert live.drawn == len(drawn) >= live.needed() and not live.catching_up
    feed.labels([p.item_id for p in bought[:-10]])  # ten still out when it went down
    labels = [Label(p.item_id, rows[int(p.item_id.split("-")[1])][1], "a", 1.0)
              for p in bought[:-10]]
    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, labels, feed.c.ledger(now=1e9), 0, now=1e9))
    trickle = find(restored.stage.selector, ValidationTrickle)
    assert (trickle.bought, trickle.drawn) == (len(bought), len(drawn))
    assert trickle.drawing and not trickle.catching_up


def flagged(learner) -> set[bytes]:
    """The rows the learner holds as uniform draws."""
    return {row.tobytes() for row in learner.replay.X[learner.replay.uniform]}


def vectors(feed: Feed, ids: list[str]) -> set[bytes]:
    texts = [feed.rows[int(i.split("-")[1])][0] for i in ids]
    return {row.tobytes() for row in feed.embedder.embed(texts).astype(np.float32)}


def test_a_rebuild_stores_the_first_label_of_each_annotator_and_hashes_exactly_those(embedder):
    """Into a fresh coordinator, a rebuild writes its labels at once (duplicates found in
    memory): the store and ``labels_hash`` hold the first label per (item, annotator), a label
    of an item never bought is refused, as label-by-label storing would."""
    from stream_al.labels.export import LabeledSnapshot

    texts = {f"i-{n}": f"story {n} about markets" for n in range(6)}
    bought = [Purchase(i, t, "b", "uncertainty", "uncertainty", {}, 0, 1e12, 1.0, 0, 0.0, 2)
              for i, t in texts.items()]
    labels = [Label(f"i-{n % 6}", ("World", "Sports")[n % 2], f"ann-{n % 4}", float(n), None,
                    5.0) for n in range(30)]
    labels.append(Label("never-bought", "World", "ann-0", 99.0))
    c = Coordinator(make_settings(), embedder.dim, embedder)
    restored = c.restore(History(bought, {}, labels, None, 0, 1.0))

    first: dict[tuple[str, str], Label] = {}
    for x in labels[:-1]:
        first.setdefault(x.key, x)
    assert restored.rejected_labels == 1
    assert sorted((x.item_id, x.annotator_id, x.label, x.timestamp, x.received_at)
                  for x in c.labels) == sorted(
        (x.item_id, x.annotator_id, x.label, x.timestamp, 0.0) for x in first.values())
    assert len(c.labels) == len(first) < 30
    assert c.labels_hash.hexdigest() == LabeledSnapshot.from_labels(
        first.values(), texts).label_set_hash


def test_a_rebuild_into_a_store_with_rows_adds_only_the_labels_it_does_not_hold(embedder):
    """The same one path when the store already holds rows: a (item, annotator) it holds is
    not stored again (nor hashed), every other first label is, in the one transaction."""
    texts = {f"i-{n}": f"story {n} about markets" for n in range(4)}
    bought = [Purchase(i, t, "b", "uncertainty", "uncertainty", {}, 0, 1e12, 1.0, 0, 0.0, 2)
              for i, t in texts.items()]
    labels = [Label(f"i-{n % 4}", ("World", "Sports")[n % 2], f"ann-{n % 3}", float(n))
              for n in range(12)]
    c = Coordinator(make_settings(), embedder.dim, embedder)
    held = Label("i-0", "Sports", "ann-0", -1.0)
    assert c.labels.add_one(held)
    c.restore(History(bought, {}, labels, None, 0, 1.0))

    first: dict[tuple[str, str], Label] = {held.key: held}
    for x in labels:
        first.setdefault(x.key, x)
    assert sorted((x.item_id, x.annotator_id, x.label) for x in c.labels) == sorted(
        (x.item_id, x.annotator_id, x.label) for x in first.values())
    assert len(c.labels) == len(first)


def test_a_rebuild_with_ood_at_scorers_sends_the_scorers_its_last_rows_numbered_on(
        embedder, rows):
    """A restarted coordinator numbers rows from its restored state: the count of labels it
    learned; the last ``ood.capacity`` of them go out again (the shell writes them in its
    rebuild's transaction), overwriting the ring's slots whatever an earlier owner wrote."""
    feed = fed(embedder, rows, scale={"preselect": True, "ood_at_scorers": True},
               ood={"capacity": 20})
    bought = feed.texts(0, 400)
    feed.labels([p.item_id for p in bought])
    learned = feed.c.reference.count
    assert learned == len(feed.c.learned) > 20
    labels = [Label(p.item_id, rows[int(p.item_id.split("-")[1])][1], "a", 1.0) for p in bought]
    restored = Coordinator(feed.c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, labels, feed.c.ledger(now=1e9), 0, now=1e9))
    numbers, X = restored.reference.take_numbered_many()
    assert numbers.tolist() == list(range(learned - 20, learned))
    last = [x.item_id for x in restored.learned.last(20)]
    assert np.allclose(X, embedder.embed([rows[int(i.split("-")[1])][0] for i in last]))


@dataclass(frozen=True)
class Served:
    """A coordinator with a served head (``learner.served_rule: nll``) that learned 104 labels
    of AG News and published its model: what a rebuild reads back."""

    settings: Settings
    learner: OnlineLearner
    bought: list[Purchase]
    labels: list[Label]
    ledger: BudgetLedger
    published: ModelRelease


def published(embedder, rows, settings: Settings) -> Served:
    """A coordinator on ``settings`` that bought from the first 1,000 rows, learned their labels
    (104) and published its model."""
    feed = Feed(Coordinator(settings, embedder.dim, embedder), embedder, rows)
    bought = feed.texts(0, 1000)
    feed.labels([p.item_id for p in bought])
    model = feed.c.model_update(now=1e9, force=True)
    labels = [Label(p.item_id, rows[int(p.item_id.split("-")[1])][1], "a", 1.0) for p in bought]
    return Served(settings, feed.c.learner, bought, labels, feed.c.ledger(now=1e9), model)


@pytest.fixture(scope="module")
def served(embedder, rows) -> Served:
    settings = make_settings()
    settings = settings.model_copy(update={"learner": settings.learner.model_copy(
        update={"served_rule": "nll", "cv_rule": "best"})})
    return published(embedder, rows, settings)  # the served head's l2 is weaker than the main's


@pytest.fixture(scope="module")
def plain(embedder, rows) -> Served:
    """The tests' settings: no served rule, the search's default rule."""
    return published(embedder, rows, make_settings())


def rebuilt(embedder, s: Served, model: ModelSnapshot | None) -> Coordinator:
    """A fresh coordinator restored from ``s``'s records and ``model`` as the last published."""
    restored = Coordinator(s.settings, embedder.dim, embedder)
    restored.restore(History(s.bought, {}, s.labels, s.ledger, s.published.version, now=1e9,
                             model=model))
    return restored


def through_models(snapshot: ModelSnapshot, dim: int) -> ModelSnapshot:
    """``snapshot`` as a rebuild reads it back: a record on ``models``, parsed and checked."""
    raw = ModelUpdate.of(snapshot).to_bytes()
    update = parse(ModelUpdate, raw)
    assert isinstance(update, ModelUpdate), update
    return update.to_snapshot(dim)


def test_a_rebuild_continues_the_served_head_it_had(embedder, served):
    """The served head's l2 (the served rule's choice, or the guard's weaker one) and its
    weights survive a rebuild from the last published model, as the main model's weights do."""
    head = served.learner.served_snapshot()
    assert not np.array_equal(head.weights, served.published.snapshot.weights)  # its own head
    restored = rebuilt(embedder, served, served.published.snapshot)
    assert restored.learner.served.l2 == served.learner.served.l2
    assert np.array_equal(restored.learner.served_snapshot().weights, head.weights)


def test_a_rebuild_reads_the_served_head_back_from_the_models_record(embedder, served):
    head = served.learner.served_snapshot()
    restored = rebuilt(embedder, served, through_models(served.published.snapshot, embedder.dim))
    assert restored.learner.served.l2 == served.learner.served.l2 != restored.learner.main.l2
    assert restored.learner.served_snapshot().fingerprint() == head.fingerprint()
    again = restored.model_update(now=2e9, force=True).snapshot  # published again as it came
    assert again.served.l2 == served.learner.served.l2
    assert np.array_equal(again.served.weights, served.published.snapshot.served.weights)


def test_a_rebuild_from_a_record_without_a_served_head_serves_the_main_model_until_a_fit(
        embedder, served, rows):
    """A model published before the served head existed (or with the rule off) still restores:
    the served head is the main's, at the prior, until its next fit."""
    before = dataclasses.replace(served.published.snapshot, served=None)
    restored = rebuilt(embedder, served, through_models(before, embedder.dim))
    learner = restored.learner
    assert learner.served_snapshot().fingerprint() == before.fingerprint()
    assert learner.served.l2 == served.settings.learner.l2_prior
    text, label = rows[0]
    learner.learn_many(embedder.embed([text]), [label])  # the next fit: a head of its own
    assert learner.served.l2 == learner.main.search.served_l2
    assert not np.array_equal(learner.served_snapshot().weights, before.weights)


# ---- the learner's penalty and its search schedule --------------------------------------------
def test_a_rebuild_continues_the_learners_penalty_and_search_schedule(embedder, plain):
    """The main model and the committee keep the l2 they were fitted at, and the search its
    labels at the last search: the next one is due at ``cv_growth`` times those, as without
    the rebuild (not at once, at the prior)."""
    before = plain.learner
    restored = rebuilt(embedder, plain, through_models(plain.published.snapshot, embedder.dim))
    learner = restored.learner
    assert learner.main.l2 == before.main.l2 != plain.settings.learner.l2_prior
    assert {m.l2 for m in learner.committee} == {before.main.l2}
    assert learner.main.search.searched_at == before.main.search.searched_at > 0
    k = len(before.classes)
    assert [n for n in range(1, 400) if learner.main.search.due(n, k)] == \
        [n for n in range(1, 400) if before.main.search.due(n, k)]


def test_the_first_refit_after_a_rebuild_runs_no_search(embedder, plain, rows):
    restored = rebuilt(embedder, plain, through_models(plain.published.snapshot, embedder.dim))
    learner = restored.learner
    searched_at, l2 = learner.main.search.searched_at, learner.main.l2
    text, label = rows[0]
    learner.learn_many(embedder.embed([text]), [label])
    assert (learner.main.search.searched_at, learner.main.l2) == (searched_at, l2)


def test_a_rebuild_from_a_record_without_the_search_state_searches_in_its_first_refit(
        embedder, plain, rows):
    """A model published before the search's state was kept: the prior, then a search in the
    first refit on every label in the memory, as before."""
    before = dataclasses.replace(plain.published.snapshot, search=None)
    learner = rebuilt(embedder, plain, through_models(before, embedder.dim)).learner
    assert learner.main.l2 == plain.settings.learner.l2_prior
    assert learner.main.search.searched_at == 0
    text, label = rows[0]
    learner.learn_many(embedder.embed([text]), [label])
    assert learner.main.search.searched_at == len(learner.replay)
