"""The cap on new classes: never more than ``per_hour`` in any hour, nor ``max_classes`` in all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream_al.labels import Label
from stream_al.loop.class_gate import HOUR_S, ClassGate


def said(name: str, i: int = 0) -> Label:
    return Label(f"i-{i}", name, "a", 0.0)


def test_2000_invented_classes_admit_only_the_hours_cap():
    gate = ClassGate(per_hour=25)
    kept, refused = gate.admit_many([said(f"junk-{i}", i) for i in range(2000)], set(), now=0.0)
    assert len({x.label for x in kept}) == 25
    assert len(refused) == 1975
    assert {r.reason for _, r in refused} == {"class_cap"}


def test_known_and_configured_classes_always_pass():
    gate = ClassGate(per_hour=0, allowed=["Sports"])
    kept, refused = gate.admit_many([said("World"), said("Sports"), said("New")], {"World"}, 0.0)
    assert [x.label for x in kept] == ["World", "Sports"]
    assert [x.label for x, _ in refused] == ["New"]


def test_the_cap_frees_up_an_hour_later():
    gate = ClassGate(per_hour=1)
    assert gate.admit_many([said("a")], set(), 0.0)[0]
    assert not gate.admit_many([said("b")], set(), HOUR_S - 1)[0]
    assert gate.admit_many([said("b")], set(), HOUR_S + 1)[0]


def test_never_more_than_max_classes_in_all():
    gate = ClassGate(per_hour=10, max_classes=3)
    kept, _ = gate.admit_many([said(c) for c in "abcde"], {"x"}, 0.0)
    assert [x.label for x in kept] == ["a", "b"]


@given(st.lists(st.tuples(st.floats(0, 5 * HOUR_S), st.integers(0, 60)), max_size=200),
       st.integers(0, 5))
def test_no_hour_ever_admits_more_than_the_cap(arrivals, per_hour):
    gate = ClassGate(per_hour=per_hour)
    firsts = []
    for now, c in sorted(arrivals):
        kept, _ = gate.admit_many([said(f"c{c}")], set(), now)
        if kept and f"c{c}" not in {n for _, n in firsts}:
            firsts.append((now, f"c{c}"))
    for start, _ in firsts:
        assert sum(start <= t < start + HOUR_S for t, _ in firsts) <= per_hour
