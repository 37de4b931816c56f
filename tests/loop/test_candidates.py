"""Two-level selection through the coordinator: only candidates arrive, the budget stays exact."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.candidates import Forwarding
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import ScoredTexts
from stream_al.score.batch import score_many


def settings(**scale) -> Settings:
    return Settings(embedder={"name": "hashing", "hashing_features": 2**10},
                    budget={"fraction": 0.05}, scale={"preselect": True, **scale})


def scored(start: int, n: int, partition: int, dim: int = 512) -> ScoredTexts:
    rng = np.random.default_rng(start + 1000 * partition)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    snapshot = ModelSnapshot.empty(dim)
    return ScoredTexts(f"b{partition}-{start}", [f"p{partition}-{start + i}" for i in range(n)],
                       [f"text {partition} {start + i}" for i in range(n)], X,
                       score_many(snapshot, X), 0, [partition] * n,
                       list(range(start, start + n)))


def forwarding_of(s: Settings) -> Forwarding:
    return Forwarding(s.scale, s.budget, s.selection)


@pytest.fixture
def coordinator() -> Coordinator:
    s = settings()
    return Coordinator(s, 512, make_embedder(s.embedder))


def test_candidates_are_a_bounded_share_and_their_spans_count_every_text(coordinator):
    forwarding = forwarding_of(coordinator.settings)
    forwarded, offset, bought = 0, 0, 0
    for start in range(0, 2000, 100):
        for partition in range(4):
            record = forwarding.candidates_of(scored(start, 100, partition))
            forwarded += len(record.ids)
            bought += len(coordinator.on_scored(record, offset, float(offset)))
            offset += 1
    bought += len(coordinator.flush(float(offset)))
    assert coordinator.stage.budget.seen == 8000
    share = 0.05 * Settings().scale.candidate_multiple
    assert forwarded <= share * 8000 * 1.1
    assert 0.9 * 0.05 * 8000 <= bought <= 0.05 * 8000


def test_a_redelivered_batch_of_candidates_is_not_counted_twice(coordinator):
    forwarding = forwarding_of(coordinator.settings)
    record = forwarding.candidates_of(scored(0, 200, 0))
    coordinator.on_scored(record, 0, 0.0)
    again = forwarding.candidates_of(scored(0, 200, 0))  # other candidates, the same texts
    coordinator.on_scored(again, 1, 1.0)
    assert coordinator.stage.budget.seen == 200


def test_without_preselect_every_text_is_forwarded_as_it_is():
    s = settings(preselect=False)
    record = scored(0, 50, 0)
    assert forwarding_of(s).candidates_of(record) is record


def test_records_selected_as_one_count_every_text_once_and_buy_nothing_twice():
    """on_scored_many: four partitions' records at a time, selected as one batch. The ledger
    counts exactly what record-by-record selection counts; a replayed run buys nothing."""
    def fed(together: int) -> tuple[Coordinator, int, set[str]]:
        s = settings()
        c = Coordinator(s, 512, make_embedder(s.embedder))
        forwarding = forwarding_of(s)
        records = [(forwarding.candidates_of(scored(start, 100, p)), 4 * start // 100 + p)
                   for start in range(0, 2000, 100) for p in range(4)]
        records.append((forwarding.candidates_of(scored(0, 100, 0)), len(records)))  # again
        bought: list[str] = []
        for k in range(0, len(records), together):
            bought += [x.item_id for x in c.on_scored_many(records[k : k + together], float(k))]
        assert c.on_scored_many(records[-together:], 99.0) == []  # replayed: already counted
        bought += [x.item_id for x in c.flush(100.0)]
        assert len(bought) == len(set(bought))
        return c, len(bought), set(bought)

    one, n_one, _ = fed(1)
    four, n_four, _ = fed(4)
    assert four.stage.budget.seen == one.stage.budget.seen == 8000
    assert four.control_offset == one.control_offset == 80
    assert four.stage.budget.spent <= 0.05 * 8000 and n_four >= 0.9 * 0.05 * 8000
    assert abs(n_four - n_one) <= 0.05 * n_one


def test_the_floor_setting_is_the_least_chance_a_confident_text_keeps():
    """``scale.candidate_floor`` reaches each partition's pre-selector: a text's weight (the
    stream texts it stands for) is at most 1 / (share x floor)."""
    for floor in (0.1, 0.5):
        forwarding = forwarding_of(settings(candidate_floor=floor))
        record = forwarding.candidates_of(scored(0, 4000, 0))
        assert forwarding.partitions[0].floor == floor
        share = 0.05 * Settings().scale.candidate_multiple
        assert record.weights.max() <= 1 / (share * floor) + 1e-9
