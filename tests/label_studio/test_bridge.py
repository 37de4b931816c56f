"""The bridge against a real Label Studio server and a real broker, with a worker learning.

One worker and one bridge serve the module (fresh topics, projects of their own); AG News rows
are the texts (ids ls-<row>), and annotations are made through Label Studio's REST API as a
user's browser makes them.
"""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest

from stream_al.stream.messages import Event, ExpertRequest, SelectedItem, parse
from tests.label_studio.harness import CLASSES, gold_of
from tests.stream.harness import read_topic, send_raw, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.label_studio]


def item_ids_of(tasks: list[dict]) -> list[str]:
    return [t["data"]["item_id"] for t in tasks]


def test_each_selected_item_becomes_one_task_with_its_overlap(stack):
    selected = wait_for(lambda: len(s := stack.selected()) >= 10 and s, 120, "selected items")
    ids = {i.item_id for i in selected}
    tasks = wait_for(lambda: stack.tasks_cover(ids), 60, "a task for every selected item")
    assert Counter(item_ids_of(tasks)).most_common(1)[0][1] == 1
    # the worker keeps selecting: read `selected` again, after the tasks, so that it holds
    # every item a task was made for (a task is made only for an item already on the topic)
    asked = {i.item_id: i.annotators for i in stack.selected()}
    assert set(item_ids_of(tasks)) <= set(asked)
    assert all(t["overlap"] == asked[t["data"]["item_id"]] for t in tasks)
    project = stack.user.project(stack.project)
    assert "<Choice value=\"Sports\"/>" in project["label_config"]
    wait_for(lambda: stack.bridge.metric("stream_al_bridge_tasks_created_total", project="items")
             == len(stack.tasks()), 60, "the bridge's task count to match the project's tasks")


def test_a_redelivered_item_makes_no_second_task(stack):
    records = read_topic(stack.bootstrap, stack.topics["selected"], timeout_s=5)
    before = wait_for(lambda: stack.tasks_cover({parse(SelectedItem, r.value).item_id
                                                 for r in records}),
                      60, "tasks for the items selected so far")
    created = stack.bridge.metric("stream_al_bridge_tasks_created_total", project="items")
    probe = SelectedItem(**{**json.loads(records[0].value), "item_id": "probe-redelivery"})
    send_raw(stack.bootstrap, stack.topics["selected"],
             [(r.key, r.value) for r in records] + [(b"probe-redelivery", probe.to_bytes())])
    wait_for(lambda: stack.tasks_cover({"probe-redelivery"}), 60, "the probe's task")
    wait_for(lambda: stack.bridge.metric("stream_al_bridge_selected_lag") == 0, 30,
             "the bridge to read every redelivered record")
    after = stack.tasks()
    assert Counter(item_ids_of(after)).most_common(1)[0][1] == 1
    assert len(after) == len(before) + 1
    assert stack.bridge.metric("stream_al_bridge_tasks_created_total", project="items") \
        == created + 1


def test_annotations_become_labels_once_and_move_the_model(stack):
    gold = gold_of("ls")
    me = stack.user.whoami()
    before = stack.model()
    tasks = [t for t in stack.tasks() if t["data"]["item_id"] in gold and not t["annotations"]]
    assert len(tasks) >= 10
    tasks = tasks[:8]  # the others stay unlabelled for the tests that follow (change, skip)
    for task in tasks:
        stack.user.annotate(task["id"], gold[task["data"]["item_id"]])
    mine = f"label-studio/{me}"
    want = {t["data"]["item_id"] for t in tasks}
    labels = wait_for(lambda: stack.labels_covering(want, mine), 60,
                      "a label for every annotation")
    ours = [(x.item_id, x.annotator_id) for x in labels if x.annotator_id == mine]
    assert len(ours) == len(set(ours))
    assert all(x.label == gold[x.item_id] for x in labels if x.item_id in want)
    model = wait_for(lambda: (m := stack.model()) and m.n_labels >= len(want)
                     and m.version > (before.version if before else -1) and m,
                     120, "a model version that learned the annotations")
    assert set(CLASSES) & set(model.classes)


def test_a_changed_answer_is_sent_once_and_the_first_one_stands(stack):
    gold = gold_of("ls")
    me = f"label-studio/{stack.user.whoami()}"
    task = wait_for(lambda: next((t for t in stack.tasks() if t["data"]["item_id"] in gold
                                  and not t["annotations"]), None), 60, "a task to label")
    item_id, first = task["data"]["item_id"], gold[task["data"]["item_id"]]
    second = next(c for c in CLASSES if c != first)
    annotation = stack.user.annotate(task["id"], first)
    wait_for(lambda: stack.labels_covering({item_id}, me), 60, "the first answer")
    stack.user.change(annotation["id"], second)

    def answers() -> list[str] | None:
        got = [x.label for x in stack.labels() if x.item_id == item_id and x.annotator_id == me]
        return got if len(got) >= 2 else None

    assert wait_for(answers, 60, "the changed answer") == [first, second]

    def changed():
        records = read_topic(stack.bootstrap, stack.topics["events"], timeout_s=5)
        return [e for r in records if isinstance(e := parse(Event, r.value), Event)
                and e.kind == "answer_changed" and item_id in e.item_ids]

    wait_for(changed, 60, "the worker's answer_changed event (the first answer stands)")


