"""Every peer runs on the simulator's stream and never buys more than stream-al may."""

import numpy as np
import pytest

from benchmarks.peers.harness import PEERS, Stream, _Run, budget_labels, make_peer, run_peer
from benchmarks.peers.learners import make_learner
from benchmarks.peers.river_entropy import EntropySampler
from stream_al.simulate import Simulation

FRACTION = 0.05


def run(stream, settings, selector, learner="sklearn"):
    model = make_learner(learner, stream.classes, stream.X.shape[1], settings.learner)
    sim = settings.simulation
    return run_peer(selector, model, stream, FRACTION, sim.label_delay, sim.chunk_size,
                    sim.checkpoints)


@pytest.mark.parametrize("name", PEERS)
def test_every_peer_spends_at_most_the_budget_and_random_exactly(stream, settings, name):
    selector = make_peer(name, len(stream.classes), len(stream), FRACTION, seed=1)
    result = run(stream, settings, selector)
    cap = budget_labels(FRACTION, len(stream))
    assert 0 < result.labels_used <= cap
    assert len(result.bought) == result.labels_used
    if name == "random":
        assert result.labels_used == cap
    assert 0 < result.final_accuracy <= 1 and 0 < result.auc <= 1


def test_a_peer_runs_with_stream_al_s_learner_too(stream, settings):
    selector = make_peer("variable_uncertainty", len(stream.classes), len(stream), FRACTION)
    result = run(stream, settings, selector, learner="stream-al")
    assert 0 < result.labels_used <= budget_labels(FRACTION, len(stream))
    assert result.final_accuracy > 0.5  # four balanced classes: well above chance


def test_peers_see_the_simulator_s_stream_order(ag_news, stream, settings):
    data, X = ag_news
    assert np.array_equal(Simulation(data, X, settings).split.stream, stream.order)
    seen = []

    class Watching(EntropySampler):
        def propose_many(self, rows, X, proba):
            seen.extend(rows.tolist())
            return super().propose_many(rows, X, proba)

    run(stream, settings, Watching(seed=0))
    assert seen == stream.order.tolist()


def test_a_peer_that_asks_for_everything_is_cut_at_the_accrued_budget(stream, settings):
    result = run(stream, settings, EntropySampler(seed=0, discount_factor=0.0))
    assert result.labels_used == budget_labels(FRACTION, len(stream))
    for point in result.curve[:-1]:  # labels come back at most what was accrued
        assert point.labels_used <= FRACTION * point.position + 1e-9


def test_the_cut_takes_proposals_in_order_until_the_allowance_is_spent(stream):
    selector = EntropySampler(seed=0)
    learner = make_learner("sklearn", stream.classes, stream.X.shape[1], None)
    run_state = _Run(selector, learner, stream, FRACTION, label_delay=0)
    run_state.budget.observe(60)  # 3 labels accrued
    assert run_state.take([7, 8, 9, 10, 11]) == [7, 8, 9]
    assert run_state.take([12]) == []


def test_the_exact_random_peer_is_capped_at_its_total_only(stream):
    selector = make_peer("random", len(stream.classes), 100, 0.1, seed=0)
    learner = make_learner("sklearn", stream.classes, stream.X.shape[1], None)
    run_state = _Run(selector, learner, Stream(stream.X, stream.codes, stream.classes,
                                            stream.order[:100], stream.test), 0.1, 0)
    assert run_state.take(list(range(15))) == list(range(10))  # nothing accrued, 10 in all


def test_an_unknown_peer_names_the_choices():
    with pytest.raises(ValueError, match="choose one of random, variable_uncertainty"):
        make_peer("qbc", 4, 100, 0.05)


def test_pal_is_left_out_of_sets_with_many_classes():
    from benchmarks.peers.harness import PAL_MAX_CLASSES, peers_for

    assert "pal" in peers_for(PAL_MAX_CLASSES)
    assert "pal" not in peers_for(77) and "breaking_ties" in peers_for(77)
    with pytest.raises(ValueError, match="leave it out"):
        make_peer("pal", 77, 1000, 0.05)
