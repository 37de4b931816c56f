"""A selector's picks as columns: what the selection stack hands on, one entry per item.

At the coordinator's ceiling (issue 17) ~100 items are bought per record of 2,048 stream texts;
a frozen :class:`~stream_al.select.base.Selection` per pick, each with its own score dict, then
built again as a purchase, cost ~6 us of the ~3.3 us per stream text the coordinator may spend
(20 stream texts per purchase at a 5% budget). :class:`Selections` keeps each field as a list
and the scores as columns (:class:`ScoreRows`); the wrappers of the stack join and relabel
picks, the stage records them and :class:`~stream_al.loop.buying.Buying` buys them, all on the
columns. It is a :class:`~collections.abc.Sequence` of selections, equal to a list of the same
selections: a :class:`Selection` is built only for a reader that indexes or iterates it. A
selector may still return a list of selections (``Selections.of`` turns it into columns).

>>> import numpy as np
>>> from stream_al.score.batch import ScoredBatch
>>> batch = ScoredBatch(["a", "b", "c"], np.eye(3, dtype=np.float32),
...                     {"margin": np.array([0.1, 0.2, 0.3], dtype=np.float32)})
>>> picks = selections_of(batch, [2, 0], "balanced", "coverage", [0.5, 0.25])
>>> picks.item_ids, picks[0].scores, picks[1].priority
(['c', 'a'], {'margin': 0.3}, 0.25)
>>> from stream_al.select.base import selection_of
>>> picks == [selection_of(batch, 2, "balanced", "coverage", 0.5),
...           selection_of(batch, 0, "balanced", "coverage", 0.25)]
True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any, Generic, TypeVar, overload

import numpy as np

from stream_al.score.batch import ScoredBatch
from stream_al.select.base import Selection, rounded_many

T = TypeVar("T")


class ScoreRows(Sequence[dict[str, float]]):
    """Each row's scores, as columns: blocks of consecutive rows that share their score names
    (``(names, values, size)``: ``values`` a list per name with a value for each of the block's
    ``size`` rows). Row ``i``'s dict holds its block's names, in order."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: list[tuple[list[str], list[list[float]], int]]) -> None:
        self.blocks = blocks

    @classmethod
    def of_dicts(cls, rows: Sequence[dict[str, float]]) -> ScoreRows:
        """Of one dict per row (consecutive rows with the same names share a block)."""
        blocks = []
        for names, run in groupby(rows, key=lambda d: tuple(d)):
            dicts = list(run)
            blocks.append((list(names), [[d[k] for d in dicts] for k in names], len(dicts)))
        return cls(blocks)

    @classmethod
    def joined(cls, parts: Sequence[ScoreRows]) -> ScoreRows:
        return cls([b for p in parts for b in p.blocks])

    def __len__(self) -> int:
        return sum(size for _, _, size in self.blocks)

    @overload
    def __getitem__(self, i: int) -> dict[str, float]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, float]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, float] | list[dict[str, float]]:
        if isinstance(i, slice):
            return self.dicts()[i]
        if i < 0:
            i += len(self)
        for names, values, size in self.blocks:
            if 0 <= i < size:
                return {k: v[i] for k, v in zip(names, values, strict=True)}
            i -= size
        raise IndexError("score row out of range")

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.dicts())

    def dicts(self) -> list[dict[str, float]]:
        """A dict per row, in order."""
        return [dict(zip(names, row, strict=False))  # every row has a value per name
                for names, values, size in self.blocks
                for row in (zip(*values, strict=True) if values else [()] * size)]

    def subset(self, rows: Sequence[int]) -> ScoreRows:
        """Rows ``rows``, in that order."""
        where = [(b, j) for b, (_, _, size) in enumerate(self.blocks) for j in range(size)]
        blocks = []
        for b, run in groupby(rows, key=lambda r: where[r][0]):
            local = [where[r][1] for r in run]
            names, values, _ = self.blocks[b]
            blocks.append((list(names), [[v[j] for j in local] for v in values], len(local)))
        return ScoreRows(blocks)

    def lacks(self, name: str) -> bool:
        """Some row has no score ``name``."""
        return any(name not in names for names, _, size in self.blocks if size)

    def set_default(self, name: str, rows: Sequence[int], values: list[float]) -> None:
        """``dict.setdefault(name, value)`` on each of ``rows`` with its value: rows whose
        block lacks ``name`` get it (last); a block only some of ``rows`` fall in is split."""
        given = dict(zip(rows, values, strict=True))
        blocks, start = [], 0
        for names, columns, size in self.blocks:
            first, start = start, start + size
            if name in names:
                blocks.append((names, columns, size))
                continue
            for has, run in groupby(range(size), key=lambda j, f=first: f + j in given):
                local = list(run)
                part = (columns if len(local) == size
                        else [[c[j] for j in local] for c in columns])
                if has:
                    part = [*part, [given[first + j] for j in local]]
                blocks.append(([*names, name] if has else names, part, len(local)))
        self.blocks = blocks