def test_a_skipped_task_is_an_event(stack):
    task = next(t for t in stack.tasks() if not t["annotations"])
    stack.user.skip(task["id"])
    item_id = task["data"]["item_id"]

    def skipped():
        records = read_topic(stack.bootstrap, stack.topics["events"], timeout_s=5)
        events = [e for r in records if isinstance(e := parse(Event, r.value), Event)]
        return [e for e in events if e.kind == "annotation_skipped" and item_id in e.item_ids]

    (event,) = wait_for(skipped, 60, "an annotation_skipped event")
    assert event.detail["source"] == "label-studio"


def test_an_expert_request_becomes_a_task_in_the_expert_project(stack):
    request = ExpertRequest(schema_version=1, item_id="ls-1999", text="Expert, please",
                            reason="disagreement", votes={"Sports": 1, "World": 1},
                            annotators={"a/1": "Sports", "a/2": "World"}, best_label="World",
                            confidence=0.5, at=1.0)
    send_raw(stack.bootstrap, stack.topics["expert"], [(b"ls-1999", request.to_bytes())])
    (task,) = wait_for(lambda: [t for t in stack.tasks(expert=True)
                                if t["data"]["item_id"] == "ls-1999"], 60, "the expert task")
    assert task["predictions"][0]["result"][0]["value"]["choices"] == ["World"]


def test_a_bridge_killed_and_restarted_loses_and_duplicates_nothing(stack):
    template = json.loads(read_topic(stack.bootstrap, stack.topics["selected"],
                                     timeout_s=5)[0].value)
    ids = [f"kill-{n}" for n in range(40)]
    items = [SelectedItem(**{**template, "item_id": i, "priority": n / 40})
             for n, i in enumerate(ids)]
    created = stack.bridge.metric("stream_al_bridge_tasks_created_total", project="items")
    send_raw(stack.bootstrap, stack.topics["selected"],
             [(i.item_id.encode(), i.to_bytes()) for i in items[:20]])
    wait_for(lambda: stack.bridge.metric("stream_al_bridge_tasks_created_total",
                                         project="items") > created, 60, "some new tasks")
    send_raw(stack.bootstrap, stack.topics["selected"],
             [(i.item_id.encode(), i.to_bytes()) for i in items[20:]])
    stack.bridge.stop(signal.SIGKILL)
    # annotated while the bridge is down: relayed after the restart, once
    gold = gold_of("ls")
    waiting = [t for t in stack.tasks() if t["data"]["item_id"] in gold and not t["annotations"]]
    for task in waiting[:3]:
        stack.user.annotate(task["id"], gold[task["data"]["item_id"]])
    stack.start_bridge()
    tasks = wait_for(lambda: stack.tasks_cover(set(ids)), 90, "a task for every item")
    assert Counter(item_ids_of(tasks)).most_common(1)[0][1] == 1
    me = f"label-studio/{stack.user.whoami()}"
    want = {t["data"]["item_id"] for t in waiting[:3]}
    labels = wait_for(lambda: stack.labels_covering(want, me), 60,
                      "the labels made while the bridge was down")
    ours = [(x.item_id, x.annotator_id) for x in labels  # (a changed answer earlier is two)
            if x.annotator_id == me and x.item_id in want]
    assert len(ours) == len(set(ours))
    # after a restart, nothing already sent is sent again
    wait_for(lambda: stack.bridge.metric("stream_al_bridge_selected_lag") == 0, 30, "no lag")
    assert stack.bridge.metric("stream_al_bridge_annotations_relayed_total", project="items",
                               outcome="label") == len(want)


def test_a_label_studio_restart_loses_and_duplicates_no_task(stack):
    template = json.loads(read_topic(stack.bootstrap, stack.topics["selected"],
                                     timeout_s=5)[0].value)
    ids = [f"restart-{n}" for n in range(10)]
    stack.server.stop()
    try:
        send_raw(stack.bootstrap, stack.topics["selected"],
                 [(i.encode(), SelectedItem(**{**template, "item_id": i}).to_bytes())
                  for i in ids])
        wait_for(lambda: stack.bridge.metric("stream_al_bridge_errors_total") > 0, 60,
                 "the bridge to notice Label Studio is down")
    finally:
        stack.server.start()
    tasks = wait_for(lambda: stack.tasks_cover(set(ids)), 120, "a task for every item")
    assert Counter(item_ids_of(tasks)).most_common(1)[0][1] == 1
    assert stack.bridge.process.poll() is None
