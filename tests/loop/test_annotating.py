"""What the coordinator learns from several labels per item: verdicts, once; escalations;
suspicious labels held for experts (learned and reported when there are none); corrections; annotator quality on gold. No broker."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.labels import Label, LabelStore
from stream_al.learn.online import OnlineLearner
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.annotating import ADJUDICATED, Annotating

DIM = 4
COLD = ModelSnapshot.empty(DIM)


def vector(item_id: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(item_id)) % 2**32)
    v = rng.normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def embed(ids):
    return np.stack([vector(i) for i in ids]) if ids else np.zeros((0, DIM), np.float32)


class Desk:
    """An Annotating with its label store, fed labels the way the coordinator feeds it."""

    def __init__(self, **annotation) -> None:
        settings = Settings(annotation={"adjudication": "majority", "noise_check": False,
                                        **annotation})
        self.a = Annotating(settings.annotation, settings.learner, DIM)
        self.store = LabelStore()
        self.texts: dict[str, str] = {}
        self.t = 0.0

    def buy(self, item_id: str, k: int = 1, deadline: float = 1e9) -> None:
        self.texts[item_id] = f"text of {item_id}"
        self.a.bought(item_id, k, deadline)

    def label(self, *answers: tuple[str, str, str], now: float = 0.0,
              snapshot: ModelSnapshot = COLD):
        accepted = []
        for item_id, label, annotator in answers:
            self.t += 1
            x = Label(item_id, label, annotator, self.t, received_at=self.t)
            if self.store.add_one(x):
                accepted.append(x)
        return self.a.on_labels(accepted, self.store, self.texts, snapshot, embed, now)


def test_an_item_asked_of_three_is_learned_once_when_its_third_label_arrives():
    desk = Desk(min_confidence=0.6)  # two of three agreeing is enough
    desk.buy("x", k=3)
    assert desk.label(("x", "World", "a")).learn == []
    assert desk.label(("x", "World", "b")).learn == []
    plan = desk.label(("x", "Sports", "c"))
    assert [(y.item_id, y.label, y.annotator_id) for y in plan.learn] == [
        ("x", "World", ADJUDICATED)]
    assert not plan.relearn and desk.a.learned() == [("x", "World")]


def test_a_single_label_item_is_learned_at_once_and_a_duplicate_changes_nothing():
    desk = Desk()
    desk.buy("y")
    assert [x.label for x in desk.label(("y", "Sports", "a")).learn] == ["Sports"]
    assert desk.label(("y", "Sports", "a")).learn == []  # same (item, annotator): not stored


def test_a_later_label_that_changes_the_verdict_asks_for_a_relearn_and_is_reported():
    desk = Desk(min_confidence=0.5)
    desk.buy("z", k=1)
    desk.label(("z", "World", "a"))
    desk.label(("z", "Sports", "b"))  # a tie: the first label still wins, nothing changes
    plan = desk.label(("z", "Sports", "c"))  # now two of three say Sports
    assert plan.relearn and plan.learn == []
    assert [(c.old, c.new) for c in plan.changed] == [("World", "Sports")]
    assert desk.a.learned() == [("z", "Sports")]
    learner = OnlineLearner(DIM)
    learner.learn_many(embed(["z", "z"]), ["World", "World"])
    relearned = desk.a.relearn(learner, embed)
    assert relearned.n_labels == 1 and relearned.version == learner.version + 1
    assert relearned.snapshot().classes == ("Sports",)


def test_a_relearn_flags_the_items_drawn_for_validation_again():
    desk = Desk()
    for item in ("u", "v", "w"):
        desk.buy(item)
        desk.label((item, "World" if item != "v" else "Sports", "a"))
    relearned = desk.a.relearn(OnlineLearner(DIM), embed, uniform={"v"})
    assert relearned.replay.uniform.tolist() == [False, True, False]  # the order learned


def test_a_disagreement_goes_to_the_expert_and_the_experts_label_is_final():
    desk = Desk(min_confidence=0.7, expert_annotators=["expert"])
    desk.buy("d", k=2)
    desk.label(("d", "World", "a"))
    plan = desk.label(("d", "Sports", "b"))
    assert plan.learn == [] and plan.settled == ["d"]
    [request] = plan.requests
    assert (request.item_id, request.reason, request.votes) == ("d", "disagreement",
                                                                 {"World": 1, "Sports": 1})
    assert request.annotators == {"a": "World", "b": "Sports"} and request.text == "text of d"
    plan = desk.label(("d", "Sports", "expert"))
    assert [(x.item_id, x.label) for x in plan.learn] == [("d", "Sports")]
    assert plan.requests == []  # asked once


def test_a_learned_verdict_that_becomes_a_disagreement_is_unlearned_and_escalated():
    desk = Desk(min_confidence=0.7, expert_annotators=["expert"])
    desk.buy("u", k=1)
    desk.label(("u", "World", "a"))
    plan = desk.label(("u", "Sports", "b"))
    assert plan.relearn and [c.new for c in plan.changed] == [None]
    assert [r.item_id for r in plan.requests] == ["u"] and desk.a.learned() == []


def test_an_item_whose_deadline_passed_is_settled_with_the_labels_it_has():
    desk = Desk()
    desk.buy("late", k=3, deadline=10.0)
    desk.label(("late", "World", "a"), now=5.0)
    assert desk.a.due(desk.store, desk.texts, COLD, embed, now=9.0).learn == []
    plan = desk.a.due(desk.store, desk.texts, COLD, embed, now=11.0)
    assert [(x.item_id, x.label) for x in plan.learn] == [("late", "World")]
    assert desk.a.due(desk.store, desk.texts, COLD, embed, now=12.0).learn == []


def test_annotator_accuracy_is_measured_on_items_an_expert_labelled():
    desk = Desk(expert_annotators=["expert"])
    for n in range(10):
        desk.buy(f"g{n}", k=2)
        desk.label((f"g{n}", "World", "good"), (f"g{n}", "World" if n < 2 else "Sports", "bad"))
        desk.label((f"g{n}", "World", "expert"))
    accuracy = desk.a.gold_accuracy()
    assert accuracy["good"] == pytest.approx(11 / 12) and accuracy["bad"] == pytest.approx(3 / 12)
    assert "expert" not in accuracy


def test_annotators_below_the_accuracy_floor_are_left_out_of_adjudication():
    desk = Desk(expert_annotators=["expert"], min_annotator_accuracy=0.5, min_gold=5,
                min_confidence=0.5)
    for n in range(6):  # "bad" is wrong on six gold items
        desk.buy(f"g{n}", k=1)
        desk.label((f"g{n}", "Sports", "bad"), (f"g{n}", "World", "expert"))
    desk.buy("x", k=2)
    desk.label(("x", "Sports", "bad"))
    plan = desk.label(("x", "World", "good"))
    assert [(y.item_id, y.label) for y in plan.learn] == [("x", "World")]


def test_a_lone_label_against_a_confident_model_and_its_neighbours_is_held_for_review():
    desk = Desk(noise_check=True, noise_neighbours=3, expert_annotators=["expert"])
    learner = OnlineLearner(DIM)
    base = np.array([1, 0, 0, 0], dtype=np.float32)
    near = {f"n{i}": base + 0.01 * i for i in range(4)}
    desk.a.flagger.remember_many(list(near), np.stack(list(near.values())), ["World"] * 4)
    learner.learn_many(np.stack([base, -base]), ["World", "Sports"])
    desk.buy("s")
    plan = desk.a.on_labels([Label("s", "Sports", "a", 1.0)], _store("s", "Sports"), {"s": "t"},
                            learner.snapshot(), lambda ids: np.stack([base] * len(ids)), 0.0)
    assert plan.learn == [] and [s.item_id for s in plan.suspicions] == ["s"]
    assert [(r.reason, r.model_label) for r in plan.requests] == [("suspicious_label", "World")]
    assert desk.a.take_outbox().suspicions and not desk.a.take_outbox().suspicions


def test_without_experts_a_doubtful_verdict_is_learned_as_adjudicated_and_still_reported():
    desk = Desk(min_confidence=0.7)  # nobody would ever answer an expert request
    desk.buy("d", k=2)
    desk.label(("d", "World", "a"))
    plan = desk.label(("d", "Sports", "b"))
    assert [(x.item_id, x.label) for x in plan.learn] == [("d", "World")]  # the first on a tie
    assert [(r.item_id, r.reason) for r in plan.requests] == [("d", "disagreement")]


def suspicious_setup(**annotation):
    """A desk whose flagger remembers four World items around ``base`` and a model sure of
    World there; returns (desk, snapshot, embed)."""
    desk = Desk(noise_check=True, noise_neighbours=3, **annotation)
    learner = OnlineLearner(DIM)
    base = np.array([1, 0, 0, 0], dtype=np.float32)
    near = {f"n{i}": base + 0.01 * i for i in range(4)}
    desk.a.flagger.remember_many(list(near), np.stack(list(near.values())), ["World"] * 4)
    learner.learn_many(np.stack([base, -base]), ["World", "Sports"])
    return desk, learner.snapshot(), lambda ids: np.stack([base] * len(ids))


def test_without_experts_a_suspicious_label_is_learned_and_reported_not_lost():
    desk, snapshot, near_world = suspicious_setup()
    desk.buy("s")
    plan = desk.a.on_labels([Label("s", "Sports", "a", 1.0)], _store("s", "Sports"), {"s": "t"},
                            snapshot, near_world, 0.0)
    assert [(x.item_id, x.label) for x in plan.learn] == [("s", "Sports")]
    assert [s.item_id for s in plan.suspicions] == ["s"]
    assert [r.reason for r in plan.requests] == ["suspicious_label"]


def test_a_label_of_a_class_the_model_has_not_learned_is_news_not_noise():
    desk, snapshot, near_world = suspicious_setup(expert_annotators=["expert"])
    desk.buy("new")
    plan = desk.a.on_labels([Label("new", "Business", "a", 1.0)], _store("new", "Business"),
                            {"new": "t"}, snapshot, near_world, 0.0)
    assert [(x.item_id, x.label) for x in plan.learn] == [("new", "Business")]
    assert plan.suspicions == [] and plan.requests == []


def test_learning_from_each_label_learns_every_label_and_still_reports_suspicions():
    desk = Desk(learn_from="labels")
    desk.buy("e", k=1)
    plan = desk.label(("e", "World", "a"), ("e", "Sports", "b"))
    assert [x.annotator_id for x in plan.learn] == ["a", "b"] and not plan.relearn


def test_a_rebuild_learns_the_verdicts_of_settled_items_only():
    desk = Desk()
    stored = [Label("r", "World", "a", 1.0), Label("r", "World", "b", 2.0),
              Label("w", "Sports", "a", 3.0)]
    for x in stored:
        desk.store.add_one(x)
    learned = desk.a.restore(stored, desk.store, {}, {"r": (2, 1e9), "w": (2, 1e9)}, now=0.0)
    assert [(x.item_id, x.label) for x in learned] == [("r", "World")]  # w waits for a 2nd


def _store(item_id: str, label: str) -> LabelStore:
    store = LabelStore()
    store.add_one(Label(item_id, label, "a", 1.0))
    return store


def test_the_live_path_recovers_what_majority_loses_on_real_labels():
    """AG News items, three labels each from five simulated annotators (10-40% wrong and an
    adversary), fed one item at a time the way the coordinator feeds them: the verdicts the
    learner is given (EM refitted every 25 items, weighted votes in between) are more often
    right than majority, and every item is learned once."""
    from stream_al.annotation.adjudication import majority_many
    from stream_al.simulate.annotators import SimulatedAnnotator, crowd_labels
    from tests.data import rows

    data = rows("ag_news", 900)
    ids, truth = [f"ag-{n}" for n in range(len(data))], [y for _, y in data]
    pool = [*(SimulatedAnnotator(f"h{e}", e) for e in (0.1, 0.2, 0.3, 0.4)),
            SimulatedAnnotator("adversary", 0.8, kind="adversarial")]
    labels = crowd_labels(pool, ids, truth, sorted(set(truth)), 3, np.random.default_rng(0))
    desk = Desk(adjudication="dawid_skene", min_confidence=0.0)
    learned: dict[str, str] = {}
    for n, item_id in enumerate(ids):
        desk.buy(item_id, k=3)
        plan = desk.label(*[(x.item_id, x.label, x.annotator_id) for x in labels[3 * n:3 * n + 3]])
        for x in plan.learn:
            assert x.item_id not in learned
            learned[x.item_id] = x.label
    for item_id, label in desk.a.learned():  # a relearn may have changed earlier verdicts
        learned[item_id] = label
    gold = dict(zip(ids, truth, strict=True))
    live = np.mean([learned[i] == gold[i] for i in ids])
    majority = np.mean([v.label == gold[i] for i, v in majority_many(labels).items()])
    assert len(learned) == len(ids)
    assert live > majority + 0.03, (live, majority)  # measured: 0.821 vs 0.767


def test_relearns_are_spaced_and_a_pending_one_comes_with_a_later_due_call():
    desk = Desk(min_confidence=0.5, relearn_every_s=30.0)
    for item_id in ("p", "q"):
        desk.buy(item_id, k=1)
        desk.label((item_id, "World", "a"))
    desk.label(("p", "Sports", "b"))
    assert desk.label(("p", "Sports", "c"), now=100.0).relearn  # the first one runs at once
    desk.label(("q", "Sports", "b"), now=101.0)
    assert not desk.label(("q", "Sports", "c"), now=110.0).relearn  # 10 s later: waits
    assert desk.a.learned() == [("p", "Sports"), ("q", "Sports")]  # the verdicts are current
    assert not desk.a.due(desk.store, desk.texts, COLD, embed, now=120.0).relearn
    assert desk.a.due(desk.store, desk.texts, COLD, embed, now=131.0).relearn
    assert not desk.a.due(desk.store, desk.texts, COLD, embed, now=200.0).relearn  # done


def test_what_it_keeps_per_labelled_item_is_bounded_by_the_learners_memory():
    settings = Settings(annotation={"adjudication": "majority", "noise_check": True},
                        learner={"memory": 10})
    a, store, texts = Annotating(settings.annotation, settings.learner, DIM), LabelStore(), {}
    for n in range(30):
        item = f"b{n}"
        texts[item] = item
        a.bought(item, 1, 1e9)
        x = Label(item, "World" if n % 2 else "Sports", "a", float(n))
        store.add_one(x)
        a.on_labels([x], store, texts, COLD, embed, 0.0)
    assert len(a.flagger) == 10  # and it holds their embeddings for a relearn
    asked: list[str] = []
    learner = a.relearn(OnlineLearner(DIM, settings.learner),
                        lambda ids: asked.extend(ids) or embed(ids))
    assert learner.snapshot().ready and asked == []  # the last 10 are still held


def restored_desk(stored: list[Label], wanted: dict, requested: dict, **annotation) -> tuple:
    """A fresh desk rebuilt from ``stored`` labels and the expert topic's ``requested``."""
    desk = Desk(**annotation)
    for x in stored:
        desk.store.add_one(x)
        desk.texts[x.item_id] = f"text of {x.item_id}"
    learned = desk.a.restore(stored, desk.store, desk.texts, wanted, 0.0, requested)
    return desk, learned


