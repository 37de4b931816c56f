"""Whether this worker may act as the coordinator now: the rules of a handover, without Kafka.

Three things move ownership, and the shell (``stream/coordinating.py``) reports each:

- the group *assigns* partitions (a new generation): the worker owns the coordinator role iff
  it got the ``control`` partition;
- the group *revokes* them (before any other worker gets them): the owner stops at once, even
  mid-way, so it never acts while another rebuilds;
- the broker *fences* the owner's producer: another worker claimed the role, typically while
  this one was paused past its session; the group has not told it yet (its next heartbeat
  will). It stops acting and waits for that next assignment. Only if none comes within
  ``patience_s`` was the fence not a handover (a transaction that outlived its timeout) and
  it may claim the role again.

A fourth thing is noticed rather than reported: the worker's own *stall*. A process frozen
longer than the group's session (plus a heartbeat) has been dropped from the group, whatever
it still believes: it acts as fenced until the next assignment, so that it never claims the
role (fencing the rightful owner) on the strength of an assignment that is gone. The shell
calls :meth:`Ownership.tick` often; a gap longer than ``stall_s`` between two ticks is a stall.

A control record in hand is never acknowledged unacted while the partition is still this
worker's in a generation the group still counts it in (:meth:`Ownership.turn`): its commit
would then be accepted and nobody would ever act on it. A fenced owner therefore holds the
record (``WAIT``) until the group drops it (its commits are refused from then on, and the
next owner reads the record again: ``LEAVE``), the partition moves (``LEAVE``), or the
patience runs out (``ACT``: the fence was not a handover).

An owner whose partition is revoked and then given back keeps its coordinator only if nobody
held the role in between: it claims again, and :func:`continues` compares the epochs.

Each claim is counted (:attr:`Ownership.claims`); the broker's epoch of the claim rises with
each one (``stream/fencing.py``).

>>> o = Ownership(patience_s=30.0)
>>> o.assigned(holds_control=True); o.may_act(now=0.0)
True
>>> o.fenced(now=5.0); o.may_act(now=6.0)
False
>>> o.turn(6.0, in_group=lambda: True), o.turn(6.0, in_group=lambda: False)  # hold or leave it
('wait', 'leave')
>>> o.may_act(now=35.0)  # no new assignment came: the fence was not a handover
True
>>> o.fenced(now=40.0); o.revoked(); o.assigned(holds_control=False); o.may_act(now=1e9)
False
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ACT, WAIT, LEAVE = "act", "wait", "leave"
Turn = Literal["act", "wait", "leave"]


@dataclass
class Ownership:
    patience_s: float
    """How long a fenced owner waits for the group's next assignment before it claims again
    (longer than the group's session timeout: a paused owner is told within that)."""
    holds_control: bool = False
    fenced_at: float | None = None
    generations: int = 0
    """Assignments seen (each rebalance of the group is one)."""
    claims: int = 0
    stall_s: float = float("inf")
    """A gap between two :meth:`tick` calls longer than this is a stall (a frozen process)."""
    last_tick: float | None = None

    def assigned(self, holds_control: bool) -> None:
        """A new assignment of the group: the fence of the last generation is history."""
        self.holds_control = holds_control
        self.fenced_at = None
        self.generations += 1

    def revoked(self) -> None:
        """The group takes the partitions back: stop before anyone else starts."""
        self.holds_control = False

    def fenced(self, now: float) -> None:
        """The broker refused this owner's producer epoch: another worker claimed the role."""
        if self.fenced_at is None:
            self.fenced_at = now

    def tick(self, now: float) -> bool:
        """The event loop is alive at ``now``; True when the gap since the last tick was a
        stall (then it acts as fenced until the next assignment)."""
        stalled = self.last_tick is not None and now - self.last_tick > self.stall_s
        self.last_tick = max(now, self.last_tick or now)
        if stalled and self.holds_control:
            self.fenced(now)
        return stalled

    def claimed(self) -> None:
        """This worker claimed the role (and fenced every earlier owner)."""
        self.claims += 1
        self.fenced_at = None

    def may_act(self, now: float) -> bool:
        """Whether to handle control records and run chores (rebuilding first if needed)."""
        if not self.holds_control:
            return False
        return self.fenced_at is None or now - self.fenced_at >= self.patience_s

    def turn(self, now: float, in_group: Callable[[], bool]) -> Turn:
        """What a control record in hand gets at ``now``: ``ACT`` on it; ``LEAVE`` it to its
        next owner (the partition is not this worker's, or the group dropped this worker,
        ``in_group()`` False: either way the commit of its offset is refused and the record is
        read again); or ``WAIT``: fenced while the partition is still this worker's in a
        generation the group still counts, where acknowledging it would commit an offset
        nobody acted on (a fence that was no handover would lose the record). ``in_group`` is
        asked only then: an owner acting, the usual case, never asks the group."""
        if self.may_act(now):
            return ACT
        if not self.holds_control or not in_group():
            return LEAVE
        return WAIT

    def patience_left(self, now: float) -> float:
        """Seconds until a fenced owner may act again (0 when not fenced)."""
        if self.fenced_at is None:
            return 0.0
        return max(0.0, self.fenced_at + self.patience_s - now)


def continues(last_epoch: int, epoch: int) -> bool:
    """Whether a claim of epoch ``epoch`` follows this worker's own last claim (``last_epoch``)
    with no other claim in between, so that its coordinator in memory is still current. Each
    claim raises the epoch by at least one (by two when it also aborts a transaction left
    open), so only ``last + 1`` proves that nobody else claimed; anything else, a wrap-around
    of the epoch included, means rebuilding from the topics.

    >>> continues(4, 5), continues(4, 6), continues(4, 0), continues(-1, 0)
    (True, False, False, False)
    """
    return last_epoch >= 0 and epoch == last_epoch + 1
