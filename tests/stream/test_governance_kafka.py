"""Out-of-distribution texts on a running worker: bought for their own reason, capped, counted."""

from __future__ import annotations

import json

import pytest

from tests.stream.harness import (
    AG_NEWS,
    Worker,
    answer_ag,
    pipeline_config,
    read_topic,
    run_cli,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

BANKING = AG_NEWS.parent / "banking77.csv"


def test_texts_unlike_anything_labelled_are_bought_for_the_reason_ood(kafka_bootstrap, tmp_path):
    config = pipeline_config(
        kafka_bootstrap, tmp_path,
        embedder={"name": "static"},
        annotation={"learn_from": "labels"},
        drift={"response_items": 0},
        # The worker's plumbing of reason "ood" (wire, metric, cap), not the burst test
        # (tests/test_ood.py): with 30 labels on static vectors the banking texts are flagged
        # little more than the 5% base rate (in-process 7-10% of their first 300; the test
        # at 99.9%, 99% and once at 50% confidence bought none here), so every flag counts.
        ood={"min_labels": 20, "max_share": 0.3, "cap_window_items": 300,
             "burst_confidence": 0.0},
    )
    topics = settings_of(config)["kafka"]["topics"]

    def selected() -> list[dict]:
        return [json.loads(r.value)
                for r in read_topic(kafka_bootstrap, topics["selected"], timeout_s=5)]

    with Worker(config, tmp_path / "worker.log") as worker:
        assert run_cli("produce", "--config", str(config), "--data", str(AG_NEWS), "--limit",
                       "300", "--id-prefix", "ag").returncode == 0
        wait_for(lambda: len(selected()) >= 30, 90, "30 news items bought")
        vendor = answer_ag(config, "ag", "--max-labels", "30", "--max-idle", "10")
        assert vendor.returncode == 0, vendor.stderr
        wait_for(lambda: worker.metric("stream_al_labels_received_total", outcome="accepted")
                 >= 30, 60, "30 labels learned")
        assert not [s for s in selected() if s["reason"] == "ood"]  # nothing is OOD yet

        assert run_cli("produce", "--config", str(config), "--data", str(BANKING), "--limit",
                       "300", "--id-prefix", "bank").returncode == 0
        ood = wait_for(lambda: [s for s in selected() if s["reason"] == "ood"], 90,
                       "banking texts bought as OOD")
        assert all(s["item_id"].startswith("bank-") for s in ood)
        assert all(s["scores"]["ood_distance"] > 0 for s in ood)
        assert len(ood) <= 0.3 * 0.1 * (300 + 300) + 1e-9  # 300 texts' accrual + the cap held
        # counted once the ledger after the items is written: a moment after they are readable
        wait_for(lambda: worker.metric("stream_al_selected_items_total",
                                       strategy=ood[0]["strategy"], reason="ood") == len(ood),
                 10, f"the {len(ood)} OOD items counted in stream_al_selected_items_total")
        assert worker.metric("stream_al_ood_ratio") > 0
