"""A worker killed without warning: its successor rebuilds budget, labels and model from the
topics, keeps the model versions going up and never buys an item twice or beyond the budget."""

from __future__ import annotations

import json
import signal
import time

import pytest

from stream_al.stream.messages import Event, ModelUpdate, parse
from tests.stream.harness import (
    Worker,
    answer_ag,
    pipeline_config,
    produce_ag,
    read_topic,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka


def settled(read, quiet_s: float = 4.0, timeout_s: float = 60.0) -> list[str]:
    """``read()`` once it has stopped growing for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    last = read()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = read()
        if len(now) == len(last):
            return now
        last = now
    raise AssertionError(f"the selected topic kept growing for {timeout_s}s")


@pytest.mark.parametrize("served_rule", [None, "nll"])
def test_a_crashed_worker_is_replaced_without_losing_budget_labels_or_model(
    kafka_bootstrap, tmp_path, served_rule
):
    """With ``learner.served_rule`` the model on ``models`` holds the served head too, and the
    successor publishes the one it continues from, served head and all; without the rule
    there is none on the topic. Either way the successor continues the learner's l2 and search
    schedule (the snapshot's search state) and publishes them as it had them."""
    folds = {"cv_rule": "best"} if served_rule else {}  # a served rule picks from the folds
    config = pipeline_config(kafka_bootstrap, tmp_path,
                             learner={"served_rule": served_rule, **folds})
    topics = settings_of(config)["kafka"]["topics"]

    def selected() -> list[str]:
        return [
            json.loads(r.value)["item_id"]
            for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)
        ]

    def models() -> list[ModelUpdate]:
        return [
            parse(ModelUpdate, r.value)
            for r in read_topic(kafka_bootstrap, topics["models"], timeout_s=5)
        ]

    first = Worker(config, tmp_path / "first.log")
    try:
        assert (
            produce_ag(config, 300, "ag").returncode
            == 0
        )
        wait_for(lambda: len(selected()) >= 30, 60, "30 items bought")
        bought = settled(selected)  # the idle flush may still buy a few after the stream ends
        vendor = answer_ag(config, "ag", "--max-labels", str(len(bought)), "--max-idle", "10")
        assert vendor.returncode == 0, vendor.stderr
        before = wait_for(
            lambda: (m := models()) and m[-1].n_labels >= len(bought) and m[-1],
            120,
            "a model that learned every label",
        )
    finally:
        first.stop(signal.SIGKILL)
    last = models()[-1].to_snapshot()  # what the successor continues from

    with Worker(config, tmp_path / "second.log") as second:
        assert (
            produce_ag(config, 600, "ag").returncode
            == 0
        )  # 300 new rows
        restored = wait_for(
            lambda: [
                e
                for r in read_topic(kafka_bootstrap, topics["events"], timeout_s=5)
                if (e := parse(Event, r.value)).kind == "restored" and e.detail["selected"] > 0
            ],
            90,
            "the second worker to rebuild the coordinator",
        )[-1].detail
        assert restored["selected"] == len(bought)
        assert restored["labels"] == len(bought)
        assert restored["outstanding"] == 0
        assert restored["version"] == before.version + 1
        continued = [m for m in models() if m.version == last.version + 1][0].to_snapshot()
        assert last.search is not None and continued.search == last.search  # l2, its schedule
        if served_rule is None:
            assert last.served is None and continued.served is None
        else:
            assert continued.served.l2 == last.served.l2
            assert continued.served_model().fingerprint() == last.served_model().fingerprint()
        wait_for(
            lambda: second.metric("stream_al_stage_items_in_total", stage="select") >= 600 - 300,
            60,
            "the second worker to see the new texts",
        )
        after = wait_for(
            lambda: len(ids := selected()) > len(bought) and ids,
            60,
            "items bought after the restart",
        )
        assert len(after) == len(set(after)), "an item was bought twice"
        assert len(after) <= 0.1 * (300 + 600) + 4
        latest = models()[-1]
        assert latest.version > before.version and latest.n_labels >= before.n_labels
