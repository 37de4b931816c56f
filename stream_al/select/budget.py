"""The label budget: how much may be spent so far, in cost units (1 per label by default).

A fraction ``b`` of the stream may be labelled: after ``n`` items the allowance is
``b * n + warmup``, or ``b * (items in the current window)`` with windows of ``window_items``.
The ledger never lets ``spent`` exceed the allowance; released costs (labels that never came
back) are refunded. ``withheld`` is budget a pacer decided not to spend (stream_al/pace/): each
observed item adds ``withhold_share`` of its allowance to it, no selector may spend it, and it
is forgotten when a window ends (its allowance is gone anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stream_al.errors import StreamAlError

if TYPE_CHECKING:
    from stream_al.select.base import BudgetLike


class BudgetError(StreamAlError, ValueError):
    """Spending more than the allowance, or a negative cost."""


def within(cost: float, allowance: float) -> bool:
    """``cost`` fits in ``allowance`` (up to float rounding): every ledger's test."""
    return cost <= allowance + 1e-9


class Spending:
    """What every ledger with an ``allowance`` checks before it spends (:class:`Budget`, the
    drift response's :class:`~stream_al.select.drift_aware.CreditBudget`, the OOD cap)."""

    allowance: float  # a property or a field of the ledger

    def can_spend(self, cost: float = 1.0) -> bool:
        return within(cost, self.allowance)

    def try_spend(self, cost: float) -> bool:
        """Spend ``cost`` if it fits (:meth:`can_spend`, then ``spend``); whether it did."""
        if not self.can_spend(cost):
            return False
        self.spend(cost)  # type: ignore[attr-defined]  # every ledger has one
        return True

    def check_spend(self, cost: float, context: str = "") -> None:
        """Raise unless ``cost`` is >= 0 and within the allowance (``context``: for the
        message)."""
        if cost < 0:
            raise BudgetError(f"cost must be >= 0, got {cost}")
        if not self.can_spend(cost):
            raise BudgetError(f"cost {cost} exceeds the allowance {self.allowance:.3f}{context}")


@dataclass
class Budget(Spending):
    """A ledger of allowance and spending.

    >>> budget = Budget(fraction=0.1)
    >>> budget.observe(20)
    >>> budget.can_spend(2), budget.can_spend(3)
    (True, False)
    """

    fraction: float
    window_items: int = 0
    warmup: float = 0.0
    seen: int = 0
    spent: float = 0.0
    window_seen: int = 0
    window_spent: float = 0.0
    carried: dict[int, float] = field(default_factory=dict)
    """Charges of windows not reached yet (:attr:`window` -> cost): a restore found items bought
    in a window its ledger had not counted; that window starts with them spent."""
    withheld: float = 0.0
    withhold_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise BudgetError(f"budget must be in (0, 1], got {self.fraction}")
        if self.window_items < 0:
            raise BudgetError(f"window_items must be >= 0, got {self.window_items}")

    def observe(self, n_items: int) -> None:
        """Count ``n_items`` more stream items (the allowance grows with them)."""
        if n_items < 0:
            raise BudgetError(f"cannot observe a negative number of items ({n_items})")
        self.seen += n_items
        self.withheld += self.withhold_share * self.fraction * n_items
        if not self.window_items:
            return
        in_window = self.window_seen + n_items
        self.window_seen = in_window % self.window_items if in_window >= self.window_items else in_window
        if in_window >= self.window_items:  # a new window starts with a fresh allowance
            self.window_spent = self.carried.pop(self.window, 0.0)
            self.carried = {w: c for w, c in self.carried.items() if w > self.window}
            self.withheld = self.withhold_share * self.fraction * self.window_seen

    @property
    def window(self) -> int:
        """Which window the stream is in (0, 1, ...; always 0 without ``window_items``): what
        a purchase is charged to."""
        return self.seen // self.window_items if self.window_items else 0

    @property
    def allowance(self) -> float:
        """Cost that may still be spent now."""
        if self.window_items:
            return (self.fraction * self.window_seen + self.warmup - self.window_spent
                    - self.withheld)
        return self.fraction * self.seen + self.warmup - self.spent - self.withheld

    def spend(self, cost: float = 1.0) -> None:
        self.check_spend(cost)
        self.charge(cost)

    def try_spend(self, cost: float) -> bool:
        """:meth:`can_spend` then :meth:`spend`, with the allowance read once."""
        if not within(cost, self.allowance):
            return False
        if cost < 0:
            self.check_spend(cost)  # raises
        self.charge(cost)
        return True

    def charge(self, cost: float) -> None:
        """:meth:`spend` without its check, for a caller that made it (a wrapping ledger that
        read the allowance already)."""
        self.spent += cost
        self.window_spent += cost

    def release(self, cost: float = 1.0) -> None:
        """Refund a cost whose label will not come (deadline passed, item dropped)."""
        cost = min(cost, self.spent)
        self.spent -= cost
        self.window_spent = max(0.0, self.window_spent - cost)

    @property
    def total(self) -> float:
        """Everything the stream seen so far entitles us to spend."""
        return self.fraction * self.seen + self.warmup


def spent_in_order(budget: BudgetLike, costs: Sequence[float]) -> list[int]:
    """Positions of ``costs`` bought from ``budget`` in turn, each if it fits when its turn
    comes (``can_spend`` then ``spend``: a selector's ranked picks); a ledger with
    ``try_spend`` does both at once.

    >>> budget = Budget(fraction=0.1)
    >>> budget.observe(30)
    >>> spent_in_order(budget, [2.0, 2.0, 1.0]), budget.spent
    ([0, 2], 3.0)
    """
    try_spend = getattr(budget, "try_spend", None)
    if try_spend is None:
        bought = []
        for n, cost in enumerate(costs):
            if budget.can_spend(cost):
                budget.spend(cost)
                bought.append(n)
        return bought
    return [n for n, cost in enumerate(costs) if try_spend(cost)]


@dataclass
class SubBudget:
    """A share of a parent budget: accrues on its own items, spends from both ledgers."""

    parent: Budget
    own: Budget

    @classmethod
    def of(cls, parent: Budget) -> SubBudget:
        return cls(parent, Budget(parent.fraction, parent.window_items, parent.warmup))

    def observe(self, n_items: int) -> None:
        self.own.observe(n_items)  # the parent observes the whole stream itself

    @property
    def allowance(self) -> float:
        return min(self.own.allowance, self.parent.allowance)

    def can_spend(self, cost: float = 1.0) -> bool:
        return self.own.can_spend(cost) and self.parent.can_spend(cost)

    def spend(self, cost: float = 1.0) -> None:
        self.parent.spend(cost)
        self.own.spend(cost)

    def release(self, cost: float = 1.0) -> None:
        self.parent.release(cost)
        self.own.release(cost)
