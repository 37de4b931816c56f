"""Which offsets of ``selected`` a vendor may commit: those whose answers the broker acknowledged.

A vendor that commits a selected item's offset before its labels are on the labels topic loses
them if it dies in between (at most once): the group resumes after the item, and nobody
answers it. The reference vendor (``stream_al/stream/vendor.py``) commits only offsets below
every item still owing an answer, after the producer confirmed the answers sent (``flush``). A
crash then redelivers the items whose answers were not confirmed, and the vendor answers them
again: at least once, and idempotent by (item, annotator) because it answers an item with the
same annotators and labels every time (``Vendor.answer`` seeds by the item's id).

>>> offsets = AnsweredOffsets()
>>> offsets.received(0, 10, answers=2); offsets.received(0, 11, answers=0)
>>> offsets.committable()  # offset 10 still owes two answers: resume there
{0: 10}
>>> offsets.sent(0, 10); offsets.sent(0, 10); offsets.committable()
{0: 12}
"""

from __future__ import annotations

from collections import defaultdict


class AnsweredOffsets:
    """Per partition: the records still owing answers, and the next offset to commit."""

    def __init__(self) -> None:
        self._owing: dict[int, dict[int, int]] = defaultdict(dict)
        """partition -> offset -> answers not yet handed to the producer."""
        self._next: dict[int, int] = {}
        """partition -> one past the highest offset received."""
        self._committed: dict[int, int] = {}

    def received(self, partition: int, offset: int, answers: int) -> None:
        """The record at ``offset`` was read; it owes ``answers`` labels (0: nothing to send)."""
        if answers > 0:
            self._owing[partition][offset] = self._owing[partition].get(offset, 0) + answers
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def sent(self, partition: int, offset: int) -> None:
        """One answer of the record at ``offset`` was handed to the producer."""
        owing = self._owing[partition]
        left = owing.get(offset, 0) - 1
        if left > 0:
            owing[offset] = left
        else:
            owing.pop(offset, None)

    def committable(self) -> dict[int, int]:
        """Per partition, the offset to commit now, if it moved: below every record still
        owing answers. Call only after the producer confirmed what was sent (``flush``)."""
        out = {}
        for partition, end in self._next.items():
            owing = self._owing.get(partition)
            upto = min(owing) if owing else end
            if upto > self._committed.get(partition, -1):
                out[partition] = upto
        return out

    def committed(self, offsets: dict[int, int]) -> None:
        self._committed.update(offsets)

    def forget(self, partitions: set[int]) -> None:
        """Partitions revoked: another member resumes them from the last commit."""
        for p in partitions:
            self._owing.pop(p, None)
            self._next.pop(p, None)
            self._committed.pop(p, None)
