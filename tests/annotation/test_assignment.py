"""Items get k annotators, more for a stable gold fraction and for items the model doubts."""

import numpy as np
import pytest

from stream_al.annotation.assignment import AssignmentPolicy
from stream_al.annotation.base import AnnotationSettings
from stream_al.select.base import Selection


def test_every_item_gets_k_annotators_by_default():
    policy = AssignmentPolicy(AnnotationSettings(annotators_per_item=2))
    assert {policy.assign_one(f"i{n}", 0.99).annotators for n in range(100)} == {2}


def test_the_gold_fraction_is_about_right_and_stable_across_restarts():
    settings = AnnotationSettings(gold_fraction=0.1, gold_annotators=3)
    ids = [f"item-{n}" for n in range(5000)]
    first = [AssignmentPolicy(settings, seed=4).assign_one(i) for i in ids]
    again = [AssignmentPolicy(settings, seed=4).assign_one(i) for i in ids]
    gold = [a for a in first if "gold" in a.reasons]
    assert first == again
    assert 0.08 < len(gold) / len(ids) < 0.12
    assert {a.annotators for a in gold} == {3}
    other_seed = [AssignmentPolicy(settings, seed=5).assign_one(i) for i in ids]
    assert other_seed != first


def test_low_confidence_items_get_extra_annotators_but_a_cold_model_adds_none():
    policy = AssignmentPolicy(AnnotationSettings(low_confidence=0.6, low_confidence_annotators=3))
    sel = [Selection(f"i{n}", "diverse", "diverse", 1.0, scores={"confidence": c})
           for n, c in enumerate((0.3, 0.59, 0.61, 0.0))]
    assert [a.annotators for a in policy.assign_many(sel)] == [3, 3, 1, 1]
    assert policy.assign_many(sel)[0].reasons == ("low_confidence",)


def test_annotators_are_picked_least_loaded_first_and_never_twice_for_an_item():
    policy = AssignmentPolicy(AnnotationSettings(annotators_per_item=2))
    pool = ["a", "b", "c"]
    picks = [policy.pick(policy.assign_one(f"i{n}"), pool) for n in range(3)]
    assert picks == [["a", "b"], ["c", "a"], ["b", "c"]]
    single = AssignmentPolicy(AnnotationSettings(annotators_per_item=1))
    assert single.pick(single.assign_one("i0"), pool, exclude={"a", "b"}) == ["c"]
    with pytest.raises(ValueError, match="grow the pool"):
        policy.pick(policy.assign_one("i0"), pool, exclude={"a", "b"})


def test_caps_that_contradict_the_counts_name_the_fix():
    with pytest.raises(ValueError, match="raise it or lower"):
        AnnotationSettings(gold_annotators=7, max_annotators=5)


def test_annotators_many_counts_as_assign_one_does_item_by_item():
    settings = AnnotationSettings(annotators_per_item=1, gold_fraction=0.2, gold_annotators=3,
                                  low_confidence=0.5, low_confidence_annotators=2,
                                  max_annotators=3)
    policy = AssignmentPolicy(settings, seed=7)
    ids = [f"i{n}" for n in range(400)]
    confidence = np.random.default_rng(0).uniform(0.0, 1.0, len(ids))
    confidence[::17] = 0.0
    one_by_one = [policy.assign_one(i, c).annotators for i, c in zip(ids, confidence, strict=True)]
    assert policy.annotators_many(ids, confidence).tolist() == one_by_one
    assert policy.annotators_many(ids).tolist() == [policy.assign_one(i).annotators for i in ids]
    assert len(set(one_by_one)) == 3
