"""The bridge's pure part: items -> tasks in labelling order, annotations -> labels."""

from __future__ import annotations

import pytest

from stream_al.label_studio.tasks import (
    Answer,
    ConfigMismatch,
    Guess,
    Skip,
    answer_of,
    classes_of,
    expert_task_of,
    labeling_config,
    merged_classes,
    ordered_many,
    task_of,
)
from stream_al.stream.messages import ExpertRequest, LabelIn, SelectedItem


def item(item_id: str, group: int = 0, priority: float = 0.0, annotators: int = 1,
         batch: str = "b1") -> SelectedItem:
    return SelectedItem(schema_version=1, item_id=item_id, text=f"text of {item_id}",
                        batch_id=batch, strategy="uncertainty", reason="uncertainty",
                        scores={"entropy": 0.9, "confidence": 0.41}, model_version=3,
                        deadline=2e9, cost=1.0, group=group, priority=priority,
                        annotators=annotators)


def annotation(choice: str | None = "sports", user: int = 7, cancelled: bool = False) -> dict:
    result = [] if choice is None else [{"from_name": "label", "to_name": "text",
                                          "type": "choices", "value": {"choices": [choice]}}]
    return {"id": 1, "completed_by": user, "was_cancelled": cancelled, "result": result}


def test_the_labelling_config_offers_the_classes_and_reads_back():
    classes = ["sports", "world", 'a "quoted" <class> & more']
    assert classes_of(labeling_config(classes)) == classes


def test_a_config_the_bridge_did_not_make_is_refused_with_the_fix():
    with pytest.raises(ConfigMismatch, match="project of its own"):
        classes_of('<View><Text name="text" value="$text"/>'
                   '<Choices name="sentiment" toName="text"/></View>')


def test_new_classes_are_appended_and_none_moves_or_vanishes():
    assert merged_classes(["b", "a"], ["a", "c", "b", "d"]) == ["b", "a", "c", "d"]
    assert merged_classes(["b", "a"], []) == ["b", "a"]


def test_items_of_a_group_are_adjacent_higher_priority_first():
    items = [item("x1", group=1, priority=0.2), item("y1", group=2, priority=0.9),
             item("x2", group=1, priority=0.5), item("y2", group=2, priority=0.1),
             item("z1", group=3, priority=0.5)]
    assert [i.item_id for i in ordered_many(items)] == ["y1", "y2", "x2", "x1", "z1"]


def test_a_redelivered_item_is_ordered_once():
    items = [item("a", priority=1.0), item("b"), item("a", priority=1.0)]
    assert [i.item_id for i in ordered_many(items)] == ["a", "b"]


def test_a_task_carries_the_item_its_overlap_and_the_models_guess():
    task = task_of(item("a-1", annotators=3), Guess("world", 0.62, 5))
    assert task["data"]["text"] == "text of a-1"
    assert task["data"]["item_id"] == "a-1"
    assert task["overlap"] == 3
    (prediction,) = task["predictions"]
    assert prediction["score"] == 0.62
    assert prediction["result"][0]["value"] == {"choices": ["world"]}
    assert "world (62%)" in task["data"]["hint"]


def test_without_a_model_a_task_has_no_pre_annotation_but_shows_the_confidence():
    task = task_of(item("a-1"))
    assert "predictions" not in task
    assert "model confidence 41%" in task["data"]["hint"]


def test_an_expert_task_shows_the_votes_and_the_adjudicated_label():
    request = ExpertRequest(schema_version=1, item_id="e", text="t", reason="disagreement",
                            votes={"a": 1, "b": 2}, annotators={"x": "a"}, best_label="b",
                            confidence=0.6, at=1.0)
    task = expert_task_of(request)
    assert task["data"]["hint"].startswith("disagreement; votes b: 2, a: 1")
    assert task["predictions"][0]["result"][0]["value"] == {"choices": ["b"]}


def test_an_annotation_is_a_label_from_the_namespaced_user():
    answer = answer_of(annotation("sports", user=7), "a-1", 5.0)
    assert answer == Answer("a-1", "7", "sports", 5.0)
    label = answer.label_in()
    assert isinstance(label, LabelIn)
    assert label.annotator_id == "label-studio/7"
    assert answer.label_in(prefix=None).annotator_id == "7"  # a vendor topic: the worker prefixes


def test_the_user_is_the_servers_not_a_name_in_the_result():
    expanded = {**annotation(), "completed_by": {"id": 9, "email": "mallory@x"}}
    assert answer_of(expanded, "a-1", 0.0).annotator == "9"


def test_a_cancelled_annotation_is_a_skip():
    assert answer_of(annotation(None, cancelled=True), "a-1", 1.0) == Skip("a-1", "7", 1.0)


def test_an_annotation_without_exactly_one_choice_says_nothing():
    assert answer_of(annotation(None), "a-1", 1.0) is None
    two = annotation()
    two["result"][0]["value"]["choices"] = ["a", "b"]
    assert answer_of(two, "a-1", 1.0) is None
    assert answer_of({**annotation(), "completed_by": None}, "a-1", 1.0) is None
