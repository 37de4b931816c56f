"""When a worker may act as the coordinator: assignments, revocations and fences."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_al.loop.ownership import Ownership


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


def test_a_fenced_owner_waits_for_the_groups_next_assignment():
    o = claimed_owner()
    o.fenced(now=100.0)
    assert not o.may_act(now=100.0)
    assert not o.may_act(now=129.9)
    o.assigned(holds_control=False)  # the partition moved while it was paused
    assert not o.may_act(now=200.0)


def test_a_fenced_owner_given_the_partition_again_acts_at_once():
    o = claimed_owner()
    o.fenced(now=100.0)
    o.assigned(holds_control=True)
    assert o.may_act(now=100.5)


def test_a_fence_without_a_handover_lets_the_owner_claim_again_after_its_patience():
    o = claimed_owner()
    o.fenced(now=100.0)
    assert o.may_act(now=130.0)
    o.claimed()
    assert o.claims == 2 and o.fenced_at is None


def test_a_second_fence_does_not_restart_the_patience():
    o = claimed_owner()
    o.fenced(now=100.0)
    o.fenced(now=120.0)
    assert o.may_act(now=130.0)


def test_a_claim_from_before_the_current_assignment_fenced_means_claim_again_at_once():
    o = claimed_owner()
    o.revoked()  # paused: another worker claimed and acted meanwhile
    o.assigned(holds_control=True)  # and the partition came back
    o.fenced(now=100.0)  # the old claim's first write is refused
    assert o.may_act(now=100.0)


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
