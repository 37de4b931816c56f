"""What a drift alarm does to selection: spend sooner, and spend on the drifting region.

For ``response_items`` stream items after an alarm, labels may be bought ``boost`` times as
fast as the budget accrues. The extra spending is *borrowed* from future allowance
(:class:`CreditBudget`, at most ``max_credit`` cost units outstanding) and repaid from the
allowance that accrues afterwards, before anything else is bought. A share
``explore_share`` of the faster spending goes to exploration: the most novel items (far from
everything already selected), weighted towards the region where the recent window gained mass
over the reference (:class:`~stream_al.drift.embedding.DriftRegion`).

The response's clock (:class:`~stream_al.drift.response.DriftResponse`) is started by the
drift alarms; this module holds what it does to selection. The budget guarantee, proved by the
property tests in ``tests/select/test_drift_aware.py``:

* the ledger of the wrapped :class:`~stream_al.select.budget.Budget` is never overdrawn;
* everything bought, borrowed or not, never exceeds ``fraction * seen + warmup + max_credit``;
* once a response is over and its debt repaid (at most ``max_credit / fraction`` items
  later), everything bought is within ``fraction * seen + warmup`` again: the long-run
  fraction holds whatever the alarms.

(Proved for whole-stream budgets; with ``budget.window_items`` the wrapped ledger holds per
window and the debt, at most ``max_credit``, is repaid from the windows that follow.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stream_al.drift.response import DriftResponse
from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selection, Selector, reads_novelty, reward_base
from stream_al.select.budget import Budget, Spending, within
from stream_al.select.selections import Selections, selections_of

EXPLORE_STRATEGY = "drift"
EXPLORE_REASON = "drift_explore"


@dataclass
class CreditBudget(Spending):
    """A :class:`Budget` that may also spend up to ``limit`` borrowed cost units.

    ``debt`` is what was spent beyond the wrapped ledger; :meth:`repay` moves it into the
    ledger as soon as the ledger's allowance allows. ``limit`` is set by the drift response
    (0 outside a response), and debt never exceeds it at the time it is taken.

    >>> base = Budget(fraction=0.1)
    >>> base.observe(10)
    >>> credit = CreditBudget(base, limit=3.0)
    >>> credit.allowance
    4.0
    >>> credit.spend(3.0); credit.debt, base.spent
    (2.0, 1.0)
    >>> credit.limit = 0.0; base.observe(30); credit.repay(); credit.debt, base.allowance
    (0.0, 1.0)
    """

    base: Budget
    limit: float = 0.0
    debt: float = 0.0

    @property
    def allowance(self) -> float:
        return self._with_credit(self.base.allowance)

    def _with_credit(self, base: float) -> float:
        """The allowance when the wrapped ledger allows ``base``: its own plus the credit
        left."""
        return base + max(0.0, self.limit - self.debt)

    @property
    def spent(self) -> float:
        """Everything bought: the wrapped ledger's spending plus the outstanding debt."""
        return self.base.spent + self.debt

    # the wrapped ledger's terms, so that a bandit can open sub-ledgers on this one
    @property
    def fraction(self) -> float:
        return self.base.fraction

    @property
    def window_items(self) -> int:
        return self.base.window_items

    @property
    def warmup(self) -> float:
        return self.base.warmup

    def observe(self, n_items: int) -> None:
        self.base.observe(n_items)

    def spend(self, cost: float = 1.0) -> None:
        base = self.base.allowance  # read once: the test below is can_spend's
        if cost < 0 or not within(cost, self._with_credit(base)):
            self.check_spend(cost, self._context())
        self._charge(cost, base)

    def try_spend(self, cost: float) -> bool:
        """``can_spend`` then :meth:`spend`, with the wrapped ledger's allowance read once."""
        base = self.base.allowance
        if not within(cost, self._with_credit(base)):
            return False
        if cost < 0:
            self.check_spend(cost, self._context())  # raises
        self._charge(cost, base)
        return True

    def _charge(self, cost: float, base: float) -> None:
        """Spend ``cost``, checked already, when the wrapped ledger allows ``base``: from its
        allowance first, the rest as debt on the credit."""
        own = min(cost, max(0.0, base))
        if own > 0:
            self.base.charge(own)  # within the ledger's allowance: 0 < own <= base
        self.debt += cost - own

    def _context(self) -> str:
        return f" (debt {self.debt:.3f} of credit {self.limit:.3f})"

    def release(self, cost: float = 1.0) -> None:
        """A bought label will not come: cancel debt first, then refund the ledger."""
        forgiven = min(cost, self.debt)
        self.debt -= forgiven
        if cost - forgiven > 0:
            self.base.release(cost - forgiven)

    def repay(self) -> None:
        """Pay the debt from the ledger's allowance, as far as it goes."""
        amount = min(self.debt, max(0.0, self.base.allowance))
        if amount > 0:
            self.base.spend(amount)
            self.debt -= amount
        if self.debt < 1e-9:
            self.debt = 0.0


