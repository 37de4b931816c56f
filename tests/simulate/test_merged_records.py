"""simulation.merge_records: each chunk's partition records reach the coordinator in one call
(Coordinator.on_scored_many). The budget counts every text once, nothing is bought twice, and
such a run cannot be recorded as the worker's one-record-at-a-time steps."""

from __future__ import annotations

import pytest

from tests.simulate.test_equivalence import ag_news, simulation  # noqa: F401 (fixture)


def test_merged_records_count_every_text_once_and_buy_nothing_twice(ag_news):  # noqa: F811
    sections = {"simulation": {"partitions": 4, "merge_records": True},
                "scale": {"preselect": True, "precision": "int8"}}
    sim = simulation(ag_news, **sections)
    sim.run("default")
    replay = sim.last_replay
    bought = [p.item_id for p in replay.out.purchases]
    budget = replay.c.stage.budget
    assert budget.seen == sim.stream_length
    assert len(bought) == len(set(bought)) > 0
    assert budget.spent <= 0.05 * budget.seen + 1e-9


def test_merged_records_cannot_be_recorded_as_worker_steps(ag_news):  # noqa: F811
    sim = simulation(ag_news, simulation={"partitions": 2, "merge_records": True})
    with pytest.raises(ValueError, match="merge_records"):
        sim.run("default", record=True)
