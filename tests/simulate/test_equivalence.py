"""One core, two drivers: what the simulator buys and publishes is what the Kafka worker's core
buys and publishes when it reads the same records from the control topic in offset order.

The simulator's calls into the coordinator are recorded; each scored batch and labels record is
then written as the scorers and labels agents write it (``ScoredBatchRecord``,
``LabelsRecord``), read back as the control topic delivers it (``parse(CONTROL, bytes)``),
converted by the Kafka shell (``stream/conversion.py``) and fed to a fresh coordinator with
the worker's chores (publish, expire, idle flush) at the same simulated times."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.loop.coordinator import Coordinator
from stream_al.select.stack import layers
from stream_al.simulate import Simulation
from stream_al.simulate.replay import Step
from stream_al.stream import conversion
from stream_al.stream.messages import CONTROL, LabelsRecord, ScoredBatchRecord, parse
from tests.data import static_slice


@pytest.fixture(scope="module")
def ag_news():
    return static_slice("ag_news", 1500)


def simulation(ag_news, seed: int = 0, accuracy: float = 1.0, **sections) -> Simulation:
    data, X = ag_news
    settings = Settings.load(
        budget={"fraction": 0.05},
        simulation={"test_size": 300, "label_delay": 30, "checkpoints": 4, "seed": seed,
                    "annotator_accuracy": accuracy, **sections.pop("simulation", {})},
        selection={"batch_interval": 100, "seed": seed},
        learner={"committee_size": 2, "max_iter": 30, "seed": seed},
        **{"ood": {"min_labels": 10},
           "drift": {"reference_items": 200, "window_items": 100}, **sections},
    )
    return Simulation(data, X, settings)


def worker_core(sim: Simulation, strategy: str, steps: list[Step]):
    """The worker's core fed the simulator's records through the wire and the shell."""
    c = Coordinator(sim.settings, sim.X.shape[1], sim.embedder, strategy)
    bought, hashes = [], []
    for step in steps:
        if step.kind == "scored":
            s = step.scored
            record = ScoredBatchRecord.of(  # as the scorers write it (stream/scoring.py)
                s.batch_id, s.ids, s.texts, s.X, s.scores, s.model_version,
                np.ones(len(s.ids)), step.now, list(zip(s.partitions, s.offsets, strict=True)),
                precision=sim.settings.scale.precision, weights=s.weights,
                spans=[(x.partition, x.first, x.last, x.count) for x in s.spans])
            wire = parse(CONTROL, record.to_bytes())
            items = c.on_scored(conversion.scored_texts(wire), step.offset, step.now)
            bought += conversion.selected_items(items)
        elif step.kind == "labels":
            record = LabelsRecord(schema_version=1,
                                  labels=[conversion.label_in(x) for x in step.labels],
                                  received_at=[x.received_at for x in step.labels])
            wire = parse(CONTROL, record.to_bytes())
            c.on_labels(conversion.labels_of(wire), step.offset, step.now)
        elif step.kind == "publish":
            release = c.model_update(step.now, force=step.force)
            if release is not None:
                hashes.append(conversion.model_update(release).labels_hash)
        elif step.kind == "expire":
            c.expire(step.now)
        elif step.kind == "flush":
            bought += conversion.selected_items(c.flush(step.now))
    return bought, hashes


@pytest.mark.parametrize(("strategy", "accuracy", "sections"), [
    ("default", 1.0, {}),
    ("bandit", 1.0, {}),
    ("uncertainty", 0.8, {"annotation": {"annotators_per_item": 3,  # adjudicated
                                         "gold_fraction": 0.1}}),
    ("default", 1.0, {"cost": {"unit": "minutes", "amount": 0.05, "period_items": 1},
                      "pacing": {"enabled": True, "min_labels": 20, "check_every": 100}}),
    ("uncertainty", 1.0, {"simulation": {"partitions": 3},  # candidates, int8 on the wire
                          "scale": {"preselect": True, "precision": "int8"}}),
])
def test_the_worker_core_buys_the_same_items_in_order_and_publishes_the_same_labels(
        ag_news, strategy, accuracy, sections):
    sim = simulation(ag_news, accuracy=accuracy, **sections)
    sim.run(strategy, record=True)
    replay = sim.last_replay
    assert replay.steps and replay.out.purchases and replay.out.releases

    bought, hashes = worker_core(sim, strategy, replay.steps)

    assert [b.item_id for b in bought] == [p.item_id for p in replay.out.purchases]
    assert [b.cost for b in bought] == [p.cost for p in replay.out.purchases]
    assert hashes == [r.labels_hash for r in replay.out.releases]
    assert hashes[-1] != hashes[0]


def test_the_simulator_runs_the_production_stack_with_governance_on(ag_news):
    sim = simulation(ag_news, ood={"min_labels": 10, "max_share": 0.5})
    sim.run("uncertainty")
    c = sim.last_replay.c
    assert [type(p).__name__ for p in layers(c.stage.selector)][:2] == \
        ["DriftAwareSelector", "OODSelector"]
    assert c.health.ood.ready  # it learned the labelled embeddings, as live
    assert sim.last_replay.out.reasons  # every purchase has a reason


def test_the_same_stream_seed_and_settings_give_the_same_purchases(ag_news):
    a, b = simulation(ag_news, seed=3), simulation(ag_news, seed=3)
    a.run("diverse")
    b.run("diverse")
    assert [p.item_id for p in a.last_replay.out.purchases] == \
        [p.item_id for p in b.last_replay.out.purchases]



def test_the_simulator_applies_the_admission_caps_the_worker_applies(ag_news):
    """One class listed and one new class an hour (the simulated clock: an item a second): the
    labels of every other class are refused, as the worker's shell dead-letters them."""
    sim = simulation(ag_news, kafka={"new_classes_per_hour": 1, "label_classes": ["World"]})
    sim.run("random")
    assert sim.last_replay.out.refused["class_cap"] > 0
    assert len(sim.last_replay.c.learner.classes) <= 2
