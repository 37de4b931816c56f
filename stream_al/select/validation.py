"""Validation labels by design: a share of the budget drawn uniformly from the stream.

An active selector buys near its model's boundary, and deterministically: no purchase has a
known inclusion probability, so no held-out score on its labels is an unbiased estimate of the
model's error on the stream, and the learner's l2 search (cross-validation on those labels)
picks too weak a penalty on them (benchmarks/README.md, issue 14). :class:`ValidationTrickle`
spends ``share`` of the budget (``selection.validation_share``) on items drawn uniformly from
the stream, before the strategy sees the batch (a
:class:`~stream_al.select.random.RandomSelector` at ``share`` x the budget, reason
``"validation"``); the strategy spends what is left of the same ledger, so the budget is
unchanged. The labels of these purchases are learned as any other, and the l2 search scores its
values on them where its folds hold them out (:func:`stream_al.learn.regularisation._validated`).
They are pooled over the stream's whole life: uniform draws stay an unbiased sample however
many labels come after them.

The trickle draws only where the draws could be used (:attr:`ValidationTrickle.drawing`): once
``share`` of the labels bought reaches the rows the learner needs before they overrule its
search (:func:`~stream_al.learn.regularisation.enough_rows`: ``learner.cv_min_labels``, and
``learner.cv_folds`` per class its model knows). Until then, and on a budget too small for the
classes seen, the strategy spends the whole budget. Once it starts, it catches up
(:attr:`ValidationTrickle.catching_up`): it draws at the whole budget's rate until its draws
reach the rows needed, then at ``share`` of it. At ``share`` alone the draws reach that count
only if the stream goes on as long again as it has; catching up, they reach it after that many
more labels, so a stream that ends soon after the start strands (almost) no draw. The draws
never exceed ``share`` of the labels bought by more than a batch's draws: they start at none
when ``share`` x labels bought is the rows needed, the catch-up brings them to that count, and
after it they come at ``share``. A restore, a rollback or a relearn flags the drawn labels again (the coordinator
keeps their items: ``Coordinator.uniform``), and a restored trickle goes on from the purchases
and draws restored (:meth:`ValidationTrickle.resume`).

Drawing from the start (l2share18, share 0.1, ``cv_validation: log_loss``), the trickle cost
SUBJ at 1% and ATIS at both budgets 1.5-2.4 points. With the start rule, 10 of the 16
full-size cells are main's runs bit for bit (no draw). Without the catch-up, SST-2 1%, AG News
5% and SNIPS 5% bought draws the stream ended before the rule could use; with it, the rule acts
there too: SST-2 1% +0.5 and MR 5% +1.5 points, but AG News 5% -1.1 and SNIPS 5% -0.3 on every
seed (on AG News mostly the overruling: 20-26 uniform rows of four classes pick a weaker
penalty than the search), so the share stays 0 by default (benchmarks/README.md, issue 14, "a
validation trickle that catches up").

>>> import numpy as np
>>> from stream_al.score.batch import ScoredBatch
>>> from stream_al.select.budget import Budget
>>> from stream_al.select.random import RandomSelector
>>> trickle = ValidationTrickle(RandomSelector(0.1, seed=1), share=0.5, fraction=0.1, seed=0)
>>> budget = Budget(0.1); budget.observe(100)
>>> batch = ScoredBatch([str(i) for i in range(100)], np.zeros((100, 2), np.float32), {})
>>> bought = trickle.select_many(batch, budget)
>>> sorted({s.reason for s in bought}), budget.spent <= 10
(['random', 'validation'], True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, Selector, reads_novelty, reward_base
from stream_al.select.random import RandomSelector
from stream_al.select.selections import Selections

VALIDATION_REASON = "validation"
"""The reason (and strategy) of a purchase drawn uniformly for validation."""

UNIFORM_REASONS = frozenset({VALIDATION_REASON})
"""Reasons of purchases drawn uniformly from the stream that the learner validates on (the
pacer's control trickle is uniform too, but its labels serve the pacer's curve; not measured
as validation rows)."""


class ValidationTrickle:
    """The strategy, after a uniform draw of ``share`` of the budget (module docstring)."""

    def __init__(self, base: Selector, share: float, fraction: float, seed: int = 0,
                 needed: Callable[[], int] = lambda: 0) -> None:
        if not 0 < share < 1:
            raise ValueError(f"a validation share must be in (0, 1), got {share}")
        self.base = base
        self.name = base.name
        self.share = share
        self.needed = needed
        """Uniform rows the learner needs before they can overrule its search, now (it grows
        with the classes seen: :func:`~stream_al.learn.regularisation.enough_rows`)."""
        self.bought = 0
        """Purchases made through this layer (the trickle's and the strategy's)."""
        self.drawn = 0
        """Of them, the trickle's draws."""
        self.draws = RandomSelector(share * fraction, seed=seed + 14_000)
        self.catch_up = RandomSelector(fraction, seed=seed + 14_001)
        """Draws at the whole budget's rate, while :attr:`catching_up`."""

    @property
    def drawing(self) -> bool:
        """The trickle draws only where its draws can be used: once ``share`` of the labels
        bought so far reaches :attr:`needed`, i.e. when the stream, going on as long again as
        it has (the only horizon a stream shows), would give the learner that many uniform
        rows. Before, every label goes to the strategy (a short stream, or a budget too small
        for the classes seen, loses nothing to draws it could never use)."""
        return self.share * self.bought >= self.needed()

    @property
    def catching_up(self) -> bool:
        """Drawing, and fewer draws than :attr:`needed`: the trickle takes the whole budget's
        rate, so that its draws are used from the next ``needed - drawn`` labels on instead of
        only if the stream lasts as long again (module docstring)."""
        return self.drawing and self.drawn < self.needed()

    def resume(self, bought: int, drawn: int) -> None:
        """Go on after a restore from ``bought`` purchases, ``drawn`` of them the trickle's
        (the coordinator's purchases and :attr:`Coordinator.uniform`; purchases of outer
        layers, OOD or drift picks, count among ``bought`` there)."""
        self.bought, self.drawn = bought, drawn

    @property
    def reads_novelty(self) -> bool:
        return reads_novelty(self.base)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        chosen = Selections.none()
        if self.drawing:
            draws = self.catch_up if self.catching_up else self.draws
            chosen = draws.select_many(batch, budget).relabelled(VALIDATION_REASON,
                                                                 VALIDATION_REASON)
        rest = self.base.select_many(batch.without(chosen.item_ids), budget)
        self.drawn += len(chosen)
        self.bought += len(chosen) + len(rest)
        return Selections.joined([chosen, rest])

    def flush(self, budget: BudgetLike) -> Sequence[Selection]:
        flush = getattr(self.base, "flush", None)
        flushed = Selections.none() if flush is None else flush(budget)
        self.bought += len(flushed)
        return flushed

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        reward_base(self.base, VALIDATION_REASON, strategies, rewards, item_ids)
