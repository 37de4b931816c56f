"""When a worker may act as the coordinator: assignments, revocations and fences."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_al.loop.ownership import ACT, LEAVE, WAIT, Ownership, continues


def test_a_worker_acts_only_once_the_group_gave_it_the_control_partition():
    o = Ownership(patience_s=30.0)
    assert not o.may_act(now=0.0)
    o.assigned(holds_control=False)
    assert not o.may_act(now=0.0)
    o.assigned(holds_control=True)
    assert o.may_act(now=0.0)


def test_a_revoked_owner_stops_at_once_before_the_next_assignment():
    o = Ownership(patience_s=30.0)
    o.assigned(holds_control=True)
    o.revoked()
    assert not o.may_act(now=0.0)
    assert not o.may_act(now=1e9)


def claimed_owner() -> Ownership:
    o = Ownership(patience_s=30.0)
    o.assigned(holds_control=True)
    o.claimed()
    return o


def fenced_owner(now: float = 100.0) -> Ownership:
    """An owner that claimed the role and was then fenced at ``now``."""
    o = claimed_owner()
    o.fenced(now=now)
    return o


def test_a_fenced_owner_waits_for_the_groups_next_assignment():
    o = fenced_owner()
    assert not o.may_act(now=100.0)
    assert not o.may_act(now=129.9)
    o.assigned(holds_control=False)  # the partition moved while it was paused
    assert not o.may_act(now=200.0)


def test_a_fenced_owner_given_the_partition_again_acts_at_once():
    o = fenced_owner()
    o.assigned(holds_control=True)
    assert o.may_act(now=100.5)


def test_a_fence_without_a_handover_lets_the_owner_claim_again_after_its_patience():
    o = fenced_owner()
    assert o.may_act(now=130.0)
    o.claimed()
    assert o.claims == 2 and o.fenced_at is None


def test_a_second_fence_does_not_restart_the_patience():
    o = fenced_owner()
    o.fenced(now=120.0)
    assert o.may_act(now=130.0)


def test_a_fenced_owner_holds_a_record_while_the_partition_is_still_its_own():
    o = fenced_owner()
    # acknowledging it now would commit an offset nobody acted on: the group still counts
    # this worker in the generation that gave it the partition
    assert o.turn(now=100.0, in_group=lambda: True) == WAIT
    assert o.patience_left(now=110.0) == 20.0


def test_a_fenced_owner_leaves_the_record_once_the_group_dropped_it_or_moved_the_partition():
    dropped = fenced_owner()
    assert dropped.turn(now=101.0, in_group=lambda: False) == LEAVE  # its commit is refused now
    moved = fenced_owner()
    moved.revoked()
    assert moved.turn(now=101.0, in_group=lambda: True) == LEAVE


def test_a_fenced_owner_acts_on_the_record_it_held_once_its_patience_ran_out():
    o = fenced_owner()
    assert o.turn(now=130.0, in_group=lambda: True) == ACT
    assert o.patience_left(now=130.0) == 0.0


def test_an_owner_acting_does_not_ask_the_group():
    def ask() -> bool:
        raise AssertionError("asked")

    assert claimed_owner().turn(now=0.0, in_group=ask) == ACT


def test_a_worker_that_never_held_the_partition_leaves_every_record():
    o = Ownership(patience_s=30.0)
    o.assigned(holds_control=False)
    assert o.turn(now=0.0, in_group=lambda: True) == LEAVE


def test_an_owner_given_the_partition_back_keeps_its_coordinator_only_if_nobody_claimed():
    assert continues(last_epoch=7, epoch=8)
    assert not continues(last_epoch=7, epoch=9)  # another claim, or an abort, in between
    assert not continues(last_epoch=32766, epoch=0)  # the epoch wrapped: a new producer id
    assert not continues(last_epoch=-1, epoch=0)  # never claimed: nothing to keep


def test_an_owner_frozen_past_its_session_acts_as_fenced_until_the_next_assignment():
    o = Ownership(patience_s=30.0, stall_s=11.0)
    o.assigned(holds_control=True)
    assert not o.tick(now=0.0) and not o.tick(now=5.0)
    assert o.tick(now=17.0)  # SIGSTOP, a VM freeze, a long GC: the group has dropped it
    assert not o.may_act(now=17.0)
    o.revoked()
    o.assigned(holds_control=True)  # it rejoined and got the partition again
    assert o.may_act(now=18.0)


def test_ticks_within_the_session_change_nothing():
    o = Ownership(patience_s=30.0, stall_s=11.0)
    o.assigned(holds_control=True)
    assert not any(o.tick(now=t) for t in (0.0, 10.9, 21.8, 32.7))
    assert o.may_act(now=33.0)


EVENTS = st.lists(st.one_of(
    st.tuples(st.just("assigned"), st.booleans()),
    st.tuples(st.just("revoked"), st.none()),
    st.tuples(st.just("fenced"), st.floats(0, 1000)),
    st.tuples(st.just("claimed"), st.none()),
), max_size=30)


@given(EVENTS)
def test_never_acts_without_holding_the_control_partition(events):
    o = Ownership(patience_s=30.0)
    for kind, arg in events:
        if kind == "assigned":
            o.assigned(holds_control=arg)
        elif kind == "revoked":
            o.revoked()
        elif kind == "fenced":
            o.fenced(now=arg)
        else:
            o.claimed()
        if not o.holds_control:
            assert not o.may_act(now=1e12)
