"""An emission's purchases as columns: what the coordinator returns from a scored record.

The coordinator buys ~100 items per record of 2,048 stream texts at a 5% budget; a frozen
:class:`~stream_al.loop.records.Purchase` per item, with its own score dict, cost ~4 us of the
~3.3 us per stream text the coordinator may spend (issue 17). :class:`Purchases` keeps each
field as a list, one entry per item, and builds a :class:`Purchase` only for a reader that asks
for one (indexing or iterating it: a :class:`~collections.abc.Sequence` of purchases, equal to a
list of the same purchases). The shells that publish or count purchases read the columns.

>>> p = Purchases.of_columns(["a", "b"], ["good", "bad"], "sel-1-0", ["balanced"] * 2,
...                          ["balanced", "coverage"], [{"margin": 0.25, "annotators": 1.0},
...                          {"margin": float("nan")}], 3, [60.0, 60.0], [1.0, 1.0], [0, 1],
...                          [0.5, 0.25], [1, 1], 0)
>>> len(p), p.item_ids, p[1].reason, p[0].scores, p[1].scores
(2, ['a', 'b'], 'coverage', {'margin': 0.25}, {})
>>> Purchases.joined([p, Purchases.none()]) == list(p)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stream_al.loop.records import Purchase
from stream_al.select.cost_aware import ANNOTATORS
from stream_al.select.selections import RowObjects, ScoreRows

COLUMNS = ("item_ids", "texts", "batch_ids", "strategies", "reasons", "scores",
           "model_versions", "deadlines", "costs", "groups", "priorities", "annotators",
           "windows")
"""One list per :class:`Purchase` field, in the field order."""


def purchase_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """What a purchase carries of a selection's scores: the finite ones, as floats, without
    the annotators asked for (a field of its own)."""
    return {k: float(v) for k, v in scores.items() if k != ANNOTATORS and math.isfinite(v)}


class Purchases(RowObjects[Purchase]):
    """Purchases, one entry per item in each column (:data:`COLUMNS`). ``scores`` holds each
    item's selection scores as the selector made them (with the annotators asked for and any
    non-finite value; a list of dicts, or the selections' columns, :class:`ScoreRows`):
    :func:`purchase_scores` makes a purchase's of them when it is built."""

    __slots__ = (*COLUMNS, "_rows")

    item_ids: list[str]
    texts: list[str]
    batch_ids: list[str]
    strategies: list[str]
    reasons: list[str]
    scores: Sequence[Mapping[str, float]]
    model_versions: list[int]
    deadlines: list[float]
    costs: list[float]
    groups: list[int]
    priorities: list[float]
    annotators: list[int]
    windows: list[int]

    def __init__(self, **columns: list[Any]) -> None:
        n = len(columns["item_ids"])
        for name in COLUMNS:
            if len(columns[name]) != n:
                raise ValueError(f"column {name} has {len(columns[name])} entries, not {n}")
            setattr(self, name, columns[name])
        self._rows: list[Purchase] | None = None

    @classmethod
    def of_columns(cls, item_ids: list[str], texts: list[str], batch_id: str,
                   strategies: list[str], reasons: list[str],
                   scores: Sequence[Mapping[str, float]],
                   model_version: int, deadlines: list[float], costs: list[float],
                   groups: list[int], priorities: list[float], annotators: list[int],
                   window: int) -> Purchases:
        """One emission's: its batch id, model version and budget window are every item's."""
        n = len(item_ids)
        return cls(item_ids=item_ids, texts=texts, batch_ids=[batch_id] * n,
                   strategies=strategies, reasons=reasons, scores=scores,
                   model_versions=[model_version] * n, deadlines=deadlines, costs=costs,
                   groups=groups, priorities=priorities, annotators=annotators,
                   windows=[window] * n)

    @classmethod
    def none(cls) -> Purchases:
        return cls(**{name: [] for name in COLUMNS})

    @classmethod
    def joined(cls, parts: Sequence[Purchases]) -> Purchases:
        """``parts`` one after the other (the emissions of records selected in turn)."""
        if len(parts) == 1:
            return parts[0]
        columns = {name: [v for p in parts for v in getattr(p, name)] for name in COLUMNS
                   if name != "scores"}
        scores = [p.scores for p in parts]
        return cls(**columns, scores=ScoreRows.joined(scores)  # type: ignore[arg-type]
                   if all(isinstance(s, ScoreRows) for s in scores)
                   else [v for s in scores for v in s])

    def __add__(self, other: Sequence[Purchase]) -> Sequence[Purchase]:
        """Joined with other purchases (columns), or a list of both (another sequence)."""
        if isinstance(other, Purchases):
            return Purchases.joined([self, other])
        return self.rows() + list(other)

    def __radd__(self, other: Sequence[Purchase]) -> list[Purchase]:
        return list(other) + self.rows()

    def __repr__(self) -> str:
        return f"Purchases({self.rows()!r})"

    def rows(self) -> list[Purchase]:
        """A :class:`Purchase` per item, built once (the readers that need objects)."""
        if self._rows is None:
            self._rows = [Purchase(*fields) for fields in self.fields()]
        return self._rows

    def fields(self) -> Iterator[tuple[Any, ...]]:
        """Per item, its :class:`Purchase` fields in order (scores as :func:`purchase_scores`)."""
        columns = [getattr(self, name) for name in COLUMNS]
        columns[5] = [purchase_scores(s) for s in self.scores]
        return zip(*columns, strict=True)

    def dicts(self) -> list[dict[str, Any]]:
        """Per item, its fields by name (what a wire message of a purchase is made of)."""
        names = [name for name in Purchase.__dataclass_fields__]
        return [dict(zip(names, fields, strict=True)) for fields in self.fields()]
