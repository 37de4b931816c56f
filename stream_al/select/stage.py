"""The selection stage: budget ledger, novelty index, selector and outstanding selections.

One instance owns the system-wide budget (the simulator's loop, or the selection agent that
holds the single partition of the scored topic). It adds novelty to scored batches, lets the
selector spend, remembers what was bought until its label comes back or its deadline passes,
and passes each label's gain back to the selector (the bandit learns from it).

Novelty (cosine distance to the nearest item bought before) is computed for a whole batch only
when the selector reads it (``reads_novelty``: a positive ``selection.novelty_weight``, or a
drift response exploring); otherwise, with ``selection.purchase_novelty``, for the items bought,
when they are bought, so every selection carries ``scores["novelty"]``. That product (each
purchase against up to ``selection.novelty_capacity`` rows) decides nothing, and it was a
quarter of the coordinator's CPU per stream text after a long stream (benchmarks/README.md,
issue 17, seventeenth pass), so it is off by default: a purchase then carries novelty only if
its selector read it. Either way every purchase joins the novelty index, so a selector that
starts reading novelty (a drift response) measures against all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_al.config import BudgetSettings, SelectionSettings
from stream_al.index.ann import BoundedIndex
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.score.batch import ScoredBatch, score_many
from stream_al.select.base import Selection, informativeness, reads_novelty, rounded_many
from stream_al.select.budget import Budget
from stream_al.select.factory import make_selector
from stream_al.select.selections import Selections

if TYPE_CHECKING:
    from stream_al.select.cost import CostBudget

NOVELTY_EXACT_ROWS = 16_384
"""The novelty index keeps exact rows (no hnswlib graph) up to this many bought items. It gains
a row per purchase and answers a few rows per batch (the items bought) unless a selector reads
novelty: on SST-2 at 10,000 rows an exact query costs 62 us a row in a batch of 25 and 45 in
one of 512, hnswlib's 36 and 41, but adding to a full graph costs 300-480 us a vector."""


@dataclass(slots=True)
class Outstanding:
    """A purchase waiting for its label: pick ``row`` of ``picks`` (the emission's columns),
    due by ``deadline``."""

    picks: Selections
    row: int
    deadline: float

    @classmethod
    def of(cls, selection: Selection, deadline: float) -> Outstanding:
        return cls(Selections.of([selection]), 0, deadline)

    @property
    def selection(self) -> Selection:
        return self.picks.row(self.row)

    @property
    def item_id(self) -> str:
        return self.picks.item_ids[self.row]

    @property
    def strategy(self) -> str:
        return self.picks.strategies[self.row]

    @property
    def reason(self) -> str:
        return self.picks.reasons[self.row]

    @property
    def cost(self) -> float:
        return self.picks.costs[self.row]


class SelectionStage:
    """The bare stage: the strategy on a ``budget.fraction`` ledger. The whole stack (cost
    ledger, cost awareness, OOD cap, drift response) is built by
    :func:`stream_al.select.stack.build_stage`. It takes only its parts of the settings:
    ``selection`` and ``budget``."""

    def __init__(self, selection: SelectionSettings, budget: BudgetSettings, dim: int,
                 strategy: str | None = None, novelty_capacity: int | None = None) -> None:
        sel, bud = selection, budget
        self.selection = selection
        self.budget_settings = budget
        self.strategy = strategy or sel.strategy
        self.budget = Budget(bud.fraction, bud.window_items, float(bud.warmup_labels))
        self.novelty = BoundedIndex(dim, capacity=novelty_capacity or sel.novelty_capacity,
                                    seed=sel.seed, exact_below=NOVELTY_EXACT_ROWS)
        self.snapshot = ModelSnapshot.empty(dim)
        self.selector = make_selector(self.strategy, sel, bud, rescorer=self)
        self.outstanding: dict[str, Outstanding] = {}
        self.cost_budget: CostBudget | None = None
        """With ``cost.unit`` minutes or money: the budget whose ledger is :attr:`budget`."""

    def set_model(self, snapshot: ModelSnapshot) -> None:
        self.snapshot = snapshot

    def select_many(self, batch: ScoredBatch, now: float = 0.0,
                    deadline_s: float = float("inf")) -> Selections:
        """Observe the batch in the budget, let the selector spend, index what it bought."""
        if reads_novelty(self.selector):
            batch.scores["novelty"] = self._novelty(batch.X)
        self.budget.observe(len(batch))
        chosen = Selections.of(self.selector.select_many(batch, self.budget))
        return self._record(chosen, now + deadline_s)

    def flush(self, now: float = 0.0, deadline_s: float = float("inf")) -> Selections:
        """Make selectors that hold items (reservoirs) emit what the budget allows now."""
        flush = getattr(self.selector, "flush", None)
        if flush is None:
            return Selections.none()
        return self._record(Selections.of(flush(self.budget)), now + deadline_s)

    def _record(self, chosen: Selections, deadline: float) -> Selections:
        """The bought items, with their novelty if the selector did not read it and
        ``selection.purchase_novelty`` asks for it; remembered as outstanding and added to the
        novelty index."""
        X = chosen.X  # the picks' embeddings (of the rows that have one)
        if X is None:
            return self._remember(chosen, deadline)
        if self.selection.purchase_novelty and chosen.scores.lacks("novelty"):
            chosen.set_default_score("novelty", chosen.embedded_rows(),
                                     rounded_many(self._novelty(X)))
        self.novelty.add_many(X)
        return self._remember(chosen, deadline)

    def _remember(self, chosen: Selections, deadline: float) -> Selections:
        self.outstanding.update(zip(chosen.item_ids, [Outstanding(chosen, row, deadline)
                                                      for row in range(len(chosen))],
                                    strict=True))
        return chosen

    def _novelty(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self.novelty.nearest_distance_many(X), 0.0, 1.0)

    @property
    def n_classes(self) -> int:
        """Classes the current model knows (selectors size their batches by it)."""
        return len(self.snapshot.classes)

    def informativeness_many(self, X: np.ndarray) -> np.ndarray:
        """Fresh informativeness of held items under the current model and novelty index."""
        sel = self.selection
        batch = ScoredBatch([""] * len(X), X, score_many(self.snapshot, X, (sel.uncertainty,)))
        if sel.novelty_weight > 0:  # an ANN query per held item: only when novelty counts
            batch.scores["novelty"] = self._novelty(X)
        return informativeness(batch, sel.uncertainty, sel.novelty_weight)

    def labelled(self, item_ids: Sequence[str], gains: Sequence[float]) -> list[Outstanding]:
        """Labels came back: close the outstanding selections and reward their strategies."""
        closed = [self.outstanding.pop(i) for i in item_ids if i in self.outstanding]
        by_id = dict(zip(item_ids, gains, strict=True))
        if closed:
            self.selector.reward_many([o.strategy for o in closed],
                                      [by_id[o.item_id] for o in closed],
                                      item_ids=[o.item_id for o in closed])
        return closed

    def expire(self, now: float) -> list[Selection]:
        """Release the budget of selections whose labels missed their deadline."""
        late = [i for i, o in self.outstanding.items() if o.deadline < now]
        expired = [self.outstanding.pop(i).selection for i in late]
        for s in expired:
            self.budget.release(s.cost)
        return expired