class RowObjects(Sequence[T], Generic[T]):
    """Columns (one list per field, ``item_ids`` among them) read as a sequence of row
    objects, built once when a reader indexes or iterates them (:meth:`rows`); equal to a
    list of the same objects."""

    __slots__ = ()
    item_ids: list[str]

    def rows(self) -> list[T]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.item_ids)

    @overload
    def __getitem__(self, n: int) -> T: ...

    @overload
    def __getitem__(self, n: slice) -> list[T]: ...

    def __getitem__(self, n: int | slice) -> T | list[T]:
        return self.rows()[n]

    def __iter__(self) -> Iterator[T]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self.rows() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns


class Selections(RowObjects[Selection]):
    """Picks, one entry per item in each column; ``X`` holds the embeddings of the rows that
    have one (``embedded``: which; None when every row has one, or none does and ``X`` is
    None)."""

    __slots__ = ("item_ids", "strategies", "reasons", "priorities", "costs", "groups",
                 "scores", "X", "embedded", "_rows")

    def __init__(self, item_ids: list[str], strategies: list[str], reasons: list[str],
                 priorities: list[float], costs: list[float], groups: list[int],
                 scores: ScoreRows, X: np.ndarray | None,
                 embedded: np.ndarray | None = None) -> None:
        n = len(item_ids)
        for name, column in (("strategies", strategies), ("reasons", reasons),
                             ("priorities", priorities), ("costs", costs), ("groups", groups),
                             ("scores", scores)):
            if len(column) != n:
                raise ValueError(f"column {name} has {len(column)} entries, not {n}")
        self.item_ids, self.strategies, self.reasons = item_ids, strategies, reasons
        self.priorities, self.costs, self.groups = priorities, costs, groups
        self.scores, self.X, self.embedded = scores, X, embedded
        self._rows: list[Selection] | None = None

    @classmethod
    def none(cls) -> Selections:
        return cls([], [], [], [], [], [], ScoreRows([]), None)

    @classmethod
    def of(cls, picks: Sequence[Selection]) -> Selections:
        """``picks`` as columns (themselves, if they are :class:`Selections`)."""
        if isinstance(picks, Selections):
            return picks
        if not picks:
            return cls.none()
        vectors = [s.embedding for s in picks if s.embedding is not None]
        mask = np.array([s.embedding is not None for s in picks])
        return cls([s.item_id for s in picks], [s.strategy for s in picks],
                   [s.reason for s in picks], [s.priority for s in picks],
                   [s.cost for s in picks], [s.group for s in picks],
                   ScoreRows.of_dicts([s.scores for s in picks]),
                   np.stack(vectors) if vectors else None,
                   None if mask.all() or not vectors else mask)

    @classmethod
    def joined(cls, parts: Sequence[Sequence[Selection]]) -> Selections:
        """``parts`` one after the other (lists of selections are turned into columns)."""
        cols = [cls.of(p) for p in parts]
        cols = [c for c in cols if len(c)] or [cls.none()]
        if len(cols) == 1:
            return cols[0]
        with_x = [c.X for c in cols if c.X is not None]
        masks = [c.has_embedding() for c in cols]
        mask = np.concatenate(masks)
        return cls([v for c in cols for v in c.item_ids], [v for c in cols for v in c.strategies],
                   [v for c in cols for v in c.reasons], [v for c in cols for v in c.priorities],
                   [v for c in cols for v in c.costs], [v for c in cols for v in c.groups],
                   ScoreRows.joined([c.scores for c in cols]),
                   np.concatenate(with_x) if with_x else None,
                   None if mask.all() or not with_x else mask)

    def has_embedding(self) -> np.ndarray:
        """Per row, whether it has an embedding."""
        if self.embedded is not None:
            return self.embedded
        return np.full(len(self), self.X is not None, dtype=bool)

    def embedded_rows(self) -> list[int]:
        """The rows that have an embedding (``X``'s rows are theirs, in order)."""
        if self.X is None:
            return []
        if self.embedded is None:
            return list(range(len(self)))
        return np.flatnonzero(self.embedded).tolist()

    def subset(self, rows: Sequence[int]) -> Selections:
        """Rows ``rows``, in that order."""
        if len(rows) == len(self) and all(r == i for i, r in enumerate(rows)):
            return self
        X, embedded = None, None
        if self.X is not None:
            has = self.has_embedding()
            at = np.cumsum(has) - 1  # each embedded row's row of X
            idx = np.asarray(rows, dtype=np.int64)
            kept = has[idx]
            X = self.X[at[idx[kept]]] if kept.any() else None
            embedded = None if kept.all() or X is None else kept
        return Selections([self.item_ids[r] for r in rows], [self.strategies[r] for r in rows],
                          [self.reasons[r] for r in rows], [self.priorities[r] for r in rows],
                          [self.costs[r] for r in rows], [self.groups[r] for r in rows],
                          self.scores.subset(rows), X, embedded)

    def relabelled(self, strategy: str, reason: str) -> Selections:
        """The same picks, each with ``strategy`` and ``reason`` (a wrapper's own draws)."""
        n = len(self)
        return Selections(self.item_ids, [strategy] * n, [reason] * n, self.priorities,
                          self.costs, self.groups, self.scores, self.X, self.embedded)

    def set_default_score(self, name: str, rows: Sequence[int], values: list[float]) -> None:
        """``scores.setdefault(name, value)`` of each of ``rows`` (ascending)."""
        self.scores.set_default(name, rows, values)
        self._rows = None

    # ---- a Sequence[Selection] ------------------------------------------------------------
    def __add__(self, other: Sequence[Selection]) -> Selections:
        return Selections.joined([self, other])

    def __radd__(self, other: Sequence[Selection]) -> Selections:
        return Selections.joined([other, self])

    def __repr__(self) -> str:
        return f"Selections({self.rows()!r})"

    def rows(self) -> list[Selection]:
        """A :class:`Selection` per pick, built once (the readers that need objects)."""
        if self._rows is None:
            vectors: list[Any] = [None] * len(self)
            if self.X is not None:
                for r, x in zip(self.embedded_rows(), self.X, strict=True):
                    vectors[r] = x
            self._rows = [Selection(*fields) for fields in zip(
                self.item_ids, self.strategies, self.reasons, self.priorities, self.costs,
                self.groups, self.scores.dicts(), vectors, strict=True)]
        return self._rows

    def row(self, i: int) -> Selection:
        """Pick ``i`` alone (its embedding and scores read from the columns)."""
        if self._rows is not None:
            return self._rows[i]
        embedding = None
        if self.X is not None:
            if self.embedded is None:
                embedding = self.X[i]
            elif self.embedded[i]:
                embedding = self.X[int(np.count_nonzero(self.embedded[:i]))]
        return Selection(self.item_ids[i], self.strategies[i], self.reasons[i],
                         self.priorities[i], self.costs[i], self.groups[i], self.scores[i],
                         embedding)


def selections_of(batch: ScoredBatch, rows: Sequence[int], strategy: str, reason: str,
                  priorities: Sequence[float], groups: Sequence[int] | None = None,
                  ) -> Selections:
    """Rows ``rows`` of ``batch`` as picks, reading every score column once (each row's
    scores rounded as :func:`~stream_al.select.base.selection_of` rounds them)."""
    n = len(rows)
    if not n:
        return Selections.none()
    idx = np.asarray(rows, dtype=np.int64)
    names = list(batch.scores)
    values = [rounded_many(v[idx]) for v in batch.scores.values()]  # a column at a time
    ids = batch.ids
    return Selections(
        [ids[i] for i in idx.tolist()], [strategy] * n, [reason] * n,
        np.asarray(priorities, dtype=np.float64).tolist(),
        np.asarray(batch.costs[idx], dtype=np.float64).tolist(),
        [0] * n if groups is None else np.asarray(groups, dtype=np.int64).tolist(),
        ScoreRows([(names, values, n)]), batch.X[idx])