def test_a_suspicious_label_held_for_an_expert_stays_held_after_a_rebuild():
    stored = [Label("s", "Sports", "a", 1.0), Label("ok", "World", "a", 2.0)]
    desk, learned = restored_desk(stored, {"s": (1, 1e9), "ok": (1, 1e9)},
                                  {"s": "suspicious_label"}, expert_annotators=["expert"])
    assert [x.item_id for x in learned] == ["ok"]  # s is not learned: its label was suspicious
    assert desk.a.open["s"].held == "suspicious_label"
    assert desk.a.take_outbox().requests == []  # its request is on the expert topic already
    plan = desk.label(("s", "World", "expert"))
    assert [(x.item_id, x.label) for x in plan.learn] == [("s", "World")]


def test_a_suspicious_hold_is_not_kept_once_another_label_or_no_expert_settles_it():
    stored = [Label("s", "Sports", "a", 1.0), Label("s", "Sports", "b", 2.0)]
    _, learned = restored_desk(stored, {"s": (1, 1e9)}, {"s": "suspicious_label"},
                               expert_annotators=["expert"])
    assert [x.item_id for x in learned] == ["s"]  # a second annotator agreed: trusted
    _, learned = restored_desk(stored[:1], {"s": (1, 1e9)}, {"s": "suspicious_label"})
    assert [x.item_id for x in learned] == ["s"]  # no experts: learned, as live


