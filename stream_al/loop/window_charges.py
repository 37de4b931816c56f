"""Which budget window a rebuild charges each purchase to (``budget.window_items``).

The ledger on the ``state`` topic is written after the purchases it counts, so after a crash it
may lag the ``selected`` topic by the purchases of one control record. If that record crossed a
window boundary, those purchases belong to a window the ledger has not reached: charging them
to the ledger's window (and then starting the next window afresh when the replayed record
crosses the boundary again) would let the next window spend its whole allowance on top of
them. Each purchase says which window it was charged to (:attr:`Purchase.window`), so a rebuild
charges the ledger's window with the purchases it did not count yet, and *carries* the charges
of later windows until the budget reaches them (:attr:`Budget.carried`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stream_al.loop.records import BudgetLedger, Purchase


@dataclass(frozen=True)
class WindowCharges:
    """The current window's spending after a rebuild, and the charges of windows ahead."""

    window_spent: float
    carried: dict[int, float] = field(default_factory=dict)


def window_charges(purchases: Iterable[Purchase], expired: Mapping[str, float],
                   spent: float, ledger: BudgetLedger, window_items: int) -> WindowCharges:
    """Charges of the ledger's window and of the windows after it. ``spent``: cost of every
    purchase not expired (what the rebuild recomputed); ``ledger``: the last one written.

    >>> from stream_al.loop.records import BudgetLedger, Purchase
    >>> ledger = BudgetLedger(seen=95, spent=3.0, window_seen=45, window_spent=2.0,
    ...                       control_offset=7, at=0.0)  # counted i0 (window 0), i1, i2
    >>> bought = [Purchase(f"i{n}", "", "b", "s", "r", {}, 0, 0.0, 1.0, 0, window=w)
    ...           for n, w in enumerate([0, 1, 1, 1, 2, 2])]  # i3 to i5 bought after it
    >>> window_charges(bought, {}, 6.0, ledger, window_items=50)
    WindowCharges(window_spent=3.0, carried={2: 2.0})
    """
    if not window_items:
        return WindowCharges(ledger.window_spent + max(0.0, spent - ledger.spent))
    current = ledger.seen // window_items
    carried: dict[int, float] = {}
    for p in purchases:
        if p.window > current and p.item_id not in expired:
            carried[p.window] = carried.get(p.window, 0.0) + p.cost
    uncounted = spent - ledger.spent - sum(carried.values())
    return WindowCharges(ledger.window_spent + max(0.0, uncounted), carried)