class DriftAwareSelector:
    """Any selector, plus the drift response: borrowed budget and exploration during a response.

    Outside a response it is the wrapped selector, except that outstanding debt is repaid
    before the wrapped selector may spend.
    """

    def __init__(self, base: Selector, response: DriftResponse, min_separation: float = 0.05,
                 ) -> None:
        self.base = base
        self.name = base.name
        self.response = response
        self.min_separation = min_separation
        self.credit: CreditBudget | None = None
        self._explore: Budget | None = None
        self._explore_started: int | None = None

    @property
    def reads_novelty(self) -> bool:
        """During a response, exploration ranks by novelty. (Alarms start responses between
        batches, and a response ends by counting items: inactive now, inactive in the next.)"""
        exploring = self.response.active and self.response.explore_share > 0
        return exploring or reads_novelty(self.base)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        credit = self._credit_of(budget)
        self.response.observe(batch.represents)
        credit.limit = self.response.credit_limit()
        credit.repay()
        chosen = Selections.none()
        if self.response.active and len(batch):
            chosen = self._explore_many(batch, credit)
            batch = batch.without(chosen.item_ids)
        return Selections.joined([chosen, self.base.select_many(batch, credit)])

    def flush(self, budget: BudgetLike) -> Sequence[Selection]:
        flush = getattr(self.base, "flush", None)
        if flush is None:
            return Selections.none()
        credit = self._credit_of(budget)
        credit.repay()
        return flush(credit)

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        reward_base(self.base, EXPLORE_STRATEGY, strategies, rewards, item_ids)

    def _credit_of(self, budget: BudgetLike) -> CreditBudget:
        if self.credit is None:
            if not isinstance(budget, Budget):
                raise TypeError("the drift response wraps the stage's Budget ledger; got "
                                f"{type(budget).__name__}")
            self.credit = CreditBudget(budget)
        elif self.credit.base is not budget:
            raise ValueError("a DriftAwareSelector serves one budget ledger; build one per stage")
        return self.credit

    def _explore_many(self, batch: ScoredBatch, credit: CreditBudget) -> Selections:
        """The most novel items of the drifting region, within exploration's own accrual."""
        if self.response.explore_share <= 0:
            return Selections.none()
        if self._explore is None or self._explore_started != self.response.started_at:
            self._explore = Budget(self.response.explore_fraction)
            self._explore_started = self.response.started_at
        self._explore.observe(batch.represents)
        n = int(min(self._explore.allowance, credit.allowance) + 1e-9)
        if n < 1:
            return Selections.none()
        priority = batch.scores.get("novelty", np.ones(len(batch), dtype=np.float32))
        if self.response.region is not None:
            priority = priority * self.response.region.weight_many(batch.X)
        picked: list[int] = []
        for i in np.argsort(-priority, kind="stable"):
            if len(picked) == n:
                break
            if picked and float((1.0 - batch.X[picked] @ batch.X[i]).min()) < self.min_separation:
                continue
            cost = float(batch.costs[i])
            if not (self._explore.can_spend(cost) and credit.can_spend(cost)):
                break
            self._explore.spend(cost)
            credit.spend(cost)
            picked.append(int(i))
        return selections_of(batch, picked, EXPLORE_STRATEGY, EXPLORE_REASON, priority[picked])