def test_a_held_disagreement_whose_request_never_reached_the_expert_topic_is_asked_again():
    stored = [Label("d", "World", "a", 1.0), Label("d", "Sports", "b", 2.0)]
    desk, learned = restored_desk(stored, {"d": (2, 1e9)}, {}, min_confidence=0.7,
                                  expert_annotators=["expert"])
    assert learned == [] and desk.a.open["d"].held == "disagreement"
    [request] = desk.a.take_outbox().requests
    assert (request.item_id, request.reason, request.votes) == ("d", "disagreement",
                                                                 {"World": 1, "Sports": 1})
    desk, _ = restored_desk(stored, {"d": (2, 1e9)}, {"d": "disagreement"}, min_confidence=0.7,
                            expert_annotators=["expert"])
    assert desk.a.take_outbox().requests == []  # sent before the crash: not again


def test_items_bought_together_are_tracked_as_when_bought_one_at_a_time():
    """An emission's purchases in one call: a new item opens in buying order, an item open or
    settled already is not opened again (its settled verdict looked up in one query)."""
    one, many = Desk(min_confidence=0.6), Desk(min_confidence=0.6)
    for desk in (one, many):
        desk.buy("settled")
        desk.label(("settled", "World", "a"))
        desk.buy("open", k=3)
    items = [("n1", 1, 5.0), ("open", 3, 9.0), ("settled", 1, 7.0), ("n2", 2, 6.0)]
    for item_id, k, deadline in items:
        one.a.bought(item_id, k, deadline)
    many.a.bought_many(*map(list, zip(*items, strict=True)))
    assert many.a.open == one.a.open
    assert many.a.settled.get("settled") == one.a.settled.get("settled") is not None
    assert [many.a.open[i].seq for i in ("n1", "n2")] == [3, 4]


def test_a_relearn_keeps_the_penalty_and_search_schedule_of_the_learner_it_replaces():
    desk = Desk()
    items = [f"i{n}" for n in range(40)]
    for n, item in enumerate(items):
        desk.buy(item)
        desk.label((item, ("World", "Sports")[n % 2], "a"))
    learner = OnlineLearner(DIM)
    learner.learn_many(embed(items), [("World", "Sports")[n % 2] for n in range(40)])
    assert learner.main.search.searched_at == 40  # searched in place
    relearned = desk.a.relearn(learner, embed)
    assert relearned.main.search.searched_at == 40 and relearned.main.l2 == learner.main.l2
    assert relearned.main.search.scores == {}  # no search of its own
