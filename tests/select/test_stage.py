"""The selection stage: novelty for whole batches only when the selector reads it, and for
every item bought."""

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.score.batch import ScoredBatch
from stream_al.select.stage import SelectionStage
from tests.select.conftest import make_batch


def unscored(batch: ScoredBatch) -> ScoredBatch:
    """The batch as the scorers send it: without novelty (the stage adds it)."""
    scores = {k: v for k, v in batch.scores.items() if k != "novelty"}
    return ScoredBatch(batch.ids, batch.X, scores)


def bought_novelty(strategy: str, novelty_weight: float) -> tuple[list[list], list[ScoredBatch]]:
    """What each batch bought, and the batches as the stage left them."""
    settings = Settings.load(budget={"fraction": 0.1},
                             selection={"novelty_weight": novelty_weight, "batch_interval": 100})
    stage = SelectionStage(settings.selection, settings.budget, 16, strategy)
    batches = [unscored(make_batch(100, seed=s, start=100 * s)) for s in range(6)]
    return [stage.select_many(batch) for batch in batches], batches


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "diverse", "balanced", "bandit"])
def test_every_bought_item_carries_its_distance_to_the_items_bought_before_it(strategy):
    purchases, _ = bought_novelty(strategy, novelty_weight=0.0)
    assert sum(map(len, purchases)) >= 20
    before = np.zeros((0, 16), dtype=np.float32)
    for bought in purchases:
        for sel in bought:
            nearest = 1.0 - float((before @ sel.embedding).max()) if len(before) else 1.0
            assert sel.scores["novelty"] == pytest.approx(np.clip(nearest, 0.0, 1.0), abs=1e-5)
        before = np.vstack([before, *(s.embedding for s in bought)])


def test_novelty_is_computed_for_a_whole_batch_only_when_the_selector_reads_it():
    _, unread = bought_novelty("diverse", novelty_weight=0.0)
    _, read = bought_novelty("diverse", novelty_weight=0.5)
    assert not any("novelty" in batch.scores for batch in unread)
    assert all(len(batch.scores["novelty"]) == len(batch) for batch in read)
