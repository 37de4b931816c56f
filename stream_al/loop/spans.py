"""Which stream texts a record stands for, and which of them were not counted before.

A scorer that forwards only candidates (stream_al.select.preselect) still reports every text it
saw, as one :class:`Span` per texts partition of its batch; a record of every text gives each
one's texts offset. The coordinator counts in the budget's ``seen`` only the texts at offsets it
has not counted before (a batch redelivered after a worker crashed is not counted twice), so the
ledger stays exact and system-wide: :func:`new_in_spans` for spans, :func:`new_at_offsets` for
texts. The drift monitor counts the candidates it reads; :func:`at_stream_positions` puts its
alarms back at stream positions.

>>> counted = {0: 9}
>>> new_in_spans(counted, [Span(0, 5, 14, 10), Span(1, 0, 3, 4)])
9
>>> counted
{0: 14, 1: 3}
>>> new_at_offsets(counted, [0, 0, 1], [14, 15, 4])
[1, 2]
>>> counted
{0: 15, 1: 4}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from stream_al.drift.base import DriftAlarm


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


def new_at_offsets(counted: dict[int, int], partitions: Sequence[int],
                   offsets: Sequence[int]) -> list[int]:
    """Positions of the texts at (``partitions``, ``offsets``) above the last offset
    ``counted`` per partition; ``counted`` moves on. A text redelivered to a scorer (a worker
    crashed before committing it) comes back with its texts offset: it is not counted twice.
    A text produced again has a new offset: it is counted again (and bought at most once)."""
    fresh = []
    for i, (p, o) in enumerate(zip(partitions, offsets, strict=True)):
        if o > counted.get(p, -1):
            counted[p] = o
            fresh.append(i)
    return fresh


def at_stream_positions(alarms: Sequence[DriftAlarm], first: int, weights: np.ndarray,
                        start: float, seen: float) -> list[DriftAlarm]:
    """Drift alarms raised among a batch of candidates, moved from the drift monitor's
    positions (it counts the candidates it reads: ``first``, ``first + 1``, ...) to stream
    positions: the ``seen`` stream texts the batch stands for follow the ``start`` counted
    before it, and each candidate sits after the texts the candidates before it stand for
    (``weights``, in proportion).

    >>> alarm = DriftAlarm("embedding_mmd", 0.4, 0.1, 102)
    >>> [a.position for a in at_stream_positions([alarm], 100, np.array([3.0, 3.0, 4.0]), 500, 20)]
    [512]
    """
    ahead = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64))])
    total = float(ahead[-1])
    out = []
    for alarm in alarms:
        j = min(max(alarm.position - first, 0), len(ahead) - 1)
        share = seen * float(ahead[j]) / total if total > 0 else 0.0
        out.append(replace(alarm, position=int(start + share)))
    return out
