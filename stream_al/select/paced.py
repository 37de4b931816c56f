"""Budget pacing in the selection stack: the strategy spends at the pacer's rate.

:class:`PacedSelector` wraps the strategy (inside the OOD cap and the drift response, which
keep their own accruals). Of each batch:

1. a random control trickle (:class:`~stream_al.select.random.RandomSelector` at ``floor`` x
   the budget, reason ``"pace_control"``) is bought first, whatever the rate: unbiased labels
   for the learning curve, prequential accuracy and calibration;
2. the strategy spends from a :class:`PacedBudget`: a view of the ledger whose own allowance
   accrues ``rate`` x the budget per item less what the control trickle spent (plus any grant
   of saved budget a resume lets it borrow), and which never allows more than the ledger it
   views.

The budget a rate below 1 leaves unspent is *withheld* on the stage's ledger
(:attr:`~stream_al.select.budget.Budget.withheld`), so no layer of the stack (OOD cap, drift
exploration, the end-of-stream flush) spends it later; a resume's grant (``borrow_cap``) is the
only way back. So at rate 1 the stack spends what it spends unpaced (a ``floor`` share of it at
random), at the floor only the control trickle (and OOD or drift picks within the floor's
allowance) is bought, and nothing is ever bought beyond the ledger: the budget holds in every
window whatever the pacer does. The pacer
(:class:`~stream_al.pace.pacer.Pacer`) sees every batch, the OOD flags the cap put on it, and
the model the stage holds; the coordinator's governance hands it the labels and drift alarms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stream_al.config import PacingSettings
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.ood import OODDetector
from stream_al.pace.pacer import CONTROL_REASON, Pacer
from stream_al.score.batch import ScoredBatch
from stream_al.select.base import BudgetLike, Selector, reads_novelty, reward_base
from stream_al.select.budget import Budget, BudgetError
from stream_al.select.ood_check import forwarded
from stream_al.select.random import RandomSelector
from stream_al.select.selections import Selections

CONTROL_STRATEGY = "pace_control"


class PacedBudget:
    """A view of ``base`` that allows at most ``own`` (and never more than ``base`` allows).

    >>> from stream_al.select.budget import Budget
    >>> base = Budget(fraction=0.1); base.observe(100)
    >>> paced = PacedBudget(base, own=3.0)
    >>> paced.allowance, paced.can_spend(4.0)
    (3.0, False)
    >>> paced.spend(2.0); base.spent, paced.allowance
    (2.0, 1.0)
    """

    def __init__(self, base: BudgetLike, own: float = 0.0) -> None:
        self.base = base
        self.own = own

    @property
    def allowance(self) -> float:
        return min(self.own, self.base.allowance)

    # the viewed ledger's terms, so that a bandit can open sub-ledgers on this one
    @property
    def fraction(self) -> float:
        return float(getattr(self.base, "fraction", 0.0))

    @property
    def window_items(self) -> int:
        return int(getattr(self.base, "window_items", 0))

    @property
    def warmup(self) -> float:
        return float(getattr(self.base, "warmup", 0.0))

    def observe(self, n_items: int) -> None:
        """Items are observed by the ledger's owner; the paced allowance accrues in
        :class:`PacedSelector`."""

    def can_spend(self, cost: float = 1.0) -> bool:
        return cost <= self.allowance + 1e-9

    def spend(self, cost: float = 1.0) -> None:
        if not self.can_spend(cost):
            raise BudgetError(f"cost {cost} exceeds the paced allowance {self.allowance:.3f} "
                              f"(own {self.own:.3f})")
        self.base.spend(cost)
        self.own -= cost

    def release(self, cost: float = 1.0) -> None:
        self.base.release(cost)
        self.own += cost


class PacedSelector:
    """The strategy at the pacer's rate, plus the random control trickle (module docstring)."""

    def __init__(self, base: Selector, settings: PacingSettings, fraction: float,
                 model: Callable[[], ModelSnapshot], detector: OODDetector | None = None,
                 ledger: Callable[[], Budget] | None = None, l2: float = 1e-3) -> None:
        self.base = base
        self.name = base.name
        self.settings = settings
        self.l2 = l2
        """The learner's penalty (a cross-validated learning curve fits the learner's model)."""
        self.pacer = Pacer(settings, l2)
        self.model = model
        """The stage's current model (the pacer compares successive ones on its stop set)."""
        self.detector = detector
        self.ledger = ledger
        """The stage's ledger, on which the unspent budget is withheld (None: the budget each
        batch is selected on, or the ledger it wraps)."""
        self.control = RandomSelector(settings.floor * fraction, seed=settings.seed)
        self._paced: PacedBudget | None = None
        self._seen = 0
        self._own = 0.0
        """The paced allowance a rebuild resumed with (the next paced view starts with it)."""
        self._spent: float | None = None
        """The ledger's spending after the last batch: less at the next one means labels that
        never came were refunded to it, and the strategy's view gets them back too."""

    @property
    def reads_novelty(self) -> bool:
        return reads_novelty(self.base)

    def select_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        ledger = self.ledger() if self.ledger is not None else _root(budget)
        n_items = len(batch) if ledger is None else ledger.seen - self._seen
        self._seen = self._seen + n_items
        fraction = self._fraction(budget)
        if ledger is not None:  # the ledger withheld at the last batch's rate: use this one's
            late = (1.0 - self.pacer.rate - ledger.withhold_share) * fraction * n_items
            ledger.withheld = max(0.0, ledger.withheld + late)
        self.pacer.observe_many(batch.X, fraction, self.model(), self._ood_flags(batch),
                                n_items=n_items)
        if ledger is not None:
            self._withhold(ledger)
        refunded = 0.0
        if ledger is not None and self._spent is not None:
            refunded = max(0.0, self._spent - ledger.spent)
        chosen = self._control_many(batch, budget)
        batch = batch.without(chosen.item_ids)
        paced = self._paced_view(budget, len(batch) + len(chosen),
                                 spent_elsewhere=sum(chosen.costs) - refunded)
        chosen = Selections.joined([chosen, self.base.select_many(batch, paced)])
        self.pacer.count_spent(sum(chosen.costs), len(chosen))
        if ledger is not None:
            self._spent = ledger.spent
        return chosen

    def flush(self, budget: BudgetLike) -> Selections:
        flush = getattr(self.base, "flush", None)
        if flush is None:
            return Selections.none()
        chosen = Selections.of(flush(self._paced_view(budget, 0)))
        self.pacer.count_spent(sum(chosen.costs), len(chosen))
        return chosen

    def reward_many(self, strategies: Sequence[str], rewards: Sequence[float],
                    item_ids: Sequence[str] | None = None) -> None:
        reward_base(self.base, CONTROL_STRATEGY, strategies, rewards, item_ids)

    # ---- across a rebuild -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What a rebuilt coordinator needs to pace on where this selector stopped (JSON-able):
        the pacer's state (:meth:`Pacer.state_dict`), the strategy's paced allowance, the
        ledger's items and spending at the last batch, and what the ledger withholds."""
        ledger = self.ledger() if self.ledger is not None else None
        return {
            "pacer": self.pacer.state_dict(),
            "own": self._own if self._paced is None else self._paced.own,
            "seen": self._seen,
            "spent": self._spent,
            "withheld": None if ledger is None else ledger.withheld,
            "withhold_share": None if ledger is None else ledger.withhold_share,
            "control": {"seen": self.control.seen, "owed": self.control.owed,
                        "block": self.control._block},
        }

    def resume(self, state: dict[str, Any], ledger: Budget) -> None:
        """After a rebuild: go on from :meth:`state_dict` (``ledger``: the restored stage's;
        the strategy's paced view starts with the allowance it had)."""
        self.pacer = Pacer.from_state(self.settings, state.get("pacer", {}), self.l2)
        self._seen = int(state.get("seen", ledger.seen))
        spent = state.get("spent")
        self._spent = None if spent is None else float(spent)
        self._paced = None
        self._own = float(state.get("own") or 0.0)
        if state.get("withheld") is not None:
            ledger.withheld = float(state["withheld"])
            ledger.withhold_share = float(state.get("withhold_share") or 0.0)
        control = state.get("control")
        if control is not None:  # the trickle's draws, replayed from its seed: the same positions
            self.control = _random_at(self.control.fraction, self.settings.seed, **control)

    def _withhold(self, ledger: Budget) -> None:
        """From the next items on, the ledger withholds what the rate leaves unspent (every
        layer of the stack spends from it); a resume's grant is released (it also reaches the
        strategy through its paced view)."""
        ledger.withhold_share = 1.0 - self.pacer.rate
        ledger.withheld = max(0.0, ledger.withheld - self.pacer.peek_grant())

    def _control_many(self, batch: ScoredBatch, budget: BudgetLike) -> Selections:
        return self.control.select_many(batch, budget).relabelled(CONTROL_STRATEGY,
                                                                   CONTROL_REASON)

    def _paced_view(self, budget: BudgetLike, n_items: int,
                    spent_elsewhere: float = 0.0) -> PacedBudget:
        """The ledger as the strategy may spend it now: ``n_items`` more items' accrual at the
        rate, less ``spent_elsewhere``: what the control trickle spent of it (it buys a share of
        the items whatever they cost, so cheap items leave the rest of its share to the
        strategy), net of the refunds of labels that never came; plus any grant a resume
        made."""
        if self._paced is None or self._paced.base is not budget:
            self._paced = PacedBudget(budget, own=self._own)
            self._own = 0.0
        accrual = self.pacer.rate * self._fraction(budget) * n_items - spent_elsewhere
        self._paced.own += accrual + self.pacer.take_grant()
        return self._paced

    def _fraction(self, budget: BudgetLike) -> float:
        return float(getattr(budget, "fraction", self.control.fraction / self.settings.floor))

    def _ood_flags(self, batch: ScoredBatch) -> np.ndarray | None:
        checked = forwarded(batch.scores)  # scale.ood_at_scorers: the scorers' flags
        if checked is not None:
            return checked[1]
        if self.detector is None or "ood_distance" not in batch.scores:
            return None
        return np.asarray(batch.scores["ood_distance"]) > self.detector.threshold


def _random_at(fraction: float, seed: int, seen: int, owed: int, block: int) -> RandomSelector:
    """The random selector of ``seed`` after ``seen`` items, ``block`` blocks drawn and
    ``owed`` purchases owed: its generator is advanced by the draws it made."""
    control = RandomSelector(fraction, seed=seed)
    for b in range(1, int(block) + 1):
        control._due = control._draw(b)
    control._block, control.seen, control.owed = int(block), int(seen), int(owed)
    return control


def _root(budget: object) -> Budget | None:
    """The :class:`Budget` ledger ``budget`` is or wraps (a drift response's credit)."""
    while not isinstance(budget, Budget):
        budget = getattr(budget, "base", None)
        if budget is None:
            return None
    return budget
