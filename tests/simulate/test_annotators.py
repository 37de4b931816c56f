"""Timed annotators as the simulator's vendor, and a run under a cost budget: the coordinator
the worker runs buys, the annotators take their reading time, the run reports minutes spent."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.loop.records import Purchase
from stream_al.select.cost import lengths_of
from stream_al.simulate import Simulation
from stream_al.simulate.annotators import (
    AnnotatorVendor,
    ReadingTime,
    SimulatedAnnotator,
    run_under_budget,
)
from tests.data import static_slice

TRUE_TIME = ReadingTime(base_seconds=4.0, chars_per_second=15.0, noise=0.3)


@pytest.fixture(scope="module")
def ag_news():
    return static_slice("ag_news", 1500)


def simulation(ag_news, **sections) -> Simulation:
    data, X = ag_news
    settings = Settings.load(
        budget={"fraction": 0.05},
        simulation={"test_size": 300, "label_delay": 30, "checkpoints": 4},
        selection={"batch_interval": 100},
        learner={"committee_size": 2, "max_iter": 30},
        **sections,
    )
    return Simulation(data, X, settings)


def reading_seconds(sim: Simulation, seed: int = 0) -> np.ndarray:
    return TRUE_TIME.seconds_many(lengths_of(sim.texts), np.random.default_rng(seed))


def purchase(item_id: str, annotators: int = 1) -> Purchase:
    return Purchase(item_id, "text", "b", "random", "random", {}, 0, 100.0, float(annotators),
                    0, 0.0, annotators)


def test_each_of_k_annotators_labels_and_their_time_is_what_the_run_spends():
    pool = [SimulatedAnnotator(f"a{i}") for i in range(4)]
    vendor = AnnotatorVendor(pool, {"x": "A", "y": "B"}, ["A", "B"], {"x": 10.0, "y": 20.0},
                             delay_s=5.0)
    vendor.buy_many([purchase("x", 3), purchase("y", 1)], now=0.0)
    assert vendor.due_many(4.0) == []
    labels = vendor.due_many(5.0)
    assert [x.item_id for x in labels] == ["x", "x", "x", "y"]
    assert len({x.annotator_id for x in labels[:3]}) == 3
    assert vendor.minutes == pytest.approx((3 * 10.0 + 20.0) / 60)


def test_an_annotators_timestamps_advance_by_the_time_their_items_took():
    vendor = AnnotatorVendor([SimulatedAnnotator("a")], {"x": "A", "y": "A"}, ["A"],
                             {"x": 10.0, "y": 25.0}, delay_s=0.0)
    vendor.buy_many([purchase("x")], now=0.0)
    vendor.buy_many([purchase("y")], now=500.0)  # back to back: no idle time in between
    assert [x.timestamp for x in vendor.due_many(500.0)] == [10.0, 35.0]


@pytest.mark.parametrize("cost", [
    {},  # the budget counts labels
    {"unit": "minutes", "amount": 0.01, "learn": "off", "aware": True},
])
def test_a_run_under_budget_buys_what_the_simulation_buys(ag_news, cost):
    """Same stream, seed and settings, perfect annotators: only who labels differs, so the
    coordinator buys the same items in the same order. (With a cost model that learns,
    the two differ by design: only timed annotators reveal their reading time.)"""
    sim = simulation(ag_news, cost=cost)
    simulated = sim.run("default").bought
    timed = run_under_budget(simulation(ag_news, cost=cost), "default", reading_seconds(sim))
    assert timed.bought == simulated
    assert timed.labels == len(simulated) and timed.minutes > 0


def test_the_coordinator_learns_the_annotators_reading_time(ag_news):
    wrong_prior = {"unit": "minutes", "amount": 0.05, "learn": "linear", "base_seconds": 12.0,
                   "seconds_per_char": 0.01}
    sim = simulation(ag_news, cost=wrong_prior)  # about 0.2 typical labels an item
    run = run_under_budget(sim, "random", reading_seconds(sim))
    typical = np.array([np.median(lengths_of(sim.texts))])
    truth = TRUE_TIME.seconds_many(typical)[0]
    prior = 12.0 + 0.01 * typical[0]
    learned = run.cost_model.seconds_many(typical)[0]
    assert abs(learned - truth) < abs(prior - truth) / 4
    assert run.curve[-1] == (run.minutes, run.accuracy)
    assert [m for m, _ in run.curve] == sorted(m for m, _ in run.curve)
