"""The selection stage: novelty for whole batches only when the selector reads it, for every
item bought only when ``selection.purchase_novelty`` asks (no decision reads it), and every
purchase in the novelty index either way."""

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


def bought_novelty(strategy: str, novelty_weight: float, purchase_novelty: bool = True,
                   ) -> tuple[list[list], list[ScoredBatch], SelectionStage]:
    """What each batch bought, the batches as the stage left them, and the stage."""
    settings = Settings.load(budget={"fraction": 0.1},
                             selection={"novelty_weight": novelty_weight, "batch_interval": 100,
                                        "purchase_novelty": purchase_novelty})
    stage = SelectionStage(settings.selection, settings.budget, 16, strategy)
    batches = [unscored(make_batch(100, seed=s, start=100 * s)) for s in range(6)]
    return [stage.select_many(batch) for batch in batches], batches, stage


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "diverse", "balanced", "bandit"])
def test_every_bought_item_carries_its_distance_to_the_items_bought_before_it(strategy):
    purchases, _, _ = bought_novelty(strategy, novelty_weight=0.0)
    assert sum(map(len, purchases)) >= 20
    before = np.zeros((0, 16), dtype=np.float32)
    for bought in purchases:
        for sel in bought:
            nearest = 1.0 - float((before @ sel.embedding).max()) if len(before) else 1.0
            assert sel.scores["novelty"] == pytest.approx(np.clip(nearest, 0.0, 1.0), abs=1e-5)
        before = np.vstack([before, *(s.embedding for s in bought)])


def test_novelty_is_computed_for_a_whole_batch_only_when_the_selector_reads_it():
    _, unread, _ = bought_novelty("diverse", novelty_weight=0.0)
    _, read, _ = bought_novelty("diverse", novelty_weight=0.5)
    assert not any("novelty" in batch.scores for batch in unread)
    assert all(len(batch.scores["novelty"]) == len(batch) for batch in read)


def without_novelty(purchases: list[list]) -> list[tuple]:
    return [(s.item_id, s.reason, {k: v for k, v in s.scores.items() if k != "novelty"})
            for bought in purchases for s in bought]


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "diverse", "balanced", "bandit"])
def test_without_purchase_novelty_the_same_items_are_bought_with_the_same_scores(strategy):
    asked, _, _ = bought_novelty(strategy, novelty_weight=0.0, purchase_novelty=True)
    default, _, _ = bought_novelty(strategy, novelty_weight=0.0, purchase_novelty=False)
    assert sum(map(len, default)) >= 20
    assert without_novelty(default) == without_novelty(asked)
    assert not any("novelty" in s.scores for bought in default for s in bought)


def test_without_purchase_novelty_every_purchase_still_joins_the_novelty_index():
    """A drift response that starts reading novelty measures against every item bought."""
    purchases, _, stage = bought_novelty("balanced", novelty_weight=0.0, purchase_novelty=False)
    bought = np.stack([s.embedding for b in purchases for s in b])
    assert len(stage.novelty) == len(bought)
    assert np.allclose(stage.novelty.nearest_distance_many(bought), 0.0, atol=1e-5)


def test_a_selector_that_reads_novelty_gives_its_purchases_novelty_without_purchase_novelty():
    purchases, _, _ = bought_novelty("diverse", novelty_weight=0.5, purchase_novelty=False)
    assert sum(map(len, purchases)) >= 20
    assert all("novelty" in s.scores for bought in purchases for s in bought)


def test_purchase_novelty_is_off_by_default():
    assert Settings.load().selection.purchase_novelty is False
