"""The simulator replays real labelled text, buys labels within budget, reports learning curves."""

import json

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.dataset import LabeledTexts
from stream_al.embed import make_embedder
from stream_al.simulate import Simulation
from stream_al.simulate.simulator import evaluate
from tests.data import rows


@pytest.fixture(scope="module")
def ag_news():
    data = rows("ag_news", 1200)
    texts, labels = [t for t, _ in data], [y for _, y in data]
    settings = Settings.load(embedder={"name": "static"})  # built once per machine, cached
    X = make_embedder(settings.embedder).embed(texts)
    return LabeledTexts(texts, labels), X


def simulation(ag_news, learner=None, **sim):
    data, X = ag_news
    settings = Settings.load(
        budget={"fraction": 0.05},
        simulation={"test_size": 300, "label_delay": 20, "checkpoints": 5, **sim},
        selection={"batch_interval": 100},
        learner={"committee_size": 2, "max_iter": 30, **(learner or {})},
    )
    return Simulation(data, X, settings)


def test_a_replay_admits_the_datasets_classes_as_a_deployment_that_lists_them(ag_news):
    # the new-class cap (25 an hour; an hour is 3,600 simulated items) would otherwise refuse
    # the labels of a set with many classes, which no deployment that knows its classes sees
    assert simulation(ag_news).settings.kafka.label_classes == sorted(set(ag_news[0].labels))
    data, X = ag_news
    listed = Settings.load(simulation={"test_size": 300}, kafka={"label_classes": ["World"]})
    assert Simulation(data, X, listed).settings.kafka.label_classes == ["World"]


def test_labels_bought_stay_within_the_budget(ag_news):
    sim = simulation(ag_news)
    for strategy in ("random", "default", "bandit"):
        result = sim.run(strategy)
        assert 0 < result.labels_used <= 0.05 * sim.stream_length


def test_the_same_seed_gives_the_same_result(ag_news):
    a = simulation(ag_news).run("default")
    b = simulation(ag_news).run("default")
    assert a.summary() == b.summary()


def test_a_served_rule_buys_the_same_labels_and_measures_the_served_head(ag_news):
    off = simulation(ag_news).run("default")
    sim = simulation(ag_news, learner={"served_rule": "nll", "cv_rule": "best"})
    on = sim.run("default")
    assert on.bought == off.bought  # the selecting model is the same
    served = sim.last_replay.c.learner.served_snapshot()
    test = sim.split.test
    assert on.final_accuracy == evaluate(served, sim.X[test], list(sim.y[test]))[0]


def test_a_different_seed_gives_a_different_split(ag_news):
    a = simulation(ag_news, seed=1).split.test
    b = simulation(ag_news, seed=2).split.test
    assert not np.array_equal(a, b)


def test_learning_curve_has_every_checkpoint_and_ends_at_the_final_accuracy(ag_news):
    result = simulation(ag_news).run("uncertainty")
    assert len(result.curve) == 5
    assert [p.position for p in result.curve] == sorted(p.position for p in result.curve)
    assert result.curve[-1].accuracy == result.final_accuracy
    assert 0.0 <= result.auc <= 1.0


def test_the_model_learns_something_from_the_bought_labels(ag_news):
    result = simulation(ag_news).run("default")
    assert result.final_accuracy > 0.6  # 4 balanced classes: chance is 0.25


def test_labels_arrive_after_the_configured_delay(ag_news):
    instant = simulation(ag_news, label_delay=0).run("random")
    late = simulation(ag_news, label_delay=10_000).run("random")
    assert instant.curve[0].labels_used > 0
    assert late.curve[0].labels_used == 0  # nothing has come back yet at the first checkpoint
    assert late.labels_used == instant.labels_used  # but every bought label arrives eventually


def test_cli_writes_the_documented_summary_shape(tmp_path):
    from stream_al.cli import main

    data = tmp_path / "ag.csv"
    data.write_text("text,label\n" + "\n".join(
        f'"{t.replace(chr(34), chr(39))}",{y}' for t, y in rows("ag_news", 700)))
    out = tmp_path / "out"
    code = main(["simulate", "--data", str(data), "--budget", "0.05", "--embedder", "hashing",
                 "--strategy", "default,random", "--test-size", "200", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"all_labels_accuracy", "strategies"}
    assert set(summary["strategies"]) == {"default", "random"}
    for r in summary["strategies"].values():
        assert set(r) == {"labels_used", "final_accuracy", "macro_f1", "auc"}
    assert (out / "curve.csv").read_text().startswith("strategy,position,labels_used")
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert (out / "reliability.png").stat().st_size > 1000
    ece = dict(line.split(",") for line in (out / "calibration.csv").read_text().split()[1:])
    assert set(ece) == {"default", "random"} and all(0 <= float(v) <= 1 for v in ece.values())


def test_validation_purchases_reach_the_learner_as_uniform_rows(ag_news):
    data, X = ag_news
    settings = Settings.load(
        budget={"fraction": 0.05}, simulation={"test_size": 300, "checkpoints": 3},
        selection={"batch_interval": 100, "validation_share": 0.5},
        learner={"committee_size": 2, "max_iter": 30})
    sim = Simulation(data, X, settings)
    result = sim.run("default")
    replay = sim.last_replay
    drawn = replay.out.reasons["validation"]
    # from when half the labels bought reach the 20 rows four classes need: one in each block
    # of the stream after that (blocks of 1 / (0.5 x 0.05) = 40 items)
    assert 0 < drawn < int(0.5 * 0.05 * sim.stream_length)
    assert result.labels_used <= 0.05 * sim.stream_length  # out of the same budget
    uniform = replay.c.learner.replay.uniform
    assert uniform.sum() == drawn and len(uniform) == result.labels_used


def test_a_search_apart_answers_search_lag_items_later_and_the_learner_keeps_its_l2_meanwhile(
        ag_news, monkeypatch):
    from stream_al.simulate import replay as replay_module

    asked: list[int] = []  # the labels each search sent apart searched on
    run = replay_module.run_search

    def noted(task):
        asked.append(len(task.y))
        return run(task)

    monkeypatch.setattr(replay_module, "run_search", noted)
    sim = simulation(ag_news, search_lag=200)
    replay = sim.replay("default")
    search = replay.c.learner.main.search
    chunk = sim.settings.simulation.chunk_size
    pending_at = None
    for start in range(0, sim.stream_length, chunk):
        replay.feed_many(sim.split.stream[start:start + chunk])
        if search.pending is not None and pending_at is None:
            pending_at, l2 = replay.position, search.l2
        if pending_at is not None and replay.position < pending_at + 200 - chunk:
            assert search.pending is not None and search.l2 == l2  # not answered yet
    assert pending_at is not None and asked
    replay.finish()  # answers every search still on its way
    assert search.pending is None and search.searched_at == asked[-1]
