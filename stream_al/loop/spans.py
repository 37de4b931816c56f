"""Which stream texts a record of candidates stands for: per texts partition, a span of offsets.

A scorer that forwards only candidates (stream_al.select.preselect) still reports every text it
saw, as one :class:`Span` per texts partition of its batch. The coordinator counts in the
budget's ``seen`` only the texts at offsets it has not counted before (a batch redelivered after
a worker crashed is not counted twice), so the ledger stays exact and system-wide.

>>> counted = {0: 9}
>>> new_in_spans(counted, [Span(0, 5, 14, 10), Span(1, 0, 3, 4)])
9
>>> counted
{0: 14, 1: 3}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """``count`` texts at offsets ``first`` .. ``last`` of texts partition ``partition``."""

    partition: int
    first: int
    last: int
    count: int


def spans_of(sources: Iterable[tuple[int, int]]) -> list[Span]:
    """One span per partition of the (partition, offset) of a batch's texts."""
    by: dict[int, list[int]] = {}
    for p, o in sources:
        by.setdefault(p, []).append(o)
    return [Span(p, min(o), max(o), len(o)) for p, o in sorted(by.items())]


def new_in_spans(counted: dict[int, int], spans: Sequence[Span]) -> int:
    """Texts of ``spans`` above the last offset ``counted`` per partition (a span that overlaps
    it counts its new share, as if its offsets were evenly spread); ``counted`` moves on."""
    new = 0
    for s in spans:
        last = counted.get(s.partition, -1)
        if s.last <= last:
            continue
        if s.first > last:
            new += s.count
        else:
            new += round(s.count * (s.last - last) / (s.last - s.first + 1))
        counted[s.partition] = s.last
    return new
