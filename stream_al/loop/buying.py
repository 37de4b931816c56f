"""What the selection stage's choices become: purchases, each item bought at most once.

The stage spends the budget when it chooses (stream_al.select.stage); :class:`Buying` turns
its choices into purchases (:class:`~stream_al.loop.purchases.Purchases`, a column per field)
with the text, the model version, the deadline, the price and the k annotators each asks for,
and gives back what it
cannot buy: an item chosen twice in one emission (a redelivered text), an item bought before
(it stays outstanding as it was) or one whose text is no longer remembered. The texts come
from the last ``text_cache_items`` texts the coordinator saw (the ones the selector may still
hold); what is bought is kept in the coordinator's :class:`~stream_al.loop.bought.BoughtTexts`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from stream_al.loop.bought import BoughtTexts
from stream_al.loop.pricing import Pricing
from stream_al.loop.purchases import Purchases
from stream_al.select.selections import Selections
from stream_al.select.stage import Outstanding, SelectionStage


class Buying:
    """Purchases out of ``stage``'s choices, priced by ``pricing``; texts from the last
    ``text_cache_items`` seen."""

    def __init__(self, stage: SelectionStage, pricing: Pricing,
                 text_cache_items: int = 50_000) -> None:
        self.stage, self.pricing = stage, pricing
        self._recent: OrderedDict[str, str] = OrderedDict()  # texts the selector may still hold
        self._text_cache_items = text_cache_items
        self._emissions = 0

    def remember_texts(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """The texts of a scored batch (what a purchase of one of them will carry)."""
        recent = self._recent
        if recent.keys().isdisjoint(ids) and len(set(ids)) == len(ids):
            recent.update(zip(ids, texts, strict=True))  # the usual: each new, and once
        else:  # a text seen again goes to the end, at its last place in ``ids``
            for item_id, text in zip(ids, texts, strict=True):
                recent[item_id] = text
                recent.move_to_end(item_id)
        while len(recent) > self._text_cache_items:
            recent.popitem(last=False)

    def buy_many(self, chosen: Selections, before: dict[str, Outstanding],
                 bought: BoughtTexts, embeddings: dict[str, np.ndarray],
                 control_offset: int) -> Purchases:
        """Purchases of ``chosen`` (``before``: the stage's outstanding selections before it
        chose) not in ``bought``, which then holds them; each one's embedding goes to
        ``embeddings``. The batch id names the control offset and the emission."""
        batch_id = f"sel-{control_offset}-{self._emissions}"
        self._emissions += 1
        kept: list[int] = []  # rows of `chosen`
        now_bought: dict[str, str] = {}  # id -> text, in buying order
        ids, costs = chosen.item_ids, chosen.costs
        known = bought.contains_many(ids)  # `bought` changes at the end
        recent = self._recent
        for row, (item_id, bought_before) in enumerate(zip(ids, known, strict=True)):
            if item_id in now_bought:  # offered twice (a redelivered text), chosen twice
                self.stage.budget.release(costs[row])
                continue
            text = recent.get(item_id)
            if text is None or bought_before:  # bought before, or text forgotten
                self._unbuy(item_id, costs[row], before)
                continue
            now_bought[item_id] = text
            kept.append(row)
        picks = chosen.subset(kept)
        if picks.X is not None:  # the picks' rows only: no view of a whole batch is kept
            embeddings.update(zip([picks.item_ids[r] for r in picks.embedded_rows()], picks.X,
                                  strict=True))
        outstanding, annotators = self.stage.outstanding, self.pricing.annotators
        out = Purchases.of_columns(
            list(now_bought), list(now_bought.values()), batch_id, picks.strategies,
            picks.reasons, picks.scores, self.stage.snapshot.version,
            [outstanding[i].deadline for i in now_bought], picks.costs,
            [int(g) for g in picks.groups], [float(p) for p in picks.priorities],
            [annotators(i) for i in now_bought], self.stage.budget.window)
        bought.add_new_many(list(now_bought.items()))
        return out

    def _unbuy(self, item_id: str, cost: float, before: dict[str, Outstanding]) -> None:
        self.stage.budget.release(cost)
        if item_id in before:
            self.stage.outstanding[item_id] = before[item_id]
        else:
            self.stage.outstanding.pop(item_id, None)
